from __future__ import annotations

import numpy as np

from actors.agent.messages import (
    AgentTransition,
    Answered,
    CallEnded,
    CancelRing,
    Login,
    Pause,
    Ready,
    Ring,
    RingPhone,
    WrapUpDone,
)
from actors.effects import CancelTimer, Send, StartTimer, Stop
from actors.queue.messages import Abandon, Enqueue, Overflow
from sim.actors import (
    BackDue,
    CallerBehaviour,
    CallerStart,
    DeskBehaviour,
    DeskStart,
    HangUp,
    PatienceOver,
    PauseDue,
    PickUp,
    PickUpDue,
    Ringing,
)
from sim.distributions import Dist, fixed
from sim.scenario import AgentGroup, Pauses

CALLER = CallerBehaviour()


def ring(agent: str) -> RingPhone:
    return RingPhone(call_id="c1", agent=agent, phone_uri=f"sim:{agent}", ring_timeout_s=20)


def waiting_caller() -> object:
    s0 = CALLER.initial("call/c1")
    s1, effects = CALLER.decide(s0, CallerStart(queue="q", priority=3, patience_s=30), 0.0)
    assert effects == [
        Send(to="queue/q", msg=Enqueue(call_id="c1", priority=3)),
        StartTimer(key="patience", after_s=30, msg=PatienceOver()),
    ]
    return s1


def test_caller_rings_answers_and_hangs_up() -> None:
    s = waiting_caller()
    s, effects = CALLER.decide(s, ring("anna"), 1.0)  # type: ignore[arg-type]
    assert Send(to="agent/anna", msg=Ring(call_id="c1")) in effects
    assert Send(to="desk/anna", msg=Ringing(call_id="c1")) in effects
    s, effects = CALLER.decide(s, PickUp(agent="anna", talk_s=42.0), 3.0)
    assert effects == (
        Send(to="agent/anna", msg=Answered(call_id="c1")),
        CancelTimer(key="patience"),
        StartTimer(key="hang_up", after_s=42.0, msg=HangUp()),
    )
    # patience that fires anyway (it raced the answer) does nothing now
    assert CALLER.decide(s, PatienceOver(), 30.0)[1] == ()
    _, effects = CALLER.decide(s, HangUp(), 45.0)
    assert effects == (Send(to="agent/anna", msg=CallEnded(call_id="c1")), Stop())


def test_caller_ignores_a_pick_up_it_did_not_ring_or_cancelled() -> None:
    s = waiting_caller()
    s, _ = CALLER.decide(s, ring("anna"), 1.0)  # type: ignore[arg-type]
    assert CALLER.decide(s, PickUp(agent="bob", talk_s=1), 2.0)[1] == ()
    s, _ = CALLER.decide(s, CancelRing(call_id="c1", agent="anna", reason="no_answer"), 21.0)
    assert CALLER.decide(s, PickUp(agent="anna", talk_s=1), 22.0)[1] == ()


def test_caller_abandons_and_follows_overflow() -> None:
    s = waiting_caller()
    _, effects = CALLER.decide(s, PatienceOver(), 30.0)  # type: ignore[arg-type]
    assert effects == (Send(to="queue/q", msg=Abandon(call_id="c1")), Stop())
    over = Overflow(call_id="c1", queue="q", reason="max_wait", kind="queue", target="r",
                    waiting_since=0.5)  # fmt: skip
    moved, effects = CALLER.decide(s, over, 10.0)  # type: ignore[arg-type]
    assert effects == (
        Send(to="queue/r", msg=Enqueue(call_id="c1", priority=3, waiting_since=0.5)),
    )
    assert moved.queue == "r"
    out = Overflow(call_id="c1", queue="q", reason="max_wait", kind="voicemail", target="q",
                   waiting_since=0.5)  # fmt: skip
    assert CALLER.decide(s, out, 10.0)[1] == (Stop(),)  # type: ignore[arg-type]


def test_mail_for_a_caller_who_left_stops_at_once() -> None:
    s0 = CALLER.initial("call/gone")
    assert CALLER.decide(s0, PickUp(agent="anna", talk_s=1), 5.0)[1] == (Stop(),)


def group(**kw: object) -> AgentGroup:
    base: dict[str, object] = dict(group="g", count=1, skills={"s": 5}, answer_delay=fixed(2.0),
                                   talk=fixed(60.0), wrap_up=fixed(0.0))  # fmt: skip
    base.update(kw)
    return AgentGroup(**base)  # type: ignore[arg-type]


def transition(frm: str, to: str, reason: str = "") -> AgentTransition:
    return AgentTransition(
        agent="anna", from_state=frm, to_state=to, reason=reason, call_id="c1", queue="q",
        group="g", phone_uri="sim:anna", at=0.0,
    )


def test_desk_logs_in_picks_up_after_the_delay_and_draws_the_talk_time() -> None:
    desk = DeskBehaviour({"g": group()}, np.random.default_rng(0))
    s, effects = desk.decide(desk.initial("desk/anna"), DeskStart(group="g"), 0.0)
    assert effects == [Send(to="agent/anna", msg=Login(phone_uri="sim:anna")),
                       Send(to="agent/anna", msg=Ready())]  # fmt: skip
    s, effects = desk.decide(s, Ringing(call_id="c1"), 1.0)
    assert effects == (StartTimer(key="pick_up", after_s=2.0, msg=PickUpDue(call_id="c1")),)
    s, effects = desk.decide(s, PickUpDue(call_id="c1"), 3.0)
    assert effects == (Send(to="call/c1", msg=PickUp(agent="anna", talk_s=60.0)),)


def test_desk_cancels_pick_up_when_the_offer_goes_and_comes_back_after_no_answer() -> None:
    desk = DeskBehaviour({"g": group(back_after_no_answer_s=7.0)}, np.random.default_rng(0))
    s, _ = desk.decide(desk.initial("desk/anna"), DeskStart(group="g"), 0.0)
    s, _ = desk.decide(s, Ringing(call_id="c1"), 1.0)
    s, effects = desk.decide(s, transition("ringing", "not_ready", "no_answer"), 21.0)
    assert CancelTimer(key="pick_up") in effects
    assert StartTimer(key="back", after_s=7.0, msg=BackDue()) in effects
    assert desk.decide(s, PickUpDue(call_id="c1"), 21.0)[1] == ()  # stale


def test_desk_ends_variable_wrap_up_and_takes_pauses() -> None:
    g = group(wrap_up=Dist(kind="exponential", mean=20.0),
              pauses=Pauses(every=fixed(100.0), length=fixed(300.0), reason="lunch"))  # fmt: skip
    desk = DeskBehaviour({"g": g}, np.random.default_rng(0))
    s, effects = desk.decide(desk.initial("desk/anna"), DeskStart(group="g"), 0.0)
    assert effects[-1] == StartTimer(key="pause", after_s=100.0, msg=effects[-1].msg)  # type: ignore[union-attr]
    _, effects = desk.decide(s, transition("talking", "wrap_up"), 50.0)
    (timer,) = effects
    assert isinstance(timer, StartTimer) and timer.key == "wrap_up" and timer.after_s > 0
    _, effects = desk.decide(s, timer.msg, 60.0)
    assert effects == (Send(to="agent/anna", msg=WrapUpDone()),)
    _, effects = desk.decide(s, PauseDue(), 100.0)
    assert effects == (Send(to="agent/anna", msg=Pause(reason="lunch")),)
    _, effects = desk.decide(s, transition("ready", "not_ready", "lunch"), 100.0)
    assert StartTimer(key="back", after_s=300.0, msg=BackDue()) in effects
    _, effects = desk.decide(s, BackDue(), 400.0)
    assert effects == (Send(to="agent/anna", msg=Ready()),)

