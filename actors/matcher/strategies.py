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
#: counting eligible agents beyond this many only matters to the reason text
_COUNT_CAP = 100


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


def _plan(ready: ReadyIndex, skills: dict[str, int]) -> tuple[list[Bucket], Accept, int] | None:
    """Buckets of the most selective requirement, a filter for the others, their agent count."""
    if not skills:
        buckets = ready.buckets_for(ANY)
        return (buckets, None, ready.count.get(ANY, 0)) if buckets else None
    best: tuple[int, str, list[Bucket]] | None = None
    for s, lvl in skills.items():
        bs = ready.buckets_for((s, lvl))
        n = sum(ready.count[b] for b in bs)
        if n == 0:
            return None
        if best is None or n < best[0]:
            best = (n, s, bs)
    assert best is not None
    n, primary, buckets = best
    others = {s: lvl for s, lvl in skills.items() if s != primary}
    if not others:
        return buckets, None, n
    members = ready.members

    def accept(login: str) -> bool:
        return satisfies(members[login].skills, others)

    return buckets, accept, -1


def _count(ready: ReadyIndex, buckets: list[Bucket], accept: Accept, n: int) -> str:
    if n >= 0:
        return str(n)
    got = 0
    for key in ready.candidates("idle", buckets):
        if accept is None or accept(str(key[-1])):
            got += 1
            if got >= _COUNT_CAP:
                return f"{_COUNT_CAP}+"
    return str(got)


def choose_agents(
    ready: ReadyIndex, call: MatchCall, now: float, rotation: str | None, rng: int
) -> Choice | None:
    """Agents to offer ``call`` to under its queue's strategy, or None when nobody qualifies."""
    plan = _plan(ready, call.skills)
    if plan is None:
        return None
    buckets, accept, n = plan
    wanted = render_requirements(call.skills)
    among = f"among {_count(ready, buckets, accept, n)} ready with {wanted}"
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
        shown = ", ".join(chosen)
        return Choice(tuple(chosen), f"ring all: {len(chosen)} agent(s) {among}: {shown}", rng)

    if strategy == "random":
        return _random(ready, buckets, accept, n, rng, among)

    if strategy == "round-robin":
        return _round_robin(ready, buckets, accept, rotation, rng, among)

    if strategy == "skills-weighted" and call.skills:
        # highest proficiency in the deciding skill first, longest idle within a level
        by_bucket = ready.enable("idle")
        for b in sorted(buckets, key=lambda b: -b[1]):
            key = _first(iter(by_bucket[b]), accept)
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


def _random(
    ready: ReadyIndex, buckets: list[Bucket], accept: Accept, n: int, rng: int, among: str
) -> Choice | None:
    rng, value = splitmix64(rng)
    by_bucket = ready.enable("login")
    if accept is None:
        pick = value % n
        for b in buckets:
            lst = by_bucket[b]
            if pick < len(lst):
                login = str(lst[pick][-1])
                return Choice((login,), f"agent {login}: random draw {pick + 1} {among}", rng)
            pick -= len(lst)
        return None  # unreachable while counts and lists agree
    eligible = [str(k[-1]) for k in ready.candidates("login", buckets) if accept(str(k[-1]))]
    if not eligible:
        return None
    pick = value % len(eligible)
    login = eligible[pick]
    return Choice((login,), f"agent {login}: random draw {pick + 1} {among}", rng)


def _round_robin(
    ready: ReadyIndex,
    buckets: list[Bucket],
    accept: Accept,
    rotation: str | None,
    rng: int,
    among: str,
) -> Choice | None:
    by_bucket = ready.enable("login")
    lists = [by_bucket[b] for b in buckets]
    key: AgentKey | None = None
    if rotation is not None:
        # the next login after the last one served: bisect each bucket, merge the tails
        probe: AgentKey = (rotation,)
        tails = [islice(lst, bisect_right(lst, probe), None) for lst in lists]
        key = _first(merge(*tails), accept)
    if key is None:  # first ever, or wrap round to the start
        key = _first(merge(*lists), accept)
    if key is None:
        return None
    login = str(key[-1])
    after = "the start" if rotation is None else rotation
    return Choice((login,), f"agent {login}: next in rotation after {after}, {among}", rng)
