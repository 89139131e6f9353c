"""What the live stats service publishes on topic ``stats`` (a whole picture on each change)."""

from __future__ import annotations

from dataclasses import field

from bus.codec import Codec
from bus.message import Message, message

STATS_TOPIC = "stats"


@message("stats.queue")
class QueueStats(Message):
    """Today's figures of one queue (definitions: ``docs/metrics.md``)."""

    queue: str
    waiting: int
    #: the call waiting longest right now; 0 when nobody waits
    longest_waiting_s: float
    offered: int
    answered: int
    abandoned: int
    short_abandoned: int
    overflowed: int
    service_level: float | None
    asa_s: float | None
    aht_s: float | None
    abandon_rate: float | None
    longest_wait_s: float | None
    service_level_s: float
    agents_by_state: dict[str, int] = field(default_factory=dict)


@message("stats.agent")
class AgentStats(Message):
    agent: str
    state: str
    reason: str
    #: wall-clock time the agent entered ``state``
    since: float
    call_id: str | None
    queue: str | None
    handled: int
    aht_s: float | None
    occupancy: float | None
    utilisation: float | None


@message("stats.call")
class CallInProgress(Message):
    call_id: str
    #: waiting, reserved, ringing, talking, on_hold
    state: str
    queue: str | None
    agent: str | None
    since: float


@message("stats.help")
class OpenHelp(Message):
    help_id: str
    agent: str
    call_id: str | None
    raised_at: float
    note: str
    supervisor: str | None = None
    mode: str | None = None


@message("stats.snapshot")
class StatsSnapshot(Message):
    at: float
    day_start: float
    queues: tuple[QueueStats, ...] = ()
    agents: tuple[AgentStats, ...] = ()
    calls: tuple[CallInProgress, ...] = ()
    help: tuple[OpenHelp, ...] = ()


STATS_MESSAGES: tuple[type[Message], ...] = (
    QueueStats, AgentStats, CallInProgress, OpenHelp, StatsSnapshot,
)


def stats_codec() -> Codec:
    """The build's codec plus these messages (until ``bus.catalogue`` lists them itself)."""
    from bus.catalogue import default_codec

    codec = default_codec()
    for cls in STATS_MESSAGES:
        codec.catalogue.add(cls)
    return codec
