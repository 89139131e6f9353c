"""The queue actor: order, announcements, relaxation, overflow, callbacks, abandon."""

from __future__ import annotations

from typing import Any

from actors.agent.behaviour import AgentBehaviour
from actors.agent.messages import AgentProfile, Answered, Configure, Login, Logout, Ready, RingPhone
from actors.effects import Fail
from actors.matcher.behaviour import MatcherBehaviour
from actors.matcher.messages import MATCHER, GetMatcher, MatcherStats, Offer
from actors.matcher.pump import Pump
from actors.queue.behaviour import QueueBehaviour
from actors.queue.messages import (
    Abandon,
    Announce,
    CallAbandoned,
    CallAnswered,
    CallbackRequested,
    CallOverflowed,
    CallQueued,
    ConfigureQueue,
    Enqueue,
    Overflow,
    OverflowRule,
    QueueConfig,
    Queued,
    RelaxStep,
    RequestCallback,
    RequirementsRelaxed,
)


def acd(**queues: QueueConfig) -> Pump:
    p = Pump([AgentBehaviour(), MatcherBehaviour(), QueueBehaviour()])
    for name, cfg in queues.items():
        assert not isinstance(p.ask(f"queue/{name}", ConfigureQueue(config=cfg)), Fail)
    return p


def agent(p: Pump, login: str, ready: bool = True, **skills: int) -> None:
    p.ask(f"agent/{login}", Configure(profile=AgentProfile(skills=skills, wrap_up_s=5)))
    p.ask(f"agent/{login}", Login(phone_uri=f"sip:{login}@pbx"))
    if ready:
        p.ask(f"agent/{login}", Ready())


def stats(p: Pump) -> MatcherStats:
    got = p.ask(MATCHER, GetMatcher())
    assert isinstance(got, MatcherStats)
    return got


def offers(p: Pump) -> list[tuple[str, str]]:
    return [(m.agent, m.call_id) for _, m in p.sent_to("call", RingPhone)]  # type: ignore[attr-defined]


def last(p: Pump, cls: type[Any]) -> Any:
    return [m for _, m in p.outbox if isinstance(m, cls)][-1]


def test_line_is_priority_then_wait_and_positions_are_announced() -> None:
    p = acd(q=QueueConfig(announce_every_s=30))
    first = p.ask("queue/q", Enqueue(call_id="a"))
    assert first == Queued(call_id="a", queue="q", position=1, ewt_s=60)
    p.advance(1)
    p.ask("queue/q", Enqueue(call_id="b"))
    p.advance(1)
    got = p.ask("queue/q", Enqueue(call_id="vip", priority=5))
    assert isinstance(got, Queued) and got.position == 1
    assert [e.call_id for e in p.state("queue/q").entries] == ["vip", "a", "b"]
    p.outbox.clear()
    p.advance(29)
    said = {m.call_id: m.position for _, m in p.sent_to("call", Announce)}  # type: ignore[attr-defined]
    assert said == {"a": 2, "b": 3}  # vip's own announcement is due at 32 s
    p.advance(1)
    assert last(p, Announce) == Announce(call_id="vip", queue="q", position=1, ewt_s=60.0)
    # an agent takes the vip first, whatever the arrival order
    agent(p, "ann")
    assert offers(p) == [("ann", "vip")]


def test_ewt_switches_from_the_configured_guess_to_measured_answers() -> None:
    p = acd(q=QueueConfig(ewt_per_position_s=100))
    for i in range(4):
        p.tell("queue/q", Enqueue(call_id=f"c{i}"))
    p.run()
    agent(p, "ann")
    p.tell("agent/ann", Answered(call_id="c0"))
    p.advance(10)
    p.ask("agent/ann", Ready())  # not legal mid-call: ignored (Fail) - the call goes on
    state = p.state("queue/q")
    assert state.last_answer_at == 0.0 and state.answer_interval_s is None
    q = p.ask("queue/q", Enqueue(call_id="x"))
    assert isinstance(q, Queued) and q.ewt_s == 4 * 100  # still the guess: one answer so far
    agent(p, "bob")
    p.tell("agent/bob", Answered(call_id="c1"))
    p.run()
    q = p.ask("queue/q", Enqueue(call_id="y"))
    assert isinstance(q, Queued) and q.ewt_s == 4 * 10.0  # measured: one answer per 10 s


def test_requirements_relax_with_wait_and_then_match() -> None:
    p = acd(q=QueueConfig(skills={"fr": 8}, relax=(
        RelaxStep(after_s=20, skills={"fr": 6}), RelaxStep(after_s=45, skills={"fr": 4}),
    )))  # fmt: skip
    agent(p, "ann", fr=5)
    p.ask("queue/q", Enqueue(call_id="c1"))
    p.advance(44)
    assert offers(p) == []
    p.advance(1)
    assert offers(p) == [("ann", "c1")]
    relaxed = [(e.skills, e.waited_s) for e in p.events(RequirementsRelaxed)]  # type: ignore[attr-defined]
    assert relaxed == [({"fr": 6}, 20.0), ({"fr": 4}, 45.0)]


def test_overflow_on_max_wait_goes_to_the_call_actor_and_leaves_the_matcher() -> None:
    rule = OverflowRule(when="max_wait", kind="voicemail", target="vm-sales", threshold=60)
    p = acd(q=QueueConfig(overflow=(rule,)))
    p.ask("queue/q", Enqueue(call_id="c1", waiting_since=-15.0))
    p.advance(59)
    assert stats(p).calls_waiting == 1
    p.advance(1)
    assert last(p, Overflow) == Overflow(
        call_id="c1", queue="q", reason="max_wait", kind="voicemail", target="vm-sales",
        waiting_since=-15.0,
    )  # fmt: skip
    assert stats(p).calls_waiting == 0 and p.state("queue/q").entries == ()
    (ev,) = p.events(CallOverflowed)
    assert isinstance(ev, CallOverflowed) and ev.waited_s == 60.0


def test_overflow_to_another_queue_keeps_the_callers_wait() -> None:
    spill = OverflowRule(when="max_length", kind="queue", target="backup", threshold=1)
    p = acd(main=QueueConfig(overflow=(spill,)), backup=QueueConfig())
    p.ask("queue/backup", Enqueue(call_id="local", waiting_since=5.0))
    p.ask("queue/main", Enqueue(call_id="first", waiting_since=0.0))
    got = p.ask("queue/main", Enqueue(call_id="second", waiting_since=1.0))
    assert isinstance(got, Overflow) and (got.kind, got.target) == ("queue", "backup")
    # the call actor re-enqueues, passing waiting_since on
    p.ask("queue/backup", Enqueue(call_id="second", waiting_since=got.waiting_since))
    agent(p, "ann")
    agent(p, "bob")
    assert offers(p) == [("ann", "first"), ("bob", "second")]  # 'second' waited longer than 'local'
    kinds = [type(e).__name__ for e in p.events() if getattr(e, "call_id", "") == "second"]
    assert kinds[:3] == ["CallQueued", "CallOverflowed", "CallQueued"]


def test_overflow_on_estimated_wait() -> None:
    rule = OverflowRule(when="ewt", kind="callback", threshold=150)
    p = acd(q=QueueConfig(ewt_per_position_s=60, overflow=(rule,)))
    assert isinstance(p.ask("queue/q", Enqueue(call_id="a")), Queued)  # 60 s
    assert isinstance(p.ask("queue/q", Enqueue(call_id="b")), Queued)  # 120 s
    got = p.ask("queue/q", Enqueue(call_id="c"))  # 180 s > 150
    assert isinstance(got, Overflow) and got.reason == "ewt" and got.kind == "callback"


def test_overflow_when_nobody_who_could_serve_is_logged_in() -> None:
    rule = OverflowRule(when="no_agents", kind="external", target="+33100000000")
    p = acd(q=QueueConfig(skills={"de": 3}, overflow=(rule,)))
    agent(p, "ann", ready=False, fr=9)  # logged in, but wrong skill
    p.ask("queue/q", Enqueue(call_id="c1"))
    assert last(p, Overflow).reason == "no_agents"
    agent(p, "dirk", ready=False, de=3)  # staffed now, though nobody is ready
    p.ask("queue/q", Enqueue(call_id="c2"))
    assert [e.call_id for e in p.state("queue/q").entries] == ["c2"]
    p.ask("agent/dirk", Logout())  # the last able agent leaves: the waiting call overflows
    assert last(p, Overflow).call_id == "c2" and p.state("queue/q").entries == ()


def test_callback_keeps_the_place_and_stops_prompts_and_max_wait() -> None:
    rule = OverflowRule(when="max_wait", kind="voicemail", target="vm", threshold=30)
    p = acd(q=QueueConfig(announce_every_s=10, overflow=(rule,)))
    p.ask("queue/q", Enqueue(call_id="a"))
    p.advance(1)
    p.ask("queue/q", Enqueue(call_id="b"))
    got = p.ask("queue/q", RequestCallback(call_id="a", number="+331234"))
    assert isinstance(got, Queued) and got.position == 1
    p.outbox.clear()
    p.advance(100)
    assert {m.call_id for _, m in p.sent_to("call", Announce)} == {"b"}  # type: ignore[attr-defined]
    assert [m.call_id for _, m in p.sent_to("call", Overflow)] == ["b"]  # type: ignore[attr-defined]
    agent(p, "ann")
    assert offers(p) == [("ann", "a")]
    assert p.events(CallbackRequested)[0].position == 1  # type: ignore[attr-defined]
    offer = [m for to, m in p.journal if isinstance(m, Offer)]
    assert offer == []  # offers are mail, not journal
    assert p.state("agent/ann").call_id == "a"


def test_abandon_while_offered_frees_the_agent_and_journals_the_wait() -> None:
    p = acd(q=QueueConfig())
    agent(p, "ann")
    p.advance(3)
    p.ask("queue/q", Enqueue(call_id="c1"))
    assert p.state("agent/ann").status == "reserved"
    p.advance(4)
    p.tell("queue/q", Abandon(call_id="c1"))
    p.run()
    assert p.state("agent/ann").status == "ready"
    (ev,) = p.events(CallAbandoned)
    assert isinstance(ev, CallAbandoned) and ev.waited_s == 4.0
    assert stats(p).agents_ready == 1 and stats(p).calls_waiting == 0


def test_every_call_ends_answered_abandoned_or_overflowed_in_the_journal() -> None:
    rule = OverflowRule(when="max_wait", kind="voicemail", target="vm", threshold=50)
    p = acd(q=QueueConfig(overflow=(rule,)))
    agent(p, "ann")
    for i in range(3):
        p.ask("queue/q", Enqueue(call_id=f"c{i}"))
    p.tell("agent/ann", Answered(call_id="c0"))
    p.tell("queue/q", Abandon(call_id="c1"))
    p.advance(60)
    queued = {e.call_id for e in p.events(CallQueued)}  # type: ignore[attr-defined]
    ended = [
        (type(e).__name__, e.call_id)  # type: ignore[attr-defined]
        for e in p.events()
        if isinstance(e, CallAnswered | CallAbandoned | CallOverflowed)
    ]
    assert queued == {"c0", "c1", "c2"}
    assert sorted(ended) == [
        ("CallAbandoned", "c1"), ("CallAnswered", "c0"), ("CallOverflowed", "c2"),
    ]  # fmt: skip


def test_bad_config_and_duplicates_are_typed_fails() -> None:
    p = acd()
    bad = [
        QueueConfig(skills={"fr": 12}),
        QueueConfig(relax=(RelaxStep(after_s=10, skills={}), RelaxStep(after_s=5, skills={}))),
        QueueConfig(overflow=(OverflowRule(when="max_wait", kind="queue", threshold=5),)),
        QueueConfig(overflow=(OverflowRule(when="max_wait", kind="queue", target="q"),)),
        QueueConfig(ring_all_max=0),
    ]
    for cfg in bad:
        got = p.ask("queue/q", ConfigureQueue(config=cfg))
        assert isinstance(got, Fail) and got.code == "queue.bad_config" and "queue/q" in got.text
    p.ask("queue/q", Enqueue(call_id="c1"))
    dup = p.ask("queue/q", Enqueue(call_id="c1"))
    assert isinstance(dup, Fail) and dup.code == "queue.duplicate"
