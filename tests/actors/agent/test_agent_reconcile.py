"""The reconciler frees agents whose call vanished and logs out agents whose phone vanished."""

from __future__ import annotations

from actors.agent.behaviour import AgentBehaviour
from actors.agent.messages import (
    AgentTransition,
    Answered,
    ForceLogout,
    ForceRelease,
    Login,
    Ready,
    Repair,
)
from actors.agent.reconcile import (
    AgentView,
    Reconcile,
    Reconciled,
    ReconcilerBehaviour,
    reconcile,
    view_of,
    views_from,
)
from actors.effects import Journal, Send
from actors.matcher.behaviour import MatcherBehaviour
from actors.matcher.messages import MATCHER, GetMatcher, MatcherStats, Offer
from actors.matcher.pump import Pump
from actors.queue.behaviour import QueueBehaviour
from actors.queue.messages import CallAbandoned, Enqueue


def v(login: str, status: str, call: str | None = None, phone: str = "") -> AgentView:
    return AgentView(login=login, status=status, call_id=call, phone_uri=phone or f"sip:{login}")


def test_pure_function_picks_exactly_the_broken_agents() -> None:
    agents = [
        v("a", "ringing", "gone"),  # call gone -> release
        v("b", "talking", "live"),  # fine
        v("c", "ready", phone="sip:dead"),  # phone gone -> logout
        v("d", "logged_out", phone="sip:dead"),  # already out
        v("e", "on_hold", "gone", phone="sip:dead"),  # phone wins: logout
        v("f", "reserved", "gone2"),
    ]
    registered = {"sip:a", "sip:b", "sip:f"}
    effects = reconcile(agents, {"live"}, registered, now=7.0)
    sends = [(e.to, e.msg) for e in effects if isinstance(e, Send)]
    assert sends == [
        ("agent/a", ForceRelease(call_id="gone", reason="call gone is gone")),
        ("agent/c", ForceLogout(reason="phone sip:dead is not registered")),
        ("agent/e", ForceLogout(reason="phone sip:dead is not registered")),
        ("agent/f", ForceRelease(call_id="gone2", reason="call gone2 is gone")),
    ]
    repairs = [e.event for e in effects if isinstance(e, Journal)]
    assert [(r.agent, r.action, r.at) for r in repairs] == [  # type: ignore[attr-defined]
        ("a", "release", 7.0), ("c", "logout", 7.0), ("e", "logout", 7.0), ("f", "release", 7.0),
    ]  # fmt: skip
    assert all(isinstance(r, Repair) for r in repairs)


def test_repairs_through_the_pump_free_the_agent_and_drop_the_dead_call() -> None:
    p = Pump([AgentBehaviour(), MatcherBehaviour(), QueueBehaviour(), ReconcilerBehaviour()])
    for login in ("a", "b"):
        p.ask(f"agent/{login}", Login(phone_uri=f"sip:{login}"))
        p.ask(f"agent/{login}", Ready())
    p.tell("queue/q", Enqueue(call_id="c1"))
    p.tell("queue/q", Enqueue(call_id="c2"))
    p.run()
    p.tell("agent/b", Answered(call_id="c2"))
    p.run()
    assert p.state("agent/a").status == "reserved" and p.state("agent/b").status == "talking"
    # c1's call actor died without a word; b's phone unregistered
    views = views_from(p.events(AgentTransition))
    assert views["a"] == view_of(p.state("agent/a"))
    waiting = {e.call_id: "q" for e in p.state("queue/q").entries}
    got = p.ask(
        "reconciler/main",
        Reconcile(
            agents=tuple(views.values()), live_calls=("c2",), registered=("sip:a",),
            waiting=waiting,
        ),
    )  # fmt: skip
    assert got == Reconciled(repairs=3)
    a = p.state("agent/a")
    assert (a.status, a.call_id, a.reason) == ("ready", None, "repair: call c1 is gone")
    assert p.state("agent/b").status == "logged_out"
    assert p.state("queue/q").entries == ()
    stats = p.ask(MATCHER, GetMatcher())
    assert isinstance(stats, MatcherStats)
    assert (stats.agents_logged_in, stats.agents_ready, stats.calls_waiting) == (1, 1, 0)
    assert stats.calls_offered == 0 and stats.agents_reserved == 0
    actions = [(e.action, e.call_id) for e in p.events(Repair)]  # type: ignore[attr-defined]
    assert actions == [("drop", "c1"), ("release", "c1"), ("logout", "c2")]
    assert [e.call_id for e in p.events(CallAbandoned)] == ["c1"]  # type: ignore[attr-defined]


def test_release_of_a_talking_agent_goes_to_wrap_up() -> None:
    p = Pump([AgentBehaviour()])
    p.ask("agent/a", Login(phone_uri="sip:a"))
    p.ask("agent/a", Ready())
    p.tell("agent/a", Offer(call_id="c1", queue="q"))
    p.tell("agent/a", Answered(call_id="c1"))
    p.run()
    for e in reconcile([view_of(p.state("agent/a"))], set(), {"sip:a"}, 1.0):
        if isinstance(e, Send):
            p.tell(e.to, e.msg)
    p.run()
    s = p.state("agent/a")
    assert s.status == "wrap_up" and s.reason == "repair: call c1 is gone" and s.calls_handled == 1
