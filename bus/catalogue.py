"""The catalogue of every message this build speaks: assembled from each room's message list.

A room that adds messages lists them in a module-level tuple and adds it here; the codec
refuses duplicate tags at start-up, so a clash is caught before any traffic.
"""

from __future__ import annotations

import importlib

from bus.codec import Catalogue, Codec
from bus.message import Message
from bus.system import SYSTEM_MESSAGES

# (module, tuple name) of each room's messages.
ROOMS: tuple[tuple[str, str], ...] = (
    ("actors.probe", "PROBE_MESSAGES"),
    ("bus.directory", "DIRECTORY_MESSAGES"),
    ("media.messages", "MEDIA_MESSAGES"),
    ("ivr.messages", "IVR_MESSAGES"),
    ("actors.agent", "AGENT_MESSAGES"),
    ("actors.queue", "QUEUE_MESSAGES"),
    ("actors.matcher", "MATCHER_MESSAGES"),
    ("stats.messages", "STATS_MESSAGES"),
    ("telephony.messages", "TELEPHONY_MESSAGES"),
    ("actors.call.messages", "CALL_MESSAGES"),
    ("actors.call.media_health", "MEDIA_HEALTH_MESSAGES"),
)


def all_messages() -> list[type[Message]]:
    classes: list[type[Message]] = list(SYSTEM_MESSAGES)
    for module, name in ROOMS:
        classes.extend(getattr(importlib.import_module(module), name))
    return classes


def default_codec() -> Codec:
    return Codec(Catalogue(all_messages()))
