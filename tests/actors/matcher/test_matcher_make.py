"""The positional builders make exactly what the classes' own constructors make."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from actors.effects import CancelTimer, Journal, Send, StartTimer
from actors.matcher import make
from actors.matcher.messages import (
    MATCHER_MESSAGES,
    Connected,
    Decision,
    MatchAgent,
    MatchCall,
    Matched,
    MatcherState,
    Offer,
    OfferExpired,
)
from bus.codec import Catalogue, Codec
from bus.message import evolve


def test_each_builder_equals_the_keyword_constructor() -> None:
    agent = MatchAgent(login="ann", skills={"fr": 5}, ready=True, idle_since=2.0,
                       calls_handled=3, talk_time_s=40.0, offer="c1")  # fmt: skip
    call = MatchCall(
        call_id="c1", queue="q", priority=2, waiting_since=1.5, skills={"fr": 3},
        strategy="ring-all", ring_timeout_s=15.0, ring_all_max=2, check_staffed=True,
        callback="+331", seq=7, offered_to=("ann",),
    )  # fmt: skip
    pairs = [
        (make.agent("ann", {"fr": 5}, True, 2.0, 3, 40.0, "c1"), agent),
        (make.call("c1", "q", 2, 1.5, {"fr": 3}, "ring-all", 15.0, 2, True, "+331", 7, ("ann",)),
         call),
        (make.call_offered_to(call, ("bob", "cat")), evolve(call, offered_to=("bob", "cat"))),
        (make.call_needing(call, {"de": 1}, None), evolve(call, skills={"de": 1})),
        (make.call_needing(call, {}, "+332"), evolve(call, skills={}, callback="+332")),
        (make.state(MATCHER_STATE, {"00": {"ann": agent}}, {}, {"q": "ann"}, 5, 6, 7),
         MatcherState(address=MATCHER_STATE, agents={"00": {"ann": agent}}, calls={},
                      rotation={"q": "ann"}, rng=5, seq=6, decisions=7)),
        (make.decision("c1", "q", ("ann",), "agent", "longest-idle", "why", 2, 3.5, 9.0, 4),
         Decision(call_id="c1", queue="q", agents=("ann",), trigger="agent",
                  strategy="longest-idle", reason="why", priority=2, waited_s=3.5, at=9.0, seq=4)),
        (make.offer("c1", "q", 2, 1.5, 15.0, None),
         Offer(call_id="c1", queue="q", priority=2, waiting_since=1.5, ring_timeout_s=15.0)),
        (make.offer_expired("c1", "ann"), OfferExpired(call_id="c1", login="ann")),
        (make.matched("c1", ("ann",)), Matched(call_id="c1", agents=("ann",))),
        (make.connected("c1", "ann"), Connected(call_id="c1", agent="ann")),
        (make.send("agent/ann", agent), Send(to="agent/ann", msg=agent)),
        (make.journal(agent), Journal(event=agent)),
        (make.start_timer("k", 2.5, agent), StartTimer(key="k", after_s=2.5, msg=agent)),
        (make.cancel_timer("k"), CancelTimer(key="k")),
    ]  # fmt: skip
    codec = Codec(Catalogue(MATCHER_MESSAGES))
    for built, expected in pairs:
        assert type(built) is type(expected)
        assert built == expected
        if _hashable(expected):
            assert hash(built) == hash(expected)
        if type(expected) in MATCHER_MESSAGES:  # and the wire cannot tell them apart
            assert codec.encode(built) == codec.encode(expected)  # type: ignore[arg-type]


MATCHER_STATE = "matcher/global"


def _hashable(x: object) -> bool:
    try:
        hash(x)
    except TypeError:
        return False
    return True


def test_a_class_whose_fields_changed_fails_on_import_not_silently() -> None:
    @dataclass(frozen=True, slots=True)
    class Grown:
        to: str
        msg: str
        extra: int = 0

    with pytest.raises(TypeError, match=r"Grown has fields \('to', 'msg', 'extra'\)"):
        make._setters(Grown, "to", "msg")
