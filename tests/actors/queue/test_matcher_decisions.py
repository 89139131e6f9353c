"""The global matcher alone: strategies, reasons, reservations, restarts, index vs brute force.

Agents are not behaviours here: the test speaks for them (Presence, OfferOutcome) and reads the
Offers the matcher mails them from the pump's outbox.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from actors.matcher import MATCHER_MESSAGES, cow
from actors.matcher.behaviour import OFFER_GRACE_S, MatcherBehaviour
from actors.matcher.index import ReadyIndex, WaitingIndex, satisfies
from actors.matcher.messages import (
    MATCHER,
    Decision,
    MatchAgent,
    MatchCall,
    Matched,
    Offer,
    OfferOutcome,
    OfferWithdrawn,
    Presence,
    Returned,
    Strategy,
    Submit,
    Withdraw,
)
from actors.matcher.pump import Pump
from actors.matcher.strategies import choose_agents
from bus.codec import Catalogue, Codec


def matcher() -> Pump:
    return Pump([MatcherBehaviour()])


def ready(p: Pump, login: str, idle_since: float = 0.0, calls: int = 0, talk: float = 0.0,
          **skills: int) -> None:  # fmt: skip
    p.tell(MATCHER, Presence(login=login, status="ready", skills=skills, idle_since=idle_since,
                             calls_handled=calls, talk_time_s=talk))  # fmt: skip
    p.run()


def submit(p: Pump, call: str, strategy: Strategy = "longest-idle", prio: int = 0,
           since: float = 0.0, queue: str = "q", **skills: int) -> None:  # fmt: skip
    p.tell(MATCHER, Submit(call_id=call, queue=queue, priority=prio, waiting_since=since,
                           skills=skills, strategy=strategy, ring_all_max=3))  # fmt: skip
    p.run()


def offers(p: Pump) -> list[tuple[str, str]]:
    return [(to[6:], m.call_id) for to, m in p.outbox if isinstance(m, Offer)]


def answer(p: Pump, login: str, call: str, outcome: str = "answered", status: str = "busy",
           **skills: int) -> None:  # fmt: skip
    presence = Presence(login=login, status=status, skills=skills)  # type: ignore[arg-type]
    p.tell(MATCHER, OfferOutcome(call_id=call, login=login, outcome=outcome,  # type: ignore[arg-type]
                                 presence=presence))  # fmt: skip
    p.run()


def agent_of(p: Pump, login: str) -> MatchAgent:
    got = cow.get(p.state(MATCHER).agents, login)
    assert got is not None
    return got


def call_of(p: Pump, call_id: str) -> MatchCall:
    got = cow.get(p.state(MATCHER).calls, call_id)
    assert got is not None
    return got


def reasons(p: Pump) -> list[str]:
    return [e.reason for e in p.events(Decision)]  # type: ignore[attr-defined]


def test_longest_idle_reason_names_the_agent_idle_time_and_pool() -> None:
    p = matcher()
    ready(p, "anna", idle_since=16.0, fr=7)
    ready(p, "bob", idle_since=40.0, fr=5)
    ready(p, "carl", idle_since=30.0, fr=9)
    ready(p, "dan", idle_since=1.0, fr=4)  # idle longest but not skilled enough
    p.now = 100.0
    submit(p, "c1", fr=5)
    assert offers(p) == [("anna", "c1")]
    assert reasons(p) == ["agent anna: longest idle 84 s among 3 ready with fr>=5"]


def test_fewest_calls_least_talk_and_skills_weighted() -> None:
    p = matcher()
    ready(p, "a", idle_since=0, calls=9, talk=100, en=3)
    ready(p, "b", idle_since=5, calls=2, talk=900, en=9)
    ready(p, "c", idle_since=9, calls=4, talk=50, en=6)
    submit(p, "x", "fewest-calls", en=1)
    submit(p, "y", "least-talk-time", en=1)
    submit(p, "z", "skills-weighted", en=1)
    assert offers(p) == [("b", "x"), ("c", "y"), ("a", "z")]  # z: only a was left
    p = matcher()
    ready(p, "a", idle_since=0, en=3)
    ready(p, "b", idle_since=5, en=9)
    ready(p, "c", idle_since=1, en=9)
    submit(p, "z", "skills-weighted", en=2)
    assert offers(p) == [("c", "z")]
    assert reasons(p)[0].startswith("agent c: highest proficiency en=9, then longest idle")


def test_round_robin_rotates_in_login_order() -> None:
    p = matcher()
    for login in ("b", "a", "c"):
        ready(p, login)
    got = []
    for i in range(5):
        submit(p, f"c{i}", "round-robin")
        login, call = offers(p)[-1]
        got.append(login)
        answer(p, login, call)
        ready(p, login, idle_since=float(i))  # back from the call
    assert got == ["a", "b", "c", "a", "b"]


def test_random_is_deterministic_from_the_persisted_seed_and_spreads() -> None:
    picks = []
    for _ in range(2):
        p = matcher()
        for i in range(8):
            ready(p, f"ag{i}")
        for i in range(6):
            submit(p, f"c{i}", "random")
        picks.append(offers(p))
    assert picks[0] == picks[1]
    assert len({a for a, _ in picks[0]}) == 6  # six distinct agents for six calls


def test_ring_all_offers_everyone_then_withdraws_the_rest_on_answer() -> None:
    p = matcher()
    for i in range(5):
        ready(p, f"ag{i}", idle_since=float(i), fr=5)
    submit(p, "c1", "ring-all", fr=3)
    assert offers(p) == [("ag0", "c1"), ("ag1", "c1"), ("ag2", "c1")]  # ring_all_max=3
    answer(p, "ag1", "c1")
    withdrawn = [to for to, m in p.outbox if isinstance(m, OfferWithdrawn)]
    assert withdrawn == ["agent/ag0", "agent/ag2"]
    assert agent_of(p, "ag0").offer == "c1"  # still reserved until ag0 confirms
    answer(p, "ag0", "c1", "withdrawn", "ready", fr=5)
    assert agent_of(p, "ag0").offer is None
    submit(p, "c2", fr=3)
    assert offers(p)[-1] == ("ag0", "c2")  # ag0 is free again; ag2 is not yet


def test_strategies_give_up_cleanly_when_a_second_skill_rules_everyone_out() -> None:
    for strategy in ("ring-all", "random", "round-robin", "skills-weighted", "fewest-calls"):
        p = matcher()
        ready(p, "a", fr=9)
        ready(p, "b", fr=7, en=1)
        submit(p, "c1", strategy, fr=5, en=4)  # fr has candidates; nobody has en>=4
        assert offers(p) == [], strategy
        assert call_of(p, "c1").offered_to == ()
        ready(p, "c", fr=5, en=4)
        assert offers(p) == [("c", "c1")], strategy


def test_reserved_agent_gets_no_second_offer_until_its_outcome() -> None:
    p = matcher()
    ready(p, "anna")
    submit(p, "c1")
    ready(p, "anna", idle_since=3.0)  # a stale 'ready' racing with the offer
    submit(p, "c2")
    assert offers(p) == [("anna", "c1")]
    answer(p, "anna", "c1", "no_answer", "away")
    assert [m.call_id for _, m in p.outbox if isinstance(m, Returned)] == ["c1"]
    ready(p, "anna", idle_since=50.0)
    assert offers(p)[-1] == ("anna", "c1")  # c1 is older than c2


def test_a_moved_call_survives_its_old_queues_late_withdraw() -> None:
    p = matcher()
    submit(p, "c1", queue="main", fr=9)
    submit(p, "c1", queue="spill", since=0.0)  # overflowed; overtook main's Withdraw
    p.tell(MATCHER, Withdraw(call_id="c1", reason="overflow: max_wait", queue="main"))
    p.run()
    assert call_of(p, "c1").queue == "spill"
    ready(p, "anna")
    assert offers(p) == [("anna", "c1")]
    assert [to for to, m in p.outbox if isinstance(m, Matched)] == ["queue/spill"]


def test_offer_times_out_when_the_agent_never_answers() -> None:
    p = matcher()
    ready(p, "anna")
    ready(p, "bob", idle_since=5.0)
    submit(p, "c1", since=0.0)
    p.advance(20.0 + OFFER_GRACE_S)
    assert offers(p) == [("anna", "c1"), ("bob", "c1")]
    assert agent_of(p, "anna").ready is False  # unknown until it speaks again
    assert [to for to, m in p.outbox if isinstance(m, OfferWithdrawn)] == ["agent/anna"]


def test_agent_trigger_takes_highest_priority_then_longest_wait_across_queues() -> None:
    p = matcher()
    submit(p, "old-low", prio=0, since=0.0, queue="sales", fr=2)
    submit(p, "new-high", prio=5, since=50.0, queue="support", en=1)
    submit(p, "older-high", prio=5, since=40.0, queue="billing", de=1)
    submit(p, "oldest-high", prio=5, since=10.0, queue="billing", de=8)
    p.now = 60.0
    ready(p, "x", fr=5, en=3, de=3)
    assert offers(p) == [("x", "older-high")]  # oldest-high needs de>=8
    assert "among 3 waiting call(s) agent x can serve" in reasons(p)[0]


def test_restart_from_a_snapshot_decides_exactly_like_the_original() -> None:
    codec = Codec(Catalogue(MATCHER_MESSAGES))
    p = matcher()
    for i in range(6):
        ready(p, f"ag{i}", idle_since=float(i % 3), fr=1 + i)
    for i in range(4):
        submit(p, f"c{i}", ("random", "round-robin", "longest-idle", "ring-all")[i], fr=3)
    snapshot = codec.encode(p.state(MATCHER))
    restored = codec.decode(snapshot)
    assert restored == p.state(MATCHER)
    fresh = MatcherBehaviour()
    p2 = Pump([fresh])
    p2.states[MATCHER] = restored
    for q in (p, p2):
        q.outbox.clear()
        for i in range(6, 9):
            ready(q, f"ag{i}", idle_since=9.0, fr=9)
        for i in range(4, 8):
            submit(q, f"c{i}", ("random", "round-robin", "longest-idle", "skills-weighted")[i % 4])
    assert offers(p) == offers(p2) and len(offers(p)) == 4
    assert p.state(MATCHER) == p2.state(MATCHER)


# ----------------------------------------------------------------- index vs brute force

agents_st = st.lists(
    st.tuples(
        st.dictionaries(st.sampled_from("abc"), st.integers(1, 10), max_size=3),
        st.integers(0, 50),
    ),
    min_size=0,
    max_size=12,
)
calls_st = st.lists(
    st.tuples(
        st.dictionaries(st.sampled_from("abc"), st.integers(1, 10), max_size=2),
        st.integers(0, 3),
        st.integers(0, 50),
    ),
    min_size=0,
    max_size=12,
)


@settings(max_examples=150, deadline=None)
@given(agents_st, calls_st, st.sets(st.integers(0, 11)))
def test_indices_agree_with_brute_force(
    agents: list[tuple[dict[str, int], int]],
    calls: list[tuple[dict[str, int], int, int]],
    removed: set[int],
) -> None:
    ready_ix = ReadyIndex()
    members = {}
    for i, (skills, idle) in enumerate(agents):
        a = MatchAgent(login=f"a{i:02d}", skills=skills, ready=True, idle_since=float(idle))
        ready_ix.add(a)
        members[a.login] = a
    for i in removed:
        if f"a{i:02d}" in members:
            ready_ix.remove(f"a{i:02d}")
            del members[f"a{i:02d}"]
    waiting = WaitingIndex()
    by_id = {}
    for i, (skills, prio, since) in enumerate(calls):
        c = MatchCall(
            call_id=f"c{i:02d}", queue="q", priority=prio, waiting_since=float(since),
            skills=skills, strategy="longest-idle", ring_timeout_s=20, ring_all_max=3,
            check_staffed=False, callback=None, seq=i,
        )  # fmt: skip
        waiting.add(c)
        by_id[c.call_id] = c
    # call side: the longest-idle qualified agent
    for c in by_id.values():
        able = [a for a in members.values() if satisfies(a.skills, c.skills)]
        choice = choose_agents(ready_ix, c, 100.0, None, 1)
        if not able:
            assert choice is None
        else:
            best = min(able, key=lambda a: (a.idle_since, a.login))
            assert choice is not None and choice.agents == (best.login,)
            if len(c.skills) <= 1:  # (with more, the reason counts the deciding skill's pool)
                assert f"among {len(able)} ready" in choice.reason
    # agent side: the best waiting call it can serve
    for a in members.values():
        able_calls = [c for c in by_id.values() if satisfies(a.skills, c.skills)]
        got, n = waiting.best_for(a.skills, by_id.get)
        assert n == len(able_calls)
        if not able_calls:
            assert got is None
        else:
            best_c = min(able_calls, key=lambda c: (-c.priority, c.waiting_since, c.seq))
            assert got is best_c
