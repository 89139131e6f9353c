"""The agent state machine, driven message by message through ``decide`` and the pump."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from actors.agent.behaviour import AgentBehaviour
from actors.agent.messages import (
    AgentProfile,
    AgentTransition,
    Answered,
    CallEnded,
    CancelRing,
    Configure,
    ExtendWrapUp,
    ForceLogout,
    ForceRelease,
    Hold,
    Login,
    Logout,
    NoAnswerTimeout,
    Pause,
    Ready,
    Reject,
    Ring,
    RingPhone,
    Unhold,
    WrapUpDone,
    WrapUpTimeout,
)
from actors.agent.states import STALE_OK, TRANSITIONS, AgentState, AgentStatus
from actors.effects import Fail, Journal, Publish, Send, StartTimer
from actors.matcher.messages import MATCHER, Offer, OfferOutcome, OfferWithdrawn, Presence
from actors.matcher.pump import Pump
from bus.message import Message

B = AgentBehaviour()
ALL_STATES: tuple[AgentStatus, ...] = (
    "logged_out", "ready", "not_ready", "reserved", "ringing", "talking", "on_hold", "wrap_up",
)  # fmt: skip


def in_state(status: AgentStatus, call: str | None = None) -> AgentState:
    on_call = status in ("reserved", "ringing", "talking", "on_hold", "wrap_up")
    return AgentState(
        login="anna",
        status=status,
        phone_uri="sip:anna@pbx",
        profile=AgentProfile(skills={"fr": 7}, wrap_up_s=10.0, max_wrap_up_s=40.0),
        call_id=(call or "c1") if on_call else None,
        queue="sales" if on_call else None,
        talk_since=100.0 if status in ("talking", "on_hold") else None,
        wrap_started=100.0 if status == "wrap_up" else None,
        wrap_until=110.0 if status == "wrap_up" else None,
    )


def samples() -> list[Message]:
    return [
        Login(phone_uri="sip:anna@pbx"), Ready(), Pause(reason="lunch"), Logout(),
        Offer(call_id="c1", queue="sales"), Ring(call_id="c1"), Answered(call_id="c1"),
        Reject(call_id="c1"), NoAnswerTimeout(call_id="c1"), Hold(call_id="c1"),
        Unhold(call_id="c1"), CallEnded(call_id="c1"), WrapUpDone(), WrapUpTimeout(call_id="c1"),
        ExtendWrapUp(seconds=5), OfferWithdrawn(call_id="c1", reason="x"),
        ForceRelease(call_id="c1", reason="x"), ForceLogout(reason="x"),
    ]  # fmt: skip


def test_every_state_message_pair_is_legal_or_a_typed_fail() -> None:
    checked = 0
    for status in ALL_STATES:
        for msg in samples():
            state = in_state(status)
            new, effects = B.decide(state, msg, 120.0)
            fails = [e for e in effects if isinstance(e, Fail)]
            if (status, msg.TAG) in TRANSITIONS:
                assert not fails, (status, msg.TAG, fails)
            elif isinstance(msg, Offer):
                assert new is state
                (out,) = effects
                assert isinstance(out, Send) and isinstance(out.msg, OfferOutcome)
                assert out.msg.outcome == "not_available"
            elif msg.TAG in STALE_OK:
                assert new is state and not effects
            else:
                assert new is state
                (fail,) = fails
                assert fail.code == "agent.illegal_transition"
                assert status in fail.text and msg.TAG in fail.text
                checked += 1
    assert checked > 40  # the table really is partial


def test_each_transition_is_journaled_and_published_with_call_and_reason() -> None:
    state = in_state("ringing")
    new, effects = B.decide(state, NoAnswerTimeout(call_id="c1"), 130.0)
    assert new.status == "not_ready" and new.reason == "no_answer" and new.call_id is None
    (journal,) = [e for e in effects if isinstance(e, Journal)]
    (pub,) = [e for e in effects if isinstance(e, Publish)]
    assert pub.topic == "agents" and pub.msg == journal.event
    ev = journal.event
    assert isinstance(ev, AgentTransition)
    assert (ev.agent, ev.from_state, ev.to_state, ev.reason, ev.call_id, ev.at) == (
        "anna", "ringing", "not_ready", "no_answer", "c1", 130.0,
    )  # fmt: skip
    sends = [e for e in effects if isinstance(e, Send)]
    assert any(s.to == "call/c1" and isinstance(s.msg, CancelRing) for s in sends)
    (out,) = [s.msg for s in sends if s.to == MATCHER]
    assert isinstance(out, OfferOutcome) and out.outcome == "no_answer"
    assert out.presence.status == "away"


def test_offer_rings_the_phone_and_arms_the_no_answer_timer() -> None:
    new, effects = B.decide(in_state("ready"), Offer(call_id="c9", queue="q", ring_timeout_s=12), 5)
    assert (new.status, new.call_id, new.queue) == ("reserved", "c9", "q")
    ring = [e for e in effects if isinstance(e, Send) and isinstance(e.msg, RingPhone)]
    assert ring[0].to == "call/c9" and ring[0].msg == RingPhone(
        call_id="c9", agent="anna", phone_uri="sip:anna@pbx", ring_timeout_s=12
    )
    (timer,) = [e for e in effects if isinstance(e, StartTimer)]
    assert timer.after_s == 12 and timer.msg == NoAnswerTimeout(call_id="c9")


def test_message_about_another_call_fails_but_stale_timers_are_ignored() -> None:
    state = in_state("talking", call="c1")
    _, effects = B.decide(state, CallEnded(call_id="c2"), 1)
    (fail,) = effects
    assert isinstance(fail, Fail) and fail.code == "agent.wrong_call" and "c2" in fail.text
    new, effects = B.decide(in_state("wrap_up", call="c1"), WrapUpTimeout(call_id="old"), 1)
    assert new.status == "wrap_up" and not effects


def test_wrap_up_counts_the_call_and_extension_is_capped() -> None:
    state = in_state("talking")
    new, effects = B.decide(state, CallEnded(call_id="c1"), 160.0)
    assert new.status == "wrap_up" and new.calls_handled == 1 and new.talk_time_s == 60.0
    (timer,) = [e for e in effects if isinstance(e, StartTimer)]
    assert timer.after_s == 10.0
    new, effects = B.decide(new, ExtendWrapUp(seconds=25), 165.0)
    assert new.wrap_until == 195.0
    new, effects = B.decide(new, ExtendWrapUp(seconds=25), 166.0)
    assert new.wrap_until == 200.0  # started 160 + max 40
    _, effects = B.decide(new, ExtendWrapUp(seconds=5), 167.0)
    assert isinstance(effects[0], Fail) and effects[0].code == "agent.wrap_up_limit"


def test_pause_during_a_call_applies_after_wrap_up() -> None:
    state, _ = B.decide(in_state("talking"), Pause(reason="training"), 1)
    assert state.status == "talking" and state.pending_pause == "training"
    state, _ = B.decide(state, CallEnded(call_id="c1"), 2)
    state, effects = B.decide(state, WrapUpTimeout(call_id="c1"), 12)
    assert (state.status, state.reason) == ("not_ready", "training")
    presence = [e.msg for e in effects if isinstance(e, Send) and isinstance(e.msg, Presence)]
    assert presence[0].status == "away"


def test_configure_validates_proficiency_and_capacity() -> None:
    state = in_state("logged_out")
    for bad in (
        AgentProfile(skills={"fr": 11}),
        AgentProfile(skills={"fr": 0}),
        AgentProfile(voice_capacity=2),
        AgentProfile(wrap_up_s=50, max_wrap_up_s=10),
    ):
        _, effects = B.decide(state, Configure(profile=bad), 0)
        assert isinstance(effects[0], Fail) and effects[0].code == "agent.bad_profile"
    new, _ = B.decide(state, Configure(profile=AgentProfile(skills={"en": 1, "de": 10})), 0)
    assert new.profile.skills == {"en": 1, "de": 10}


def drive(p: Pump, login: str, *msgs: Message) -> Any:
    for m in msgs:
        p.tell(f"agent/{login}", m)
        p.run()
    return p.state(f"agent/{login}")


def test_full_call_cycle_over_the_pump_tells_the_matcher_each_availability_change() -> None:
    p = Pump([AgentBehaviour()])  # no matcher here: its mail lands in the outbox
    drive(p, "bob", Configure(profile=AgentProfile(skills={"en": 4}, wrap_up_s=3)))
    drive(p, "bob", Login(phone_uri="sip:bob@pbx"), Ready())
    p.advance(5)
    s = drive(p, "bob", Offer(call_id="c7", queue="support"), Ring(call_id="c7"))
    assert s.status == "ringing"
    p.advance(2)
    s = drive(p, "bob", Answered(call_id="c7"), Hold(call_id="c7"), Unhold(call_id="c7"))
    p.advance(30)
    s = drive(p, "bob", CallEnded(call_id="c7"))
    assert s.status == "wrap_up"
    p.advance(3)  # wrap-up timer
    s = p.state("agent/bob")
    assert s.status == "ready" and s.idle_since == p.now and s.talk_time_s == 30.0
    to_matcher = [m for to, m in p.outbox if to == MATCHER]
    kinds = [
        m.presence.status if isinstance(m, OfferOutcome) else m.status  # type: ignore[attr-defined]
        for m in to_matcher
    ]
    assert kinds == ["away", "ready", "busy", "ready"]
    assert isinstance(to_matcher[2], OfferOutcome) and to_matcher[2].outcome == "answered"
    path = [(e.from_state, e.to_state) for e in p.events(AgentTransition)]  # type: ignore[attr-defined]
    assert path == [
        ("logged_out", "not_ready"), ("not_ready", "ready"), ("ready", "reserved"),
        ("reserved", "ringing"), ("ringing", "talking"), ("talking", "on_hold"),
        ("on_hold", "talking"), ("talking", "wrap_up"), ("wrap_up", "ready"),
    ]  # fmt: skip


@pytest.mark.parametrize("status", ["reserved", "ringing"])
def test_caller_gone_before_answer_frees_the_agent_without_wrap_up(status: AgentStatus) -> None:
    new, effects = B.decide(in_state(status), CallEnded(call_id="c1"), 3)
    assert new.status == "ready" and new.call_id is None and new.calls_handled == 0
    (out,) = [e.msg for e in effects if isinstance(e, Send) and e.to == MATCHER]
    assert isinstance(out, OfferOutcome) and out.outcome == "withdrawn"


def test_logout_is_refused_mid_call_and_allowed_from_wrap_up() -> None:
    _, effects = B.decide(in_state("talking"), Logout(), 1)
    assert isinstance(effects[0], Fail)
    new, effects = B.decide(in_state("wrap_up"), Logout(), 1)
    assert new.status == "logged_out" and new.call_id is None
    (out,) = [e.msg for e in effects if isinstance(e, Send) and e.to == MATCHER]
    assert isinstance(out, Presence) and out.status == "offline"


def test_force_logout_while_offered_answers_the_offer_first() -> None:
    new, effects = B.decide(replace(in_state("ringing")), ForceLogout(reason="phone gone"), 1)
    assert new.status == "logged_out"
    (out,) = [e.msg for e in effects if isinstance(e, Send) and e.to == MATCHER]
    assert isinstance(out, OfferOutcome) and out.outcome == "not_available"
    assert out.presence.status == "offline"
