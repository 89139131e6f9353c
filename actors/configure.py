"""The center's config as messages to its agent and queue actors, sent at every host start.

Configure messages are idempotent, so sending them again after a restart (or a config
change) simply brings the actors up to date without touching calls or agent states.
"""

from __future__ import annotations

from actors.agent.messages import AgentProfile, Configure
from actors.queue.messages import ConfigureQueue, OverflowRule, QueueConfig
from bus.message import Message
from conf.schema import Config
from conf.schema import QueueConfig as QueueSection

#: config target kinds a queue may overflow to, and what the queue actor calls them
OVERFLOW_KINDS = {"queue": "queue", "external": "external"}


class ConfigureError(ValueError):
    """The config asks for something the ACD cannot do; names the queue and key."""


def acd_messages(config: Config) -> list[tuple[str, Message]]:
    out: list[tuple[str, Message]] = []
    for q in config.queues:
        out.append((f"queue/{q.name}", ConfigureQueue(config=queue_config(q))))
    for a in config.agents:
        wrap = max((config.queue(name).wrap_up_s for name in a.queues), default=10.0)
        profile = AgentProfile(skills=dict(a.skills), group=a.queues[0] if a.queues else "default",
                               wrap_up_s=wrap)
        out.append((f"agent/{a.login}", Configure(profile=profile)))
    return out


def queue_config(q: QueueSection) -> QueueConfig:
    rules: list[OverflowRule] = []
    if q.overflow is not None:
        kind = OVERFLOW_KINDS.get(q.overflow.kind)
        if kind is None:
            allowed = ", ".join(sorted(OVERFLOW_KINDS))
            raise ConfigureError(f"queue[{q.name}].overflow: a queue overflows to {allowed}; "
                                 f"got {q.overflow}")
        rules.append(OverflowRule(when="max_wait", kind=kind, target=q.overflow.name,  # type: ignore[arg-type]
                                  threshold=q.max_wait_s))
        rules.append(OverflowRule(when="max_length", kind=kind, target=q.overflow.name,  # type: ignore[arg-type]
                                  threshold=float(q.max_length)))
    return QueueConfig(
        strategy=q.strategy,  # type: ignore[arg-type]  # validated by conf
        skills=dict(q.skills),
        priority=q.priority,
        overflow=tuple(rules),
        announce_every_s=q.announce_every_s,
        ring_timeout_s=q.no_answer_s,
    )
