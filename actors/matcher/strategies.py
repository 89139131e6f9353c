"""Which ready agent(s) get a call: the queue's strategy, over the ready index, with a reason.

Every choice says why in words an operator can check against the wall board, e.g.
``agent anna: longest idle 84 s among 3 ready with fr>=5``.

Randomness comes from the matcher's persisted splitmix64 state, never from module globals, so a
decision replays identically from the journal.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable, Iterator
from heapq import merge
from itertools import islice
from typing import NamedTuple

from actors.matcher.index import (
    ANY,
    AgentKey,
    Bucket,
    OrderKey,
    OtherOrder,
    ReadyIndex,
    render_requirements,
    satisfies,
)
from actors.matcher.messages import MatchCall

_MASK = (1 << 64) - 1

#: pools of up to this many agents are scanned for the orders not kept sorted; a larger one
#: has its order kept sorted from then on (the 1,000-agent benchmark's pools stay below ~230)
SCAN_LIMIT = 256


def splitmix64(state: int) -> tuple[int, int]:
    """Next ``(state, value)`` of the splitmix64 generator (Steele, Lea & Flood 2014)."""
    state = (state + 0x9E3779B97F4A7C15) & _MASK
    z = state
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK
    return state, z ^ (z >> 31)


class Choice(NamedTuple):
    agents: tuple[str, ...]
    reason: str
    rng: int


Accept = Callable[[str], bool] | None


def _first(keys: Iterator[AgentKey], accept: Accept) -> AgentKey | None:
    for key in keys:
        if accept is None or accept(key[1]):
            return key
    return None


#: where the candidates are: the buckets of the most selective requirement, a filter for the
#: call's other requirements (None when the buckets alone decide), how many agents the buckets
#: hold, and the requirement in words (a plain tuple: built for every call that waits)
Pool = tuple[list[Bucket], Accept, int, str]


def _pool(ready: ReadyIndex, skills: dict[str, int]) -> Pool | None:
    if not skills:
        buckets = ready.buckets_for(ANY)
        if not buckets:
            return None
        return buckets, None, len(ready), "any skill"
    n = 0
    primary = ""
    levels = ready.levels
    for s, lvl in skills.items():
        per_level = levels.get(s)
        if per_level is None:
            return None
        got = sum(per_level[lvl:]) if lvl > 0 else sum(per_level)
        if got == 0:
            return None
        if n == 0 or got < n:
            n, primary = got, s
    buckets = ready.buckets_for((primary, skills[primary]))
    if len(skills) == 1:
        return buckets, None, n, f"{primary}>={skills[primary]}"
    others = {s: lvl for s, lvl in skills.items() if s != primary}
    members = ready.members

    def accept(login: str) -> bool:
        return satisfies(members[login].skills, others)

    wanted = f"{primary}>={skills[primary]} (checked for {render_requirements(others)})"
    return buckets, accept, n, wanted


def choose_agents(
    ready: ReadyIndex, call: MatchCall, now: float, rotation: str | None, rng: int
) -> Choice | None:
    """Agents to offer ``call`` to under its queue's strategy, or None when nobody qualifies."""
    pool = _pool(ready, call.skills)
    if pool is None:
        return None
    buckets, accept, size, wanted = pool
    among = f"among {size} ready with {wanted}"
    strategy = call.strategy

    if strategy == "ring-all":
        chosen: list[str] = []
        for _idle, login in ready.candidates(buckets):
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
        by_idle = ready.by_idle
        for b in sorted(buckets, key=lambda b: -b[1]):
            key = by_idle[b][0] if accept is None else _first(iter(by_idle[b]), accept)
            if key is not None:
                login = key[1]
                return Choice(
                    (login,),
                    f"agent {login}: highest proficiency {b[0]}={b[1]}, then longest idle "
                    f"({now - key[0]:.0f} s), {among}",
                    rng,
                )
        return None

    if strategy == "fewest-calls" or strategy == "least-talk-time":
        return _fewest(ready, pool, strategy == "least-talk-time", rng, among)

    # longest-idle (and skills-weighted for a call that needs no skill)
    key = ready.head(buckets) if accept is None else _first(ready.candidates(buckets), accept)
    if key is None:
        return None
    login = key[1]
    return Choice((login,), f"agent {login}: longest idle {now - key[0]:.0f} s {among}", rng)


def _fewest(ready: ReadyIndex, pool: Pool, talk: bool, rng: int, among: str) -> Choice | None:
    """Fewest calls handled (or least talk time), then longest idle, then login."""
    buckets, accept, size, _wanted = pool
    members = ready.members
    lists = _sorted_lists(ready, "talk" if talk else "calls", size)
    best_login: str | None = None
    if lists is not None:  # kept sorted: the heads, or the first accepted in merged order
        ordered = [lists[b] for b in buckets]
        if accept is None:
            best_login = str(min([lst[0] for lst in ordered])[-1])
        else:
            best_login = _first_login(merge(*ordered), accept)
    else:  # a scan of the pool
        by_idle = ready.by_idle
        best: tuple[float, float, str] | None = None
        for bucket in buckets:
            for idle, login in by_idle[bucket]:
                a = members[login]
                key = (a.talk_time_s if talk else a.calls_handled, idle, login)
                if (best is None or key < best) and (accept is None or accept(login)):
                    best = key
        best_login = None if best is None else best[2]
    if best_login is None:
        return None
    a = members[best_login]
    if talk:
        why = f"least talk time ({a.talk_time_s:.0f} s)"
    else:
        why = f"fewest calls handled ({a.calls_handled})"
    return Choice((a.login,), f"agent {a.login}: {why} {among}", rng)


def _sorted_lists(
    ready: ReadyIndex, order: OtherOrder, pool_size: int
) -> dict[Bucket, list[OrderKey]] | None:
    """The index's sorted lists for ``order`` if kept - or from now on, for a pool too large to
    scan; None: scan the pool."""
    lists = ready.sorted_by.get(order)
    if lists is None and pool_size > SCAN_LIMIT:
        lists = ready.enable(order)
    return lists


def _first_login(keys: Iterator[OrderKey], accept: Callable[[str], bool]) -> str | None:
    for key in keys:
        login = str(key[-1])
        if accept(login):
            return login
    return None


def _random(ready: ReadyIndex, pool: Pool, rng: int, among: str) -> Choice | None:
    buckets, accept, size, _wanted = pool
    rng, value = splitmix64(rng)
    by_idle = ready.by_idle  # any fixed order will do for a uniform draw
    if accept is None:
        pick = value % size
        for b in buckets:
            lst = by_idle[b]
            if pick < len(lst):
                login = lst[pick][1]
                # (the draw is numbered within the agent's level, as it has always been told)
                return Choice((login,), f"agent {login}: random draw {pick + 1} {among}", rng)
            pick -= len(lst)
        return None  # unreachable while counts and lists agree
    eligible = [login for _idle, login in ready.candidates(buckets) if accept(login)]
    if not eligible:
        return None
    pick = value % len(eligible)
    login = eligible[pick]
    why = f"agent {login}: random draw {pick + 1} of {len(eligible)} {among}"
    return Choice((login,), why, rng)


def _round_robin(
    ready: ReadyIndex, pool: Pool, rotation: str | None, rng: int, among: str
) -> Choice | None:
    """The first login after the last one served, wrapping round."""
    buckets, accept, size, _wanted = pool
    lists = _sorted_lists(ready, "login", size)
    chosen: str | None = None
    if lists is not None:  # kept sorted: bisect each bucket past the rotation point
        ordered = [lists[b] for b in buckets]
        if rotation is not None:
            probe: OrderKey = (rotation,)
            if accept is None:
                tails = [lst[i] for lst in ordered if (i := bisect_right(lst, probe)) < len(lst)]
                chosen = str(min(tails)[-1]) if tails else None
            else:
                starts = [islice(lst, bisect_right(lst, probe), None) for lst in ordered]
                chosen = _first_login(merge(*starts), accept)
        if chosen is None:  # first ever, or wrap round to the start
            if accept is None:
                chosen = str(min([lst[0] for lst in ordered])[-1])
            else:
                chosen = _first_login(merge(*ordered), accept)
    else:  # a scan of the pool
        after: str | None = None  # the smallest login past the rotation point
        first: str | None = None  # the smallest login of all (the wrap)
        by_idle = ready.by_idle
        for _idle, login in (key for b in buckets for key in by_idle[b]):
            if accept is not None and not accept(login):
                continue
            if first is None or login < first:
                first = login
            if rotation is not None and login > rotation and (after is None or login < after):
                after = login
        chosen = after if after is not None else first
    if chosen is None:
        return None
    start = "the start" if rotation is None else rotation
    return Choice((chosen,), f"agent {chosen}: next in rotation after {start}, {among}", rng)
