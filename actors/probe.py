"""The probe actor: answers pings and counts what it is told.

Every actor host serves ``probe/<anything>``. Supervision asks it to prove a host *serves*
(not just that its process exists), and the bus benchmark uses it as the cheapest real actor.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from actors.effects import Effect, Reply
from bus.message import Message, message
from bus.system import Ping, Pong


@message("probe.state")
class ProbeState(Message):
    received: int = 0


@message("probe.count")
class ProbeCount(Message):
    """Ask the probe how many messages it has received."""

    CLIENT_ROLES: ClassVar[frozenset[str]] = frozenset({"admin"})


@message("probe.counted")
class ProbeCounted(Message):
    received: int


class Probe:
    kind = "probe"

    def __init__(self, host_id: str) -> None:
        self.host_id = host_id

    def initial(self, address: str) -> ProbeState:
        return ProbeState()

    def decide(
        self, state: ProbeState, msg: Message, now: float
    ) -> tuple[ProbeState, Sequence[Effect]]:
        if type(msg) is Ping:
            return state, (Reply(msg=Pong(payload=msg.payload, host=self.host_id)),)
        if type(msg) is ProbeCount:
            return state, (Reply(msg=ProbeCounted(received=state.received)),)
        return ProbeState(received=state.received + 1), ()


PROBE_MESSAGES: tuple[type[Message], ...] = (ProbeState, ProbeCount, ProbeCounted)
