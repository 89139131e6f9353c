"""Which ready agent(s) get a call: the queue's strategy, over the ready index, with a reason.

Every choice says why in words an operator can check against the wall board, e.g.
``agent anna: longest idle 84 s among 3 ready with fr>=5``.

Randomness comes from the matcher's persisted splitmix64 state, never from module globals, so a
decision replays identically from the journal.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from heapq import merge
from itertools import islice

from actors.matcher.index import (
    ANY,
    AgentKey,
    AgentOrder,
    Bucket,
    ReadyIndex,
    render_requirements,
    satisfies,
)
from actors.matcher.messages import MatchCall

_MASK = (1 << 64) - 1


def splitmix64(state: int) -> tuple[int, int]:
    """Next ``(state, value)`` of the splitmix64 generator (Steele, Lea & Flood 2014)."""
    state = (state + 0x9E3779B97F4A7C15) & _MASK
    z = state
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK
    return state, z ^ (z >> 31)


@dataclass(frozen=True, slots=True)
class Choice:
    agents: tuple[str, ...]
    reason: str
    rng: int


Accept = Callable[[str], bool] | None


def _first(keys: Iterator[AgentKey], accept: Accept) -> AgentKey | None:
    for key in keys:
        if accept is None or accept(str(key[-1])):
            return key
    return None


@dataclass(frozen=True, slots=True)
class _Pool:
    """Where the candidates are: the buckets of the most selective requirement, and a filter
    for the call's other requirements (None when the buckets alone decide)."""

    buckets: list[Bucket]
    accept: Accept
    size: int
    wanted: str


def _pool(ready: ReadyIndex, skills: dict[str, int]) -> _Pool | None:
    if not skills:
        buckets = ready.buckets_for(ANY)
        if not buckets:
            return None
        return _Pool(buckets, None, ready.count[ANY], "any skill")
    best: tuple[int, str, list[Bucket]] | None = None
    count = ready.count
    for s, lvl in skills.items():
        bs = ready.buckets_for((s, lvl))
        n = sum(count[b] for b in bs)
        if n == 0:
            return None
        if best is None or n < best[0]:
            best = (n, s, bs)
    assert best is not None
    n, primary, buckets = best
    others = {s: lvl for s, lvl in skills.items() if s != primary}
    if not others:
        return _Pool(buckets, None, n, render_requirements(skills))
    members = ready.members

    def accept(login: str) -> bool:
        return satisfies(members[login].skills, others)

    wanted = f"{primary}>={skills[primary]} (checked for {render_requirements(others)})"
    return _Pool(buckets, accept, n, wanted)


def _heads(ready: ReadyIndex, order: AgentOrder, buckets: list[Bucket]) -> AgentKey:
    """The first agent in ``order`` across ``buckets``: one comparison per bucket."""
    by_bucket = ready.enable(order)
    return min(by_bucket[b][0] for b in buckets)


def choose_agents(
    ready: ReadyIndex, call: MatchCall, now: float, rotation: str | None, rng: int
) -> Choice | None:
    """Agents to offer ``call`` to under its queue's strategy, or None when nobody qualifies."""
    pool = _pool(ready, call.skills)
    if pool is None:
        return None
    buckets, accept = pool.buckets, pool.accept
    among = f"among {pool.size} ready with {pool.wanted}"
    members = ready.members
    strategy = call.strategy

    if strategy == "ring-all":
        chosen: list[str] = []
        for k in ready.candidates("idle", buckets):
            login = str(k[-1])
            if accept is None or accept(login):
                chosen.append(login)
                if len(chosen) >= call.ring_all_max:
                    break
        if not chosen:  # the first skill had candidates, the others ruled them all out
            return None
        shown = ", ".join(chosen)
        return Choice(tuple(chosen), f"ring all: {len(chosen)} agent(s) {among}: {shown}", rng)

    if strategy == "random":
        return _random(ready, pool, rng, among)

    if strategy == "round-robin":
        return _round_robin(ready, pool, rotation, rng, among)

    if strategy == "skills-weighted" and call.skills:
        # highest proficiency in the deciding skill first, longest idle within a level
        by_bucket = ready.enable("idle")
        for b in sorted(buckets, key=lambda b: -b[1]):
            key = by_bucket[b][0] if accept is None else _first(iter(by_bucket[b]), accept)
            if key is not None:
                a = members[str(key[-1])]
                idle = now - a.idle_since
                return Choice(
                    (a.login,),
                    f"agent {a.login}: highest proficiency {b[0]}={b[1]}, then longest idle "
                    f"({idle:.0f} s), {among}",
                    rng,
                )
        return None

    order: AgentOrder = "idle"
    if strategy == "fewest-calls":
        order = "calls"
    elif strategy == "least-talk-time":
        order = "talk"
    if accept is None:
        key = _heads(ready, order, buckets)
    else:
        key = _first(ready.candidates(order, buckets), accept)
        if key is None:
            return None
    a = members[str(key[-1])]
    if order == "calls":
        why = f"fewest calls handled ({a.calls_handled})"
    elif order == "talk":
        why = f"least talk time ({a.talk_time_s:.0f} s)"
    else:
        why = f"longest idle {now - a.idle_since:.0f} s"
    return Choice((a.login,), f"agent {a.login}: {why} {among}", rng)


def _random(ready: ReadyIndex, pool: _Pool, rng: int, among: str) -> Choice | None:
    rng, value = splitmix64(rng)
    by_bucket = ready.enable("idle")  # any fixed order will do for a uniform draw
    if pool.accept is None:
        pick = value % pool.size
        for b in pool.buckets:
            lst = by_bucket[b]
            if pick < len(lst):
                login = str(lst[pick][-1])
                return Choice((login,), f"agent {login}: random draw {pick + 1} {among}", rng)
            pick -= len(lst)
        return None  # unreachable while counts and lists agree
    accept = pool.accept
    eligible = [str(k[-1]) for k in ready.candidates("idle", pool.buckets) if accept(str(k[-1]))]
    if not eligible:
        return None
    pick = value % len(eligible)
    login = eligible[pick]
    why = f"agent {login}: random draw {pick + 1} of {len(eligible)} {among}"
    return Choice((login,), why, rng)


def _round_robin(
    ready: ReadyIndex, pool: _Pool, rotation: str | None, rng: int, among: str
) -> Choice | None:
    by_bucket = ready.enable("login")
    lists = [by_bucket[b] for b in pool.buckets]
    key: AgentKey | None = None
    if rotation is not None:
        # the next login after the last one served: bisect each bucket, compare the tails
        probe: AgentKey = (rotation,)
        if pool.accept is None:
            tails = [lst[i] for lst in lists if (i := bisect_right(lst, probe)) < len(lst)]
            key = min(tails) if tails else None
        else:
            starts = [islice(lst, bisect_right(lst, probe), None) for lst in lists]
            key = _first(merge(*starts), pool.accept)
    if key is None:  # first ever, or wrap round to the start
        if pool.accept is None:
            key = min(lst[0] for lst in lists)
        else:
            key = _first(merge(*lists), pool.accept)
    if key is None:
        return None
    login = str(key[-1])
    after = "the start" if rotation is None else rotation
    return Choice((login,), f"agent {login}: next in rotation after {after}, {among}", rng)
