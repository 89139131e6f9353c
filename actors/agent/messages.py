"""Messages of the agent actor ``agent/<login>``: what it accepts, what it tells the call actor,
and the records it journals and publishes.

Who sends what:

* the agent's desktop/CLI (through the gateway, as asks): Configure, Login, Ready, Pause,
  Logout, Reject, WrapUpDone, ExtendWrapUp, RequestHelp, CancelHelp, GetAgent;
* supervisors: AcceptHelp, ChangeHelpMode, ResolveHelp;
* the call actor ``call/<id>``: Ring, Answered, Hold, Unhold, CallEnded;
* the matcher: Offer, OfferWithdrawn (see :mod:`actors.matcher.messages`);
* the reconciler: ForceRelease, ForceLogout;
* itself (timers): NoAnswerTimeout, WrapUpTimeout.
"""

from __future__ import annotations

from dataclasses import field
from typing import ClassVar, Literal

from bus.message import Message, message

OPERATOR: frozenset[str] = frozenset({"operator", "supervisor"})
SUPERVISOR: frozenset[str] = frozenset({"supervisor"})
ADMIN: frozenset[str] = frozenset({"admin", "technologist"})

JoinMode = Literal["listen", "whisper", "barge"]


@message("agent.profile")
class AgentProfile(Message):
    """Configuration: skills (proficiency 1-10), help group, wrap-up and ring limits.

    Capacity is one voice call: the state machine below has room for exactly one call.
    """

    skills: dict[str, int] = field(default_factory=dict)
    group: str = "default"
    wrap_up_s: float = 15.0
    #: wrap-up can be extended up to this long in total
    max_wrap_up_s: float = 300.0
    voice_capacity: int = 1


# ----------------------------------------------------------------- desktop / CLI


@message("agent.configure")
class Configure(Message):
    CLIENT_ROLES: ClassVar[frozenset[str]] = ADMIN
    profile: AgentProfile


@message("agent.login")
class Login(Message):
    CLIENT_ROLES: ClassVar[frozenset[str]] = OPERATOR
    phone_uri: str


@message("agent.ready")
class Ready(Message):
    CLIENT_ROLES: ClassVar[frozenset[str]] = OPERATOR


@message("agent.pause")
class Pause(Message):
    """Not ready with a reason code (``lunch``, ``training``...); during a call it takes effect
    when the call's wrap-up ends."""

    CLIENT_ROLES: ClassVar[frozenset[str]] = OPERATOR
    reason: str


@message("agent.logout")
class Logout(Message):
    CLIENT_ROLES: ClassVar[frozenset[str]] = OPERATOR


@message("agent.reject")
class Reject(Message):
    CLIENT_ROLES: ClassVar[frozenset[str]] = OPERATOR
    call_id: str


@message("agent.wrap_up_done")
class WrapUpDone(Message):
    CLIENT_ROLES: ClassVar[frozenset[str]] = OPERATOR


@message("agent.extend_wrap_up")
class ExtendWrapUp(Message):
    CLIENT_ROLES: ClassVar[frozenset[str]] = OPERATOR
    seconds: float


@message("agent.get")
class GetAgent(Message):
    CLIENT_ROLES: ClassVar[frozenset[str]] = OPERATOR


# ----------------------------------------------------------------- from the call actor


@message("agent.ring")
class Ring(Message):
    """The agent's phone is ringing (the call actor's INVITE got 180)."""

    call_id: str


@message("agent.answered")
class Answered(Message):
    call_id: str


@message("agent.hold")
class Hold(Message):
    call_id: str


@message("agent.unhold")
class Unhold(Message):
    call_id: str


@message("agent.call_ended")
class CallEnded(Message):
    call_id: str


# ----------------------------------------------------------------- timers and repairs


@message("agent.no_answer_timeout")
class NoAnswerTimeout(Message):
    call_id: str


@message("agent.wrap_up_timeout")
class WrapUpTimeout(Message):
    call_id: str


@message("agent.force_release")
class ForceRelease(Message):
    """The reconciler found the agent's call gone (or an admin says so)."""

    CLIENT_ROLES: ClassVar[frozenset[str]] = ADMIN

    call_id: str
    reason: str


@message("agent.force_logout")
class ForceLogout(Message):
    """The reconciler found the agent's phone gone (or an admin logs the agent out)."""

    CLIENT_ROLES: ClassVar[frozenset[str]] = ADMIN

    reason: str


# ----------------------------------------------------------------- help requests (HRM)


@message("agent.request_help")
class RequestHelp(Message):
    CLIENT_ROLES: ClassVar[frozenset[str]] = OPERATOR
    note: str = ""


@message("agent.cancel_help")
class CancelHelp(Message):
    CLIENT_ROLES: ClassVar[frozenset[str]] = OPERATOR


@message("agent.accept_help")
class AcceptHelp(Message):
    CLIENT_ROLES: ClassVar[frozenset[str]] = SUPERVISOR
    supervisor: str
    mode: JoinMode = "listen"


@message("agent.change_help_mode")
class ChangeHelpMode(Message):
    CLIENT_ROLES: ClassVar[frozenset[str]] = SUPERVISOR
    supervisor: str
    mode: JoinMode


@message("agent.resolve_help")
class ResolveHelp(Message):
    CLIENT_ROLES: ClassVar[frozenset[str]] = SUPERVISOR
    supervisor: str
    note: str = ""


@message("agent.help_request")
class HelpRequest(Message):
    """An open help request, kept in the agent's state while it lasts."""

    help_id: str
    raised_at: float
    call_id: str | None
    note: str
    supervisor: str | None = None
    mode: JoinMode | None = None


# ----------------------------------------------------------------- to the call actor


@message("acd.ring_phone")
class RingPhone(Message):
    """Ring ``agent``'s phone for ``call_id`` (the call actor sends the INVITE)."""

    call_id: str
    agent: str
    phone_uri: str
    ring_timeout_s: float


@message("acd.cancel_ring")
class CancelRing(Message):
    """Stop ringing ``agent`` for ``call_id``: rejected or not answered in time."""

    call_id: str
    agent: str
    reason: str


@message("acd.supervisor_join")
class SupervisorJoin(Message):
    """Ask the media pool (via the call) to mix ``supervisor`` in: listen, whisper or barge."""

    call_id: str
    agent: str
    supervisor: str
    mode: JoinMode


@message("acd.supervisor_leave")
class SupervisorLeave(Message):
    call_id: str
    supervisor: str


# ----------------------------------------------------------------- journal / pub-sub records


@message("agent.transition")
class AgentTransition(Message):
    """One step of an agent's state machine (journaled, published on topic ``agents``).

    Consecutive transitions of one agent give its state intervals (occupancy, AHT).
    """

    agent: str
    from_state: str
    to_state: str
    reason: str
    call_id: str | None
    queue: str | None
    group: str
    phone_uri: str
    at: float


@message("agent.help_event")
class HelpEvent(Message):
    """One step of a help request (journaled, published on topic ``help``)."""

    help_id: str
    agent: str
    group: str
    step: Literal["raised", "accepted", "mode", "resolved", "cancelled"]
    call_id: str | None
    supervisor: str | None
    mode: JoinMode | None
    note: str
    at: float


@message("agent.repair")
class Repair(Message):
    """The reconciler fixed an agent whose call or phone had gone, or dropped a dead call
    from its queue (``action == "drop"``, ``agent`` empty)."""

    agent: str
    action: Literal["release", "logout", "drop"]
    call_id: str | None
    reason: str
    at: float
