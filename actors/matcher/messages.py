"""The ACD protocol between agents, queues and the global matcher, and the matcher's records.

Flow of one call (every arrow is a tell):

    queue  --Submit-->  matcher  --Offer-->  agent  --RingPhone-->  call
    queue  <--Matched-- matcher
    agent  --OfferOutcome(answered | rejected | no_answer | not_available | withdrawn)--> matcher
    queue  <--Connected | Returned-- matcher

The matcher keeps an agent reserved from the moment it decides until that agent's own
``OfferOutcome`` for that very call arrives (or its safety timer fires), so an agent can never be
offered two calls at once. Priorities: a larger ``priority`` is served first.
"""

from __future__ import annotations

from dataclasses import field
from typing import ClassVar, Literal, get_args

from bus.message import Message, message

#: the one decision point of the whole ACD
MATCHER = "matcher/global"

Strategy = Literal[
    "longest-idle",
    "round-robin",
    "fewest-calls",
    "least-talk-time",
    "skills-weighted",
    "ring-all",
    "random",
]
STRATEGIES: tuple[str, ...] = get_args(Strategy)

PresenceStatus = Literal["ready", "busy", "away", "offline"]
Outcome = Literal["answered", "rejected", "no_answer", "not_available", "withdrawn", "timeout"]

MIN_LEVEL = 1
MAX_LEVEL = 10


# ----------------------------------------------------------------- agent -> matcher


@message("acd.presence")
class Presence(Message):
    """An agent's availability as the matcher needs it; sent whenever it changes.

    ``ready`` means free for a voice call; ``busy`` on a call or in wrap-up; ``away`` logged in
    but not ready; ``offline`` logged out. Statistics feed the fewest-calls / least-talk-time
    strategies.
    """

    login: str
    status: PresenceStatus
    skills: dict[str, int] = field(default_factory=dict)
    idle_since: float = 0.0
    calls_handled: int = 0
    talk_time_s: float = 0.0


@message("acd.offer_outcome")
class OfferOutcome(Message):
    """The one answer an agent gives to each Offer; carries the agent's presence after it."""

    call_id: str
    login: str
    outcome: Outcome
    presence: Presence


# ----------------------------------------------------------------- matcher -> agent


@message("acd.offer")
class Offer(Message):
    call_id: str
    queue: str
    priority: int = 0
    waiting_since: float = 0.0
    ring_timeout_s: float = 20.0
    callback: str | None = None


@message("acd.offer_withdrawn")
class OfferWithdrawn(Message):
    """The call went away (abandoned, overflowed, answered elsewhere in ring-all, timed out)."""

    call_id: str
    reason: str


# ----------------------------------------------------------------- queue -> matcher


@message("acd.submit")
class Submit(Message):
    call_id: str
    queue: str
    priority: int = 0
    waiting_since: float = 0.0
    #: requirements: skill -> minimum proficiency (1-10); empty means any agent
    skills: dict[str, int] = field(default_factory=dict)
    strategy: Strategy = "longest-idle"
    ring_timeout_s: float = 20.0
    ring_all_max: int = 10
    #: answer with Unstaffed when no logged-in agent could ever serve the call
    check_staffed: bool = False
    callback: str | None = None


@message("acd.update")
class Update(Message):
    """New requirements (relaxed with wait time) or a callback number for a waiting call."""

    call_id: str
    skills: dict[str, int]
    callback: str | None = None


@message("acd.withdraw")
class Withdraw(Message):
    """The queue let go of the call. ``queue`` names it, so a withdrawal that arrives after the
    call was already submitted again elsewhere (overflow to another queue) is ignored."""

    call_id: str
    reason: str
    queue: str = ""


# ----------------------------------------------------------------- matcher -> queue


@message("acd.matched")
class Matched(Message):
    call_id: str
    agents: tuple[str, ...]


@message("acd.returned")
class Returned(Message):
    """Every offer of the call failed; it waits again with its original ``waiting_since``."""

    call_id: str
    reason: str


@message("acd.connected")
class Connected(Message):
    call_id: str
    agent: str


@message("acd.unstaffed")
class Unstaffed(Message):
    call_id: str


# ----------------------------------------------------------------- timers, queries


@message("acd.offer_expired")
class OfferExpired(Message):
    """The matcher's safety timer: the agent never answered the Offer at all."""

    call_id: str
    login: str


@message("acd.get_matcher")
class GetMatcher(Message):
    CLIENT_ROLES: ClassVar[frozenset[str]] = frozenset({"supervisor", "admin", "technologist"})


@message("acd.matcher_stats")
class MatcherStats(Message):
    agents_logged_in: int
    agents_ready: int
    agents_reserved: int
    calls_waiting: int
    calls_offered: int
    decisions: int


# ----------------------------------------------------------------- journal events


@message("acd.decision")
class Decision(Message):
    """One matching decision and why; ``contactor explain CALL_ID`` renders these."""

    call_id: str
    queue: str
    agents: tuple[str, ...]
    trigger: Literal["call", "agent"]
    strategy: str
    reason: str
    priority: int
    waited_s: float
    at: float
    seq: int


@message("acd.offer_result")
class OfferResult(Message):
    call_id: str
    agent: str
    outcome: Outcome
    at: float


# ----------------------------------------------------------------- state records


@message("matcher.agent")
class MatchAgent(Message):
    login: str
    skills: dict[str, int]
    #: the agent's own last word: free for a call
    ready: bool
    idle_since: float = 0.0
    calls_handled: int = 0
    talk_time_s: float = 0.0
    #: call this agent is reserved for (offered, outcome not yet heard)
    offer: str | None = None


@message("matcher.call")
class MatchCall(Message):
    call_id: str
    queue: str
    priority: int
    waiting_since: float
    skills: dict[str, int]
    strategy: Strategy
    ring_timeout_s: float
    ring_all_max: int
    check_staffed: bool
    callback: str | None
    #: arrival order at the matcher: the last tie-break, so equal waits stay FIFO
    seq: int
    #: agents currently holding an offer of this call; empty while it waits
    offered_to: tuple[str, ...] = ()


@message("matcher.state")
class MatcherState(Message):
    address: str
    #: logged-in agents and known calls, sharded by :func:`actors.matcher.cow.shard_of`
    #: (read them with ``cow.get`` / ``cow.values``)
    agents: dict[str, dict[str, MatchAgent]] = field(default_factory=dict)
    calls: dict[str, dict[str, MatchCall]] = field(default_factory=dict)
    #: round-robin pointer per queue: last agent offered a call of that queue
    rotation: dict[str, str] = field(default_factory=dict)
    #: splitmix64 state for the random strategy (deterministic, persisted)
    rng: int = 0x9E3779B97F4A7C15
    seq: int = 0
    decisions: int = 0


MATCHER_MESSAGES: tuple[type[Message], ...] = (
    Presence,
    OfferOutcome,
    Offer,
    OfferWithdrawn,
    Submit,
    Update,
    Withdraw,
    Matched,
    Returned,
    Connected,
    Unstaffed,
    OfferExpired,
    GetMatcher,
    MatcherStats,
    Decision,
    OfferResult,
    MatchAgent,
    MatchCall,
    MatcherState,
)
