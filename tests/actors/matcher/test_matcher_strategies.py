"""Every strategy's choice and reason, over the index, against a brute-force reference.

The reference says what each strategy promises in plain loops over the ready agents (no
buckets, no sorted lists, no scans of pools), so the index and the pool scans can change
without the matcher deciding anything else - not even a different word in a reason.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from actors.matcher.index import OtherOrder, ReadyIndex, render_requirements, satisfies
from actors.matcher.messages import MAX_LEVEL, STRATEGIES, MatchAgent, MatchCall, Strategy
from actors.matcher.strategies import SCAN_LIMIT, Choice, choose_agents, splitmix64

NOW = 100.0


def idle_key(a: MatchAgent) -> tuple[float, str]:
    return (a.idle_since, a.login)


def reference(
    agents: list[MatchAgent], call: MatchCall, rotation: str | None, rng: int
) -> Choice | None:
    skills = call.skills
    if not skills:
        pool, primary, wanted = list(agents), "", "any skill"
        others: dict[str, int] = {}
    else:
        # the deciding requirement: the one the fewest ready agents meet (first on ties)
        counts = {
            s: sum(1 for a in agents if a.skills.get(s, 0) >= lvl) for s, lvl in skills.items()
        }
        if min(counts.values()) == 0:
            return None
        primary = min(skills, key=lambda s: counts[s])
        pool = [a for a in agents if a.skills.get(primary, 0) >= skills[primary]]
        others = {s: lvl for s, lvl in skills.items() if s != primary}
        wanted = f"{primary}>={skills[primary]}"
        if others:
            wanted += f" (checked for {render_requirements(others)})"
    if not pool:
        return None
    among = f"among {len(pool)} ready with {wanted}"
    able = sorted((a for a in pool if satisfies(a.skills, others)), key=idle_key)
    strategy = call.strategy
    if strategy == "random":
        rng, value = splitmix64(rng)
        if not others:  # drawn from the deciding skill's levels, lowest first, idle order
            order = sorted(pool, key=lambda a: (a.skills.get(primary, 0), *idle_key(a)))
            drawn = order[value % len(order)]
            # (the reason numbers the draw within the agent's own level, as it always has)
            level = drawn.skills.get(primary, 0)
            nth = [a for a in order if a.skills.get(primary, 0) == level].index(drawn) + 1
            return Choice((drawn.login,), f"agent {drawn.login}: random draw {nth} {among}", rng)
        if not able:
            return None
        pick = value % len(able)
        login = able[pick].login
        return Choice(
            (login,), f"agent {login}: random draw {pick + 1} of {len(able)} {among}", rng
        )
    if not able:
        return None
    if strategy == "ring-all":
        chosen = tuple(a.login for a in able[: call.ring_all_max])
        return Choice(chosen, f"ring all: {len(chosen)} agent(s) {among}: {', '.join(chosen)}", rng)
    if strategy == "round-robin":
        logins = sorted(a.login for a in able)
        after = [x for x in logins if rotation is not None and x > rotation]
        login = (after or logins)[0]
        start = "the start" if rotation is None else rotation
        return Choice((login,), f"agent {login}: next in rotation after {start}, {among}", rng)
    if strategy == "skills-weighted" and skills:
        top = max(a.skills[primary] for a in able)
        a = min((a for a in able if a.skills[primary] == top), key=idle_key)
        return Choice((a.login,), f"agent {a.login}: highest proficiency {primary}={top}, then "
                      f"longest idle ({NOW - a.idle_since:.0f} s), {among}", rng)  # fmt: skip
    if strategy == "fewest-calls":
        a = min(able, key=lambda a: (a.calls_handled, *idle_key(a)))
        return Choice((a.login,), f"agent {a.login}: fewest calls handled ({a.calls_handled}) "
                      f"{among}", rng)  # fmt: skip
    if strategy == "least-talk-time":
        a = min(able, key=lambda a: (a.talk_time_s, *idle_key(a)))
        return Choice((a.login,), f"agent {a.login}: least talk time ({a.talk_time_s:.0f} s) "
                      f"{among}", rng)  # fmt: skip
    a = able[0]  # longest-idle (and skills-weighted for a call that needs no skill)
    return Choice((a.login,), f"agent {a.login}: longest idle {NOW - a.idle_since:.0f} s {among}",
                  rng)  # fmt: skip


agent_st = st.tuples(
    st.dictionaries(st.sampled_from("abc"), st.integers(1, MAX_LEVEL), max_size=3),
    st.integers(0, 6),  # idle since: small, so ties on it happen
    st.integers(0, 3),  # calls handled
    st.integers(0, 3),  # talk time
)
call_st = st.tuples(
    st.sampled_from(STRATEGIES),
    st.dictionaries(st.sampled_from("abc"), st.integers(1, MAX_LEVEL), max_size=3),
    st.integers(1, 4),  # ring_all_max
)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(agent_st, max_size=14),
    st.sets(st.integers(0, 13)),
    st.lists(call_st, min_size=1, max_size=6),
    st.none() | st.sampled_from([f"a{i:02d}" for i in range(14)] + ["a", "zz"]),
    st.integers(0, 2**64 - 1),
    st.sampled_from(["scan", "sorted first", "sorted later"]),
)
def test_every_strategy_chooses_and_explains_like_the_reference(
    agents: list[tuple[dict[str, int], int, int, int]],
    gone: set[int],
    calls: list[tuple[str, dict[str, int], int]],
    rotation: str | None,
    rng: int,
    orders: str,
) -> None:
    # "scan": pools this small are scanned; otherwise every order is kept sorted, switched on
    # before the agents arrive (kept up to date) or after (built from the members)
    ready = ReadyIndex()
    if orders == "sorted first":
        keep_every_order_sorted(ready)
    present: dict[str, MatchAgent] = {}
    for i, (skills, idle, handled, talk) in enumerate(agents):
        a = MatchAgent(login=f"a{i:02d}", skills=skills, ready=True, idle_since=float(idle),
                       calls_handled=handled, talk_time_s=float(talk))  # fmt: skip
        ready.add(a)
        present[a.login] = a
    for i in gone:  # agents that went away again: the index must forget them entirely
        if ready.remove(f"a{i:02d}") is not None:
            del present[f"a{i:02d}"]
    if orders == "sorted later":
        keep_every_order_sorted(ready)
    for n, (strategy, skills, ring_all_max) in enumerate(calls):
        call = MatchCall(
            call_id=f"c{n}", queue="q", priority=0, waiting_since=0.0, skills=skills,
            strategy=strategy, ring_timeout_s=20.0, ring_all_max=ring_all_max,  # type: ignore[arg-type]
            check_staffed=False, callback=None, seq=n,
        )  # fmt: skip
        got = choose_agents(ready, call, NOW, rotation, rng)
        assert got == reference(list(present.values()), call, rotation, rng), (strategy, skills)


def keep_every_order_sorted(ready: ReadyIndex) -> None:
    order: OtherOrder
    for order in ("calls", "talk", "login"):
        ready.enable(order)


def test_a_pool_too_large_to_scan_has_its_order_kept_sorted_from_then_on() -> None:
    ready = ReadyIndex()
    for i in range(SCAN_LIMIT + 1):
        ready.add(MatchAgent(login=f"a{i:04d}", skills={"x": 1 + i % 2}, ready=True,
                             idle_since=float(i), calls_handled=(7 * i) % 5))  # fmt: skip
    small = MatchCall(
        call_id="c1", queue="q", priority=0, waiting_since=0.0, skills={"x": 2},
        strategy="fewest-calls", ring_timeout_s=20.0, ring_all_max=1, check_staffed=False,
        callback=None, seq=1,
    )  # fmt: skip
    assert choose_agents(ready, small, NOW, None, 0) is not None
    assert ready.sorted_by == {}  # half the agents: scanned
    large = MatchCall(
        call_id="c2", queue="q", priority=0, waiting_since=0.0, skills={"x": 1},
        strategy="fewest-calls", ring_timeout_s=20.0, ring_all_max=1, check_staffed=False,
        callback=None, seq=2,
    )  # fmt: skip
    got = choose_agents(ready, large, NOW, None, 0)
    assert list(ready.sorted_by) == ["calls"]
    assert got == reference(list(ready.members.values()), large, None, 0)
    ready.remove(got.agents[0])  # type: ignore[union-attr]
    assert choose_agents(ready, large, NOW, None, 0) == reference(
        list(ready.members.values()), large, None, 0
    )


@pytest.mark.parametrize("sorted_first", [False, True])
def test_round_robin_walks_every_login_in_order_across_levels(sorted_first: bool) -> None:
    ready = ReadyIndex()
    if sorted_first:
        keep_every_order_sorted(ready)
    logins = ["ann", "bob", "cat", "dan", "eve", "fay"]
    for i, login in enumerate(logins):  # spread over three levels of x, and one without x
        skills = {"x": 1 + i % 3} if login != "cat" else {"y": 5}
        ready.add(MatchAgent(login=login, skills=skills, ready=True, idle_since=float(-i)))
    call = MatchCall(
        call_id="c", queue="q", priority=0, waiting_since=0.0, skills={"x": 1},
        strategy="round-robin", ring_timeout_s=20.0, ring_all_max=1, check_staffed=False,
        callback=None, seq=1,
    )  # fmt: skip
    served, rotation = [], None
    for _ in range(6):
        got = choose_agents(ready, call, NOW, rotation, 0)
        assert got is not None
        rotation = got.agents[0]
        served.append(rotation)
    assert served == ["ann", "bob", "dan", "eve", "fay", "ann"]  # cat has no x: skipped


def test_a_scan_strategy_breaks_ties_on_idle_time_then_login() -> None:
    ready = ReadyIndex()
    for login, idle in (("b", 5.0), ("c", 1.0), ("a", 5.0)):
        ready.add(MatchAgent(login=login, skills={"x": 2}, ready=True, idle_since=idle))
    strategy: Strategy
    for strategy in ("fewest-calls", "least-talk-time"):
        call = MatchCall(
            call_id="c", queue="q", priority=0, waiting_since=0.0, skills={"x": 1},
            strategy=strategy, ring_timeout_s=20.0, ring_all_max=1, check_staffed=False,
            callback=None, seq=1,
        )  # fmt: skip
        got = choose_agents(ready, call, NOW, None, 0)
        assert got is not None and got.agents == ("c",)
