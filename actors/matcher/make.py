"""Positional constructors for the effects, records and messages the matcher builds per message.

The effect classes are frozen dataclasses, whose ``__init__`` parses keywords and sets each
field through ``object.__setattr__``: about 1.3 us per ``Send`` on the reference VM, several
times what filling two slots costs. The matcher builds five to ten objects per decision, so it
fills the slots itself, through their descriptors - the result is the very same object
(``==``, ``type``, hash, codec) that the class's own ``__init__`` would have made. The records
and messages already have a generated ``__init__`` (:mod:`bus.message`); building them
positionally still saves its keyword parsing.

Only for classes whose ``__init__`` does nothing more than set the fields: each builder names
every field in declaration order, checked on import (a field added to a class fails loudly
here rather than being left unset).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import fields
from typing import Any, Literal

from actors.effects import CancelTimer, Journal, Send, StartTimer
from actors.matcher.messages import (
    Connected,
    Decision,
    MatchAgent,
    MatchCall,
    Matched,
    MatcherState,
    Offer,
    OfferExpired,
    Strategy,
)
from bus.message import Message

Setter = Callable[[Any, Any], None]

_new = object.__new__


def _setters(cls: type[Any], *names: str) -> tuple[Setter, ...]:
    """The slot setters of ``cls`` for ``names``, which must be all its fields, in order."""
    declared = tuple(f.name for f in fields(cls))
    if declared != names or hasattr(cls, "__post_init__"):
        raise TypeError(f"matcher.make: {cls.__qualname__} has fields {declared}, not {names}")
    return tuple(cls.__dict__[n].__set__ for n in names)


# ----------------------------------------------------------------- effects

_SEND_TO, _SEND_MSG = _setters(Send, "to", "msg")
(_JOURNAL_EVENT,) = _setters(Journal, "event")
_TIMER_KEY, _TIMER_AFTER, _TIMER_MSG = _setters(StartTimer, "key", "after_s", "msg")
(_CANCEL_KEY,) = _setters(CancelTimer, "key")


def send(to: str, msg: Message) -> Send:
    e = _new(Send)
    _SEND_TO(e, to)
    _SEND_MSG(e, msg)
    return e


def journal(event: Message) -> Journal:
    e = _new(Journal)
    _JOURNAL_EVENT(e, event)
    return e


def start_timer(key: str, after_s: float, msg: Message) -> StartTimer:
    e = _new(StartTimer)
    _TIMER_KEY(e, key)
    _TIMER_AFTER(e, after_s)
    _TIMER_MSG(e, msg)
    return e


def cancel_timer(key: str) -> CancelTimer:
    e = _new(CancelTimer)
    _CANCEL_KEY(e, key)
    return e


# ----------------------------------------------------------------- state records

_STATE = _setters(MatcherState, "address", "agents", "calls", "rotation", "rng", "seq", "decisions")
_AGENT = _setters(
    MatchAgent, "login", "skills", "ready", "idle_since", "calls_handled", "talk_time_s", "offer"
)
_CALL = _setters(
    MatchCall, "call_id", "queue", "priority", "waiting_since", "skills", "strategy",
    "ring_timeout_s", "ring_all_max", "check_staffed", "callback", "seq", "offered_to",
)  # fmt: skip


def state(
    address: str,
    agents: dict[str, dict[str, MatchAgent]],
    calls: dict[str, dict[str, MatchCall]],
    rotation: dict[str, str],
    rng: int,
    seq: int,
    decisions: int,
) -> MatcherState:
    s = _new(MatcherState)
    s0, s1, s2, s3, s4, s5, s6 = _STATE
    s0(s, address)
    s1(s, agents)
    s2(s, calls)
    s3(s, rotation)
    s4(s, rng)
    s5(s, seq)
    s6(s, decisions)
    return s


def agent(
    login: str,
    skills: dict[str, int],
    ready: bool,
    idle_since: float,
    calls_handled: int,
    talk_time_s: float,
    offer: str | None,
) -> MatchAgent:
    a = _new(MatchAgent)
    s0, s1, s2, s3, s4, s5, s6 = _AGENT
    s0(a, login)
    s1(a, skills)
    s2(a, ready)
    s3(a, idle_since)
    s4(a, calls_handled)
    s5(a, talk_time_s)
    s6(a, offer)
    return a


def call(
    call_id: str,
    queue: str,
    priority: int,
    waiting_since: float,
    skills: dict[str, int],
    strategy: Strategy,
    ring_timeout_s: float,
    ring_all_max: int,
    check_staffed: bool,
    callback: str | None,
    seq: int,
    offered_to: tuple[str, ...],
) -> MatchCall:
    c = _new(MatchCall)
    s0, s1, s2, s3, s4, s5, s6, s7, s8, s9, s10, s11 = _CALL
    s0(c, call_id)
    s1(c, queue)
    s2(c, priority)
    s3(c, waiting_since)
    s4(c, skills)
    s5(c, strategy)
    s6(c, ring_timeout_s)
    s7(c, ring_all_max)
    s8(c, check_staffed)
    s9(c, callback)
    s10(c, seq)
    s11(c, offered_to)
    return c


def call_offered_to(c: MatchCall, offered_to: tuple[str, ...]) -> MatchCall:
    return call(
        c.call_id, c.queue, c.priority, c.waiting_since, c.skills, c.strategy, c.ring_timeout_s,
        c.ring_all_max, c.check_staffed, c.callback, c.seq, offered_to,
    )  # fmt: skip


def call_needing(c: MatchCall, skills: dict[str, int], callback: str | None) -> MatchCall:
    """``c`` with new requirements (and a callback number, unless ``None``)."""
    return call(
        c.call_id, c.queue, c.priority, c.waiting_since, skills, c.strategy, c.ring_timeout_s,
        c.ring_all_max, c.check_staffed, c.callback if callback is None else callback, c.seq,
        c.offered_to,
    )  # fmt: skip


# ----------------------------------------------------------------- messages and events

_DECISION = _setters(
    Decision, "call_id", "queue", "agents", "trigger", "strategy", "reason", "priority",
    "waited_s", "at", "seq",
)  # fmt: skip
_OFFER = _setters(
    Offer, "call_id", "queue", "priority", "waiting_since", "ring_timeout_s", "callback"
)
_EXPIRED_CALL, _EXPIRED_LOGIN = _setters(OfferExpired, "call_id", "login")
_MATCHED_CALL, _MATCHED_AGENTS = _setters(Matched, "call_id", "agents")
_CONNECTED_CALL, _CONNECTED_AGENT = _setters(Connected, "call_id", "agent")


def decision(
    call_id: str,
    queue: str,
    agents: tuple[str, ...],
    trigger: Literal["call", "agent"],
    strategy: str,
    reason: str,
    priority: int,
    waited_s: float,
    at: float,
    seq: int,
) -> Decision:
    d = _new(Decision)
    s0, s1, s2, s3, s4, s5, s6, s7, s8, s9 = _DECISION
    s0(d, call_id)
    s1(d, queue)
    s2(d, agents)
    s3(d, trigger)
    s4(d, strategy)
    s5(d, reason)
    s6(d, priority)
    s7(d, waited_s)
    s8(d, at)
    s9(d, seq)
    return d


def offer(
    call_id: str,
    queue: str,
    priority: int,
    waiting_since: float,
    ring_timeout_s: float,
    callback: str | None,
) -> Offer:
    o = _new(Offer)
    s0, s1, s2, s3, s4, s5 = _OFFER
    s0(o, call_id)
    s1(o, queue)
    s2(o, priority)
    s3(o, waiting_since)
    s4(o, ring_timeout_s)
    s5(o, callback)
    return o


def offer_expired(call_id: str, login: str) -> OfferExpired:
    m = _new(OfferExpired)
    _EXPIRED_CALL(m, call_id)
    _EXPIRED_LOGIN(m, login)
    return m


def matched(call_id: str, agents: tuple[str, ...]) -> Matched:
    m = _new(Matched)
    _MATCHED_CALL(m, call_id)
    _MATCHED_AGENTS(m, agents)
    return m


def connected(call_id: str, agent: str) -> Connected:
    m = _new(Connected)
    _CONNECTED_CALL(m, call_id)
    _CONNECTED_AGENT(m, agent)
    return m
