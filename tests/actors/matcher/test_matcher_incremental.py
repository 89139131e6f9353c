"""The matcher's incremental working data against rebuilding it from the state every time.

One behaviour lives through a random sequence of every message the matcher takes (so its flat
maps and indices are kept up to date in place, message after message); a fresh behaviour per
message rebuilds them from the persisted state. Both must return equal states and effects, the
input state must come back untouched, the kept data must match the state, and handing the
long-lived behaviour an older state (a host retrying after a crash) must decide as if fresh.
"""

from __future__ import annotations

import copy
from typing import Any

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from actors.effects import Send
from actors.matcher import cow
from actors.matcher.behaviour import MatcherBehaviour
from actors.matcher.index import satisfies
from actors.matcher.messages import (
    MATCHER,
    STRATEGIES,
    GetMatcher,
    MatchCall,
    MatcherState,
    Offer,
    OfferExpired,
    OfferOutcome,
    Presence,
    Submit,
    Update,
    Withdraw,
)
from bus.message import Message

LOGINS = ["ann", "bob", "cat", "dan", "eve"]
CALLS = [f"c{i}" for i in range(8)]
QUEUES = ["q1", "q2", "q3"]
skills_st = st.dictionaries(st.sampled_from("xyz"), st.integers(1, 10), max_size=2)
OUTCOMES = ["answered", "rejected", "no_answer", "not_available", "withdrawn"]


def rank(c: MatchCall) -> tuple[int, float, int]:
    return (-c.priority, c.waiting_since, c.seq)


class Incremental(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.live = MatcherBehaviour()
        self.state: MatcherState = self.live.initial(MATCHER)
        self.now = 0.0
        self.offers: list[tuple[str, str]] = []  # (call, agent) offered, outcome not yet given
        self.last: tuple[MatcherState, Message, float, Any] | None = None

    def step(self, msg: Message) -> None:
        before = self.state
        pristine = copy.deepcopy(before)
        new, effects = self.live.decide(before, msg, self.now)
        fresh_new, fresh_effects = MatcherBehaviour().decide(before, msg, self.now)
        assert new == fresh_new
        assert list(effects) == list(fresh_effects)
        assert before == pristine, "decide changed the state it was given"
        calls = cow.flat(new.calls)
        waiting = [c for c in calls.values() if not c.offered_to]
        for e in effects:
            if isinstance(e, Send) and isinstance(e.msg, Offer):
                login = e.to.partition("/")[2]
                self.offers.append((e.msg.call_id, login))
                skills = cow.flat(new.agents)[login].skills
                offered = calls[e.msg.call_id]
                better = [c.call_id for c in waiting
                          if satisfies(skills, c.skills) and rank(c) < rank(offered)]  # fmt: skip
                assert not better, f"{login} got {offered.call_id} while {better} waited ahead"
        self.last = (before, msg, self.now, (new, list(effects)))
        self.state = new

    @rule(login=st.sampled_from(LOGINS), skills=skills_st,
          status=st.sampled_from(["ready", "ready", "busy", "away", "offline"]),
          idle=st.integers(0, 9), handled=st.integers(0, 3))  # fmt: skip
    def presence(self, login: str, skills: dict[str, int], status: str, idle: int,
                 handled: int) -> None:  # fmt: skip
        self.step(Presence(login=login, status=status, skills=skills,  # type: ignore[arg-type]
                           idle_since=float(idle), calls_handled=handled))  # fmt: skip

    @rule(call=st.sampled_from(CALLS), queue=st.sampled_from(QUEUES), skills=skills_st,
          strategy=st.sampled_from(STRATEGIES), prio=st.integers(0, 2), since=st.integers(0, 9),
          check=st.booleans(), ring_all_max=st.integers(1, 3))  # fmt: skip
    def submit(self, call: str, queue: str, skills: dict[str, int], strategy: str, prio: int,
               since: int, check: bool, ring_all_max: int) -> None:  # fmt: skip
        self.step(Submit(call_id=call, queue=queue, priority=prio, waiting_since=float(since),
                         skills=skills, strategy=strategy,  # type: ignore[arg-type]
                         ring_all_max=ring_all_max, check_staffed=check))  # fmt: skip

    @rule(call=st.sampled_from(CALLS), skills=skills_st)
    def update(self, call: str, skills: dict[str, int]) -> None:
        self.step(Update(call_id=call, skills=skills))

    @rule(call=st.sampled_from(CALLS), queue=st.sampled_from(["", *QUEUES]))
    def withdraw(self, call: str, queue: str) -> None:
        self.step(Withdraw(call_id=call, reason="caller hung up", queue=queue))

    @precondition(lambda self: bool(self.offers))
    @rule(i=st.integers(0, 20), outcome=st.sampled_from(OUTCOMES),
          status=st.sampled_from(["ready", "busy", "away"]),
          skills=st.none() | skills_st)  # fmt: skip
    def outcome(self, i: int, outcome: str, status: str, skills: dict[str, int] | None) -> None:
        call, login = self.offers.pop(i % len(self.offers))
        if skills is None:  # (usually the agent's skills stay what they were)
            known = cow.get(self.state.agents, login)
            skills = {} if known is None else known.skills
        presence = Presence(login=login, status=status, skills=skills,  # type: ignore[arg-type]
                            idle_since=self.now)  # fmt: skip
        self.step(OfferOutcome(call_id=call, login=login, outcome=outcome,  # type: ignore[arg-type]
                               presence=presence))  # fmt: skip

    @rule(call=st.sampled_from(CALLS), login=st.sampled_from(LOGINS))
    def stale_outcome(self, call: str, login: str) -> None:
        presence = Presence(login=login, status="ready", idle_since=self.now)
        self.step(OfferOutcome(call_id=call, login=login, outcome="no_answer", presence=presence))

    @precondition(lambda self: bool(self.offers))
    @rule(i=st.integers(0, 20))
    def expire(self, i: int) -> None:
        call, login = self.offers[i % len(self.offers)]
        self.step(OfferExpired(call_id=call, login=login))

    @rule()
    def ask_stats(self) -> None:
        self.step(GetMatcher())

    @rule(seconds=st.integers(1, 30))
    def tick(self, seconds: int) -> None:
        self.now += seconds

    @precondition(lambda self: self.last is not None)
    @rule()
    def host_retries_the_last_message(self) -> None:
        assert self.last is not None
        before, msg, now, (new, effects) = self.last
        again, again_effects = self.live.decide(before, msg, now)
        assert again == new and list(again_effects) == effects
        self.state = again  # an equal state, but not the object the kept data describes

    @invariant()
    def no_free_agent_could_serve_a_waiting_call(self) -> None:
        agents, calls = cow.flat(self.state.agents), cow.flat(self.state.calls)
        waiting = [c for c in calls.values() if not c.offered_to]
        for a in agents.values():
            if a.ready and a.offer is None:
                able = [c.call_id for c in waiting if satisfies(a.skills, c.skills)]
                assert not able, f"{a.login} is free while {able} wait"
        for c in calls.values():
            for login in c.offered_to:
                assert agents[login].offer == c.call_id

    @invariant()
    def kept_data_describes_the_state(self) -> None:
        live = self.live._live.get(MATCHER)
        if live is None or live.state is not self.state:
            return  # nothing kept for this state: it is rebuilt on the next message
        state = self.state
        assert live.agents == cow.flat(state.agents)
        assert live.calls == cow.flat(state.calls)
        free = {a.login for a in live.agents.values() if a.ready and a.offer is None}
        assert set(live.ready.members) == free
        assert all(live.ready.members[x] is live.agents[x] for x in free)
        waiting = {c.call_id for c in live.calls.values() if not c.offered_to}
        assert set(live.waiting.members) == waiting


TestIncremental = Incremental.TestCase
TestIncremental.settings = settings(max_examples=100, stateful_step_count=40, deadline=None)
