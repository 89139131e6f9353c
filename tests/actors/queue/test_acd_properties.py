"""Stateful property test of the whole ACD at message level (agents + queues + matcher).

Random arrivals, rings, answers, rejects, no-answers (time passing), hang-ups, abandons,
ready/pause/logout/login and wrap-up clicks. The test plays every call actor. Checked:

* never two calls offered to one agent at once (matcher side and agent side);
* the matcher's invariant: after each of its steps no ready, unreserved agent can serve any
  waiting call, and each Offer went to the best call (priority, then wait) the agent could serve
  among the calls still waiting;
* conservation: every call is in exactly one queue or has ended answered, abandoned or
  overflowed - and at the end, with everybody working, every call has ended.
"""

from __future__ import annotations

from typing import Any

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from actors.agent.behaviour import AgentBehaviour
from actors.agent.messages import (
    AgentProfile,
    Answered,
    CallEnded,
    Configure,
    Login,
    Logout,
    Pause,
    Ready,
    Reject,
    Ring,
    WrapUpDone,
)
from actors.effects import Send
from actors.matcher import cow
from actors.matcher.behaviour import MatcherBehaviour
from actors.matcher.index import satisfies
from actors.matcher.messages import MATCHER, MatcherState, Offer, OfferExpired, OfferOutcome
from actors.matcher.pump import Pump, Step
from actors.queue.behaviour import QueueBehaviour
from actors.queue.messages import (
    Abandon,
    CallAbandoned,
    CallAnswered,
    CallOverflowed,
    CallQueued,
    ConfigureQueue,
    Enqueue,
    Overflow,
    OverflowRule,
    QueueConfig,
    RelaxStep,
)

AGENTS: dict[str, dict[str, int]] = {
    "a1": {"fr": 7, "en": 2},
    "a2": {"en": 5},
    "a3": {"de": 3, "fr": 4},
    "a4": {},
    "a5": {"fr": 9, "en": 9, "de": 9},
}
QUEUES: dict[str, QueueConfig] = {
    "q1": QueueConfig(skills={"fr": 5}, relax=(RelaxStep(after_s=60, skills={}),)),
    "q2": QueueConfig(
        strategy="skills-weighted", skills={"en": 3},
        overflow=(OverflowRule(when="max_wait", kind="queue", target="q3", threshold=120),),
    ),
    "q3": QueueConfig(
        strategy="round-robin",
        overflow=(OverflowRule(when="max_wait", kind="voicemail", target="vm", threshold=300),),
    ),
    "q4": QueueConfig(
        strategy="ring-all", skills={"de": 2}, ring_all_max=2,
        relax=(RelaxStep(after_s=30, skills={"de": 1}),),
        overflow=(OverflowRule(when="no_agents", kind="external", target="+3300"),),
    ),
    "q5": QueueConfig(strategy="random", skills={"fr": 3, "de": 3}),
}  # fmt: skip
OFFERED = ("reserved", "ringing")


def call_key(c: Any) -> tuple[int, float, int]:
    return (-c.priority, c.waiting_since, c.seq)


class ACD(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.outstanding: dict[str, str] = {}  # agent -> call offered, outcome not yet given
        self.p = Pump(
            [AgentBehaviour(), MatcherBehaviour(), QueueBehaviour()], observers=[self.observe]
        )
        for name, cfg in QUEUES.items():
            self.p.ask(f"queue/{name}", ConfigureQueue(config=cfg))
        for login, skills in AGENTS.items():
            profile = AgentProfile(skills=skills, wrap_up_s=8)
            self.p.ask(f"agent/{login}", Configure(profile=profile))
        self.n = 0
        self.seen_outbox = 0

    # ------------------------------------------------------------- observing every step

    def observe(self, step: Step) -> None:
        kind = step.address.partition("/")[0]
        if kind == "agent":
            login = step.address[6:]
            for e in step.effects:
                if (
                    isinstance(e, Send)
                    and isinstance(e.msg, OfferOutcome)
                    and self.outstanding.get(login) == e.msg.call_id
                ):
                    del self.outstanding[login]
        if kind != "matcher":
            return
        before: MatcherState = step.before  # type: ignore[assignment]
        after: MatcherState = step.after  # type: ignore[assignment]
        if isinstance(step.msg, OfferExpired):
            a = cow.get(before.agents, step.msg.login)
            if a is not None and a.offer == step.msg.call_id:
                self.outstanding.pop(step.msg.login, None)
        waiting = [c for c in cow.values(after.calls) if not c.offered_to]
        for e in step.effects:
            if isinstance(e, Send) and isinstance(e.msg, Offer):
                login = e.to[6:]
                held = self.outstanding.get(login)
                assert held is None, f"{login} offered {e.msg.call_id} while holding {held}"
                self.outstanding[login] = e.msg.call_id
                call_id = e.msg.call_id
                offered = cow.get(before.calls, call_id) or cow.get(after.calls, call_id)
                assert offered is not None
                skills = cow.get(after.agents, login).skills  # type: ignore[union-attr]
                better = [
                    c.call_id
                    for c in waiting
                    if satisfies(skills, c.skills) and call_key(c) < call_key(offered)
                ]
                assert not better, f"{login} got {offered.call_id} but {better} waited ahead"
        for a in cow.values(after.agents):
            if a.ready and a.offer is None:
                servable = [c.call_id for c in waiting if satisfies(a.skills, c.skills)]
                assert not servable, f"{a.login} idle while {servable} wait"
        for c in cow.values(after.calls):
            for login in c.offered_to:
                assert cow.get(after.agents, login).offer == c.call_id  # type: ignore[union-attr]

    # ------------------------------------------------------------- playing the call actors

    def settle(self) -> None:
        self.p.run()
        out = self.p.outbox
        while self.seen_outbox < len(out):
            _to, msg = out[self.seen_outbox]
            self.seen_outbox += 1
            if isinstance(msg, Overflow) and msg.kind == "queue":
                self.p.tell(
                    f"queue/{msg.target}",
                    Enqueue(call_id=msg.call_id, waiting_since=msg.waiting_since),
                )
                self.p.run()

    def agents_in(self, *states: str) -> list[str]:
        return [a for a in AGENTS if self.p.state(f"agent/{a}").status in states]

    def waiting_calls(self) -> list[tuple[str, str]]:
        return [
            (q, e.call_id) for q in QUEUES for e in self.p.state(f"queue/{q}").entries
        ]

    @rule(queue=st.sampled_from(sorted(QUEUES)), priority=st.integers(0, 2))
    def arrive(self, queue: str, priority: int) -> None:
        self.n += 1
        self.p.tell(f"queue/{queue}", Enqueue(call_id=f"c{self.n}", priority=priority))
        self.settle()

    @rule(i=st.integers(0, 4), what=st.sampled_from(["ring", "answer", "reject"]))
    def phone(self, i: int, what: str) -> None:
        offered = self.agents_in(*OFFERED)
        if not offered:
            return
        login = offered[i % len(offered)]
        call = self.p.state(f"agent/{login}").call_id
        msg = {"ring": Ring, "answer": Answered, "reject": Reject}[what](call_id=call)
        self.p.tell(f"agent/{login}", msg)
        self.settle()

    @rule(i=st.integers(0, 4))
    def hang_up(self, i: int) -> None:
        talking = self.agents_in("talking", "on_hold")
        if talking:
            login = talking[i % len(talking)]
            self.p.tell(f"agent/{login}", CallEnded(call_id=self.p.state(f"agent/{login}").call_id))
            self.settle()

    @rule(i=st.integers(0, 50), tell_agent=st.booleans())
    def abandon(self, i: int, tell_agent: bool) -> None:
        waiting = self.waiting_calls()
        if not waiting:
            return
        queue, call = waiting[i % len(waiting)]
        self.p.tell(f"queue/{queue}", Abandon(call_id=call))
        if tell_agent:  # the call actor also drops the agent leg it was ringing
            for login in self.agents_in(*OFFERED):
                if self.p.state(f"agent/{login}").call_id == call:
                    self.p.tell(f"agent/{login}", CallEnded(call_id=call))
        self.settle()

    @rule(login=st.sampled_from(sorted(AGENTS)),
          what=st.sampled_from(["login", "ready", "pause", "logout", "wrap_up_done"]))  # fmt: skip
    def desk(self, login: str, what: str) -> None:
        msg = {
            "login": Login(phone_uri=f"sip:{login}@pbx"),
            "ready": Ready(),
            "pause": Pause(reason="break"),
            "logout": Logout(),
            "wrap_up_done": WrapUpDone(),
        }[what]
        self.p.ask(f"agent/{login}", msg)  # illegal ones are refused with a Fail: fine
        self.settle()

    @rule(seconds=st.floats(0.5, 45.0))
    def tick(self, seconds: float) -> None:
        self.p.advance(seconds)
        self.settle()

    # ------------------------------------------------------------- invariants

    def ledger(self) -> tuple[set[str], set[str]]:
        queued = {e.call_id for e in self.p.events(CallQueued)}  # type: ignore[attr-defined]
        ended = {
            e.call_id
            for e in self.p.events()
            if isinstance(e, CallAnswered | CallAbandoned)
            or (isinstance(e, CallOverflowed) and e.kind != "queue")
        }
        return queued, ended

    @invariant()
    def every_call_is_somewhere_exactly_once(self) -> None:
        queued, ended = self.ledger()
        placed: dict[str, int] = {}
        for _q, call in self.waiting_calls():
            placed[call] = placed.get(call, 0) + 1
        for call in queued:
            assert placed.get(call, 0) + (call in ended) == 1, call
        m: MatcherState = self.p.state(MATCHER)
        assert {c.call_id for c in cow.values(m.calls)} == set(placed)
        for q in QUEUES:
            for e in self.p.state(f"queue/{q}").entries:
                assert e.offered == bool(cow.get(m.calls, e.call_id).offered_to)  # type: ignore[union-attr]

    @invariant()
    def agents_hold_at_most_their_one_offer(self) -> None:
        for login in AGENTS:
            s = self.p.state(f"agent/{login}")
            if s.status in OFFERED:
                assert self.outstanding.get(login) == s.call_id

    def teardown(self) -> None:
        """Everybody works until the queues are empty: then every call must have ended."""
        p = self.p
        for login in AGENTS:
            p.ask(f"agent/{login}", Login(phone_uri=f"sip:{login}@pbx"))
            p.ask(f"agent/{login}", Ready())
        self.settle()
        for _ in range(200):
            for login in self.agents_in("wrap_up", "not_ready"):
                p.ask(f"agent/{login}", Ready())
            self.settle()
            if not self.waiting_calls() and not self.agents_in(*OFFERED):
                break
            for login in self.agents_in(*OFFERED):
                p.tell(f"agent/{login}", Answered(call_id=p.state(f"agent/{login}").call_id))
            self.settle()
            for login in self.agents_in("talking", "on_hold"):
                p.tell(f"agent/{login}", CallEnded(call_id=p.state(f"agent/{login}").call_id))
            self.settle()
            p.advance(30)  # relaxation, overflow and wrap-up timers
            self.settle()
        queued, ended = self.ledger()
        assert queued == ended, f"calls never finished: {sorted(queued - ended)}"


ACD.TestCase.settings = settings(max_examples=60, stateful_step_count=40, deadline=None)
TestACD = ACD.TestCase
