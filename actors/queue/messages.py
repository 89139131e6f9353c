"""Messages of the queue actor ``queue/<name>``, what it tells the call actor, what it journals.

The call actor sends Enqueue / Abandon / RequestCallback; the queue answers Enqueue with
:class:`Queued` (or the :class:`Overflow` it decided at once), sends :class:`Announce` every
``announce_every_s`` and :class:`Overflow` when a rule fires. With ``kind == "queue"`` the call
actor re-enqueues at ``target`` passing ``waiting_since`` on, so the caller keeps their wait.
"""

from __future__ import annotations

from dataclasses import field
from typing import ClassVar, Literal

from actors.matcher.messages import Strategy
from bus.message import Message, message

ADMIN: frozenset[str] = frozenset({"admin", "technologist"})
WATCHERS: frozenset[str] = frozenset({"supervisor", "admin", "technologist", "operator"})

OverflowWhen = Literal["max_wait", "max_length", "ewt", "no_agents"]
OverflowKind = Literal["queue", "voicemail", "callback", "external"]


@message("queue.overflow_rule")
class OverflowRule(Message):
    """``when`` the condition holds (``threshold``: seconds, or calls for max_length), send the
    call to ``kind``/``target`` (a queue name, a voicemail box, a callback list, a number)."""

    when: OverflowWhen
    kind: OverflowKind
    target: str = ""
    threshold: float = 0.0


@message("queue.relax_step")
class RelaxStep(Message):
    """After ``after_s`` in the queue the call's requirements become ``skills``."""

    after_s: float
    skills: dict[str, int]


@message("queue.config")
class QueueConfig(Message):
    strategy: Strategy = "longest-idle"
    skills: dict[str, int] = field(default_factory=dict)
    relax: tuple[RelaxStep, ...] = ()
    priority: int = 0
    overflow: tuple[OverflowRule, ...] = ()
    announce_every_s: float = 0.0
    ring_timeout_s: float = 20.0
    ring_all_max: int = 10
    #: estimated wait per position until answered calls give a measured rate
    ewt_per_position_s: float = 60.0


@message("queue.configure")
class ConfigureQueue(Message):
    CLIENT_ROLES: ClassVar[frozenset[str]] = ADMIN
    config: QueueConfig


# ----------------------------------------------------------------- from the call actor


@message("queue.enqueue")
class Enqueue(Message):
    call_id: str
    #: None: the queue's configured priority; larger is served first
    priority: int | None = None
    #: when the caller started waiting (kept across overflows); None: now
    waiting_since: float | None = None
    caller: str = ""
    #: per-call requirements overriding the queue's (an IVR choice); None: the queue's
    skills: dict[str, int] | None = None


@message("queue.abandon")
class Abandon(Message):
    """The caller hung up while waiting."""

    call_id: str


@message("queue.request_callback")
class RequestCallback(Message):
    """The caller asked to be called back at ``number``; the call keeps its place in line."""

    call_id: str
    number: str


@message("queue.get")
class GetQueue(Message):
    CLIENT_ROLES: ClassVar[frozenset[str]] = WATCHERS


# ----------------------------------------------------------------- timers


@message("queue.announce_due")
class AnnounceDue(Message):
    call_id: str


@message("queue.max_wait_due")
class MaxWaitDue(Message):
    call_id: str


@message("queue.relax_due")
class RelaxDue(Message):
    call_id: str
    step: int


# ----------------------------------------------------------------- to the call actor


@message("acd.queued")
class Queued(Message):
    call_id: str
    queue: str
    position: int
    ewt_s: float


@message("acd.announce")
class Announce(Message):
    """Tell the caller their position and estimated wait (the call actor plays the prompt)."""

    call_id: str
    queue: str
    position: int
    ewt_s: float


@message("acd.overflow")
class Overflow(Message):
    call_id: str
    queue: str
    reason: OverflowWhen
    kind: OverflowKind
    target: str
    waiting_since: float


# ----------------------------------------------------------------- journal events


@message("queue.call_queued")
class CallQueued(Message):
    call_id: str
    queue: str
    priority: int
    caller: str
    waiting_since: float
    position: int
    at: float


@message("queue.call_answered")
class CallAnswered(Message):
    call_id: str
    queue: str
    agent: str
    #: in this queue / since the caller started waiting (across overflows)
    waited_s: float
    total_wait_s: float
    at: float


@message("queue.call_abandoned")
class CallAbandoned(Message):
    call_id: str
    queue: str
    waited_s: float
    position: int
    at: float


@message("queue.call_overflowed")
class CallOverflowed(Message):
    call_id: str
    queue: str
    reason: OverflowWhen
    kind: OverflowKind
    target: str
    waited_s: float
    at: float


@message("queue.callback_requested")
class CallbackRequested(Message):
    call_id: str
    queue: str
    number: str
    position: int
    at: float


@message("queue.requirements_relaxed")
class RequirementsRelaxed(Message):
    call_id: str
    queue: str
    skills: dict[str, int]
    waited_s: float
    at: float


# ----------------------------------------------------------------- state


@message("queue.entry")
class QueueEntry(Message):
    call_id: str
    priority: int
    waiting_since: float
    enqueued_at: float
    seq: int
    caller: str
    skills: dict[str, int]
    offered: bool = False
    callback: str | None = None
    relax_next: int = 0


@message("queue.state")
class QueueState(Message):
    name: str
    config: QueueConfig = field(default_factory=QueueConfig)
    #: ordered: priority (high first), then waiting_since, then arrival
    entries: tuple[QueueEntry, ...] = ()
    seq: int = 0
    #: moving average of the time between answered calls: the measured service rate
    answer_interval_s: float | None = None
    last_answer_at: float | None = None
