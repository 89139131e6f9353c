"""The agent state machine: the state record and ONE transition table.

``TRANSITIONS[(state, message tag)]`` is the state an agent moves to, or ``STAY`` (legal, the
state does not change) or ``FREE`` (``ready``, or ``not_ready`` when a pause was requested
during the call). A pair missing from the table is illegal and answered with a typed Fail
naming the state and the message - except the cases the protocol expects to race:

* an ``Offer`` that finds the agent not ready is *refused* (OfferOutcome ``not_available``);
* timers, withdrawals and repairs that arrive after the call they were about (``STALE_OK``)
  are ignored.

Help requests are a flag (``AgentState.help``), not a state: an agent asks for help while
talking, on hold, in wrap-up or idle, and the call must go on while it waits. Making it a state
would double every call state and hide the call state from the supervisor.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import field
from typing import Final, Literal

from actors.agent.messages import (
    AgentProfile,
    Answered,
    CallEnded,
    ExtendWrapUp,
    ForceLogout,
    ForceRelease,
    HelpRequest,
    Hold,
    Login,
    Logout,
    NoAnswerTimeout,
    Pause,
    Ready,
    Reject,
    Ring,
    Unhold,
    WrapUpDone,
    WrapUpTimeout,
)
from actors.matcher.messages import Offer, OfferWithdrawn, PresenceStatus
from bus.message import Message, message

AgentStatus = Literal[
    "logged_out", "ready", "not_ready", "reserved", "ringing", "talking", "on_hold", "wrap_up"
]
Target = AgentStatus | Literal["stay", "free"]
STAY: Final = "stay"
FREE: Final = "free"

LOGGED_IN: tuple[AgentStatus, ...] = (
    "ready", "not_ready", "reserved", "ringing", "talking", "on_hold", "wrap_up",
)  # fmt: skip
OFFERED: tuple[AgentStatus, ...] = ("reserved", "ringing")
ON_CALL: tuple[AgentStatus, ...] = ("talking", "on_hold")


def _rows() -> dict[tuple[AgentStatus, str], Target]:
    t: dict[tuple[AgentStatus, str], Target] = {
        ("logged_out", Login.TAG): "not_ready",
        ("not_ready", Ready.TAG): "ready",
        ("not_ready", Pause.TAG): "not_ready",
        ("not_ready", Logout.TAG): "logged_out",
        ("ready", Ready.TAG): STAY,
        ("ready", Pause.TAG): "not_ready",
        ("ready", Logout.TAG): "logged_out",
        ("ready", Offer.TAG): "reserved",
        ("reserved", Ring.TAG): "ringing",
        ("ringing", Ring.TAG): STAY,
        ("talking", Hold.TAG): "on_hold",
        ("on_hold", Unhold.TAG): "talking",
        ("wrap_up", WrapUpDone.TAG): FREE,
        ("wrap_up", WrapUpTimeout.TAG): FREE,
        ("wrap_up", Ready.TAG): "ready",
        ("wrap_up", ExtendWrapUp.TAG): STAY,
        ("wrap_up", Pause.TAG): "not_ready",
        ("wrap_up", Logout.TAG): "logged_out",
    }
    for s in OFFERED:
        t[(s, Answered.TAG)] = "talking"
        t[(s, Reject.TAG)] = "not_ready"
        t[(s, NoAnswerTimeout.TAG)] = "not_ready"
        t[(s, CallEnded.TAG)] = FREE  # the caller left before the agent answered
        t[(s, OfferWithdrawn.TAG)] = FREE
        t[(s, ForceRelease.TAG)] = FREE
    for s in ON_CALL:
        t[(s, CallEnded.TAG)] = "wrap_up"
        t[(s, ForceRelease.TAG)] = "wrap_up"
    for s in (*OFFERED, *ON_CALL):
        t[(s, Pause.TAG)] = STAY  # remembered; takes effect when the call is done
    for s in LOGGED_IN:
        t[(s, ForceLogout.TAG)] = "logged_out"
    return t


TRANSITIONS: Final[Mapping[tuple[AgentStatus, str], Target]] = _rows()

#: tags that may legitimately arrive after the call they were about: ignored, not failed
STALE_OK: Final[frozenset[str]] = frozenset(
    {NoAnswerTimeout.TAG, WrapUpTimeout.TAG, OfferWithdrawn.TAG, ForceRelease.TAG}
)

PRESENCE: Final[Mapping[AgentStatus, PresenceStatus]] = {
    "logged_out": "offline",
    "ready": "ready",
    "not_ready": "away",
    "reserved": "busy",
    "ringing": "busy",
    "talking": "busy",
    "on_hold": "busy",
    "wrap_up": "busy",
}


@message("agent.state")
class AgentState(Message):
    login: str
    status: AgentStatus = "logged_out"
    #: why the agent is in ``status`` (the not-ready reason code, ``no_answer``...)
    reason: str = ""
    phone_uri: str = ""
    profile: AgentProfile = field(default_factory=AgentProfile)
    call_id: str | None = None
    queue: str | None = None
    since: float = 0.0
    idle_since: float = 0.0
    calls_handled: int = 0
    talk_time_s: float = 0.0
    talk_since: float | None = None
    wrap_until: float | None = None
    wrap_started: float | None = None
    pending_pause: str | None = None
    help: HelpRequest | None = None
    help_seq: int = 0


def target_of(status: AgentStatus, msg: Message) -> Target | None:
    """The table lookup: None when ``msg`` is illegal in ``status``."""
    return TRANSITIONS.get((status, msg.TAG))


def illegal_text(login: str, status: AgentStatus, msg: Message) -> str:
    legal = sorted(tag for (s, tag) in TRANSITIONS if s == status)
    return (
        f"agent/{login}: {msg.TAG} is not allowed in state {status} "
        f"(allowed there: {', '.join(legal) or 'nothing'})"
    )
