"""Indices that make one matching decision cost O(log n)-ish instead of a scan of everything.

Both indices are *derived* data: :func:`build` recreates them from a :class:`MatcherState`, so
the persisted state stays one plain record and a restarted matcher loses nothing.

* :class:`ReadyIndex` - ready, unreserved agents bucketed by ``(skill, level)`` (plus one
  ``ANY`` bucket holding everyone), each bucket sorted by idle time, with a count per level.
  A requirement ``fr>=5`` is the union of buckets ``(fr, 5..10)``: its size is a sum of
  counts, its longest idle agent a comparison of at most six heads.
* :class:`WaitingIndex` - waiting calls grouped by their whole requirement (one group per
  queue configuration, however long the queue), each group sorted by
  ``(-priority, waiting_since, seq)``. An agent reads the head of each group it qualifies for.
"""

from __future__ import annotations

from bisect import bisect_left, insort
from collections.abc import Callable, Iterator, Mapping
from heapq import merge
from typing import Any, Literal

from actors.matcher import cow
from actors.matcher.messages import MAX_LEVEL, MatchAgent, MatchCall, MatcherState

Bucket = tuple[str, int]
#: ``(idle_since, login)``: unique, and the index finds the agent back from it
AgentKey = tuple[float, str]
#: the orders kept sorted only once a large pool asked for them (see :class:`ReadyIndex`)
OtherOrder = Literal["calls", "talk", "login"]
#: a key in one of those orders; the login is always last (unique, and finds the agent back)
OrderKey = tuple[float | int | str, ...]
CallKey = tuple[int, float, int, str]
Signature = tuple[tuple[str, int], ...]

#: the bucket every ready agent is in, and that calls with no requirement wait in
ANY: Bucket = ("", 0)


KEY_OF: Mapping[OtherOrder, Callable[[MatchAgent], OrderKey]] = {
    "calls": lambda a: (a.calls_handled, a.idle_since, a.login),
    "talk": lambda a: (a.talk_time_s, a.idle_since, a.login),
    "login": lambda a: (a.login,),
}


def call_key(c: MatchCall) -> CallKey:
    return (-c.priority, c.waiting_since, c.seq, c.call_id)


def primary_requirement(skills: Mapping[str, int]) -> Bucket:
    """The strictest requirement (highest level, then name): the bucket a waiting call sits in."""
    if not skills:
        return ANY
    level, skill = max((lvl, s) for s, lvl in skills.items())
    return (skill, level)


def satisfies(agent_skills: Mapping[str, int], required: Mapping[str, int]) -> bool:
    for s, lvl in required.items():  # noqa: SIM110 - a plain loop: this is the hot path
        if agent_skills.get(s, 0) < lvl:
            return False
    return True


def signature(skills: Mapping[str, int]) -> Signature:
    return tuple(sorted(skills.items()))


def meets(agent_skills: Mapping[str, int], sig: Signature) -> bool:
    for s, lvl in sig:  # noqa: SIM110 - a plain loop: this is the hot path
        if agent_skills.get(s, 0) < lvl:
            return False
    return True


def render_requirements(skills: Mapping[str, int]) -> str:
    if not skills:
        return "any skill"
    return ", ".join(f"{s}>={lvl}" for s, lvl in sorted(skills.items()))


class ReadyIndex:
    """Ready, unreserved agents, bucketed by ``(skill, level)``; each bucket sorted by idle time.

    The idle order is always kept: it serves most strategies, for one insert per bucket when
    an agent becomes ready. The other orders (calls handled, talk time, login) are found by a
    scan of the chosen pool, short while agents are scarce - exactly when decisions are
    frequent; only once a pool too large to scan asks for one (a big center, many agents idle)
    is that order kept sorted too (:meth:`enable`), at the price of its upkeep from then on.
    """

    def __init__(self) -> None:
        self.members: dict[str, MatchAgent] = {}
        #: skill -> how many members hold it at each level (index 0..MAX_LEVEL): the size of
        #: any ``skill>=level`` pool is one slice sum, without visiting its buckets
        self.levels: dict[str, list[int]] = {}
        #: bucket -> its members' ``(idle_since, login)``, sorted
        self.by_idle: dict[Bucket, list[AgentKey]] = {}
        #: order -> bucket -> its members' keys in that order, sorted (orders enabled only)
        self.sorted_by: dict[OtherOrder, dict[Bucket, list[OrderKey]]] = {}
        # login -> every (sorted list, key) the member sits in: removal goes straight there
        self._places: dict[str, list[tuple[list[Any], Any]]] = {}
        # The catch-all bucket costs upkeep on every change; kept only once a call without
        # requirements has asked for it.
        self.with_any = False

    def __contains__(self, login: str) -> bool:
        return login in self.members

    def __len__(self) -> int:
        return len(self.members)

    def add(self, a: MatchAgent) -> None:
        login = a.login
        if login in self.members:
            self.remove(login)
        self.members[login] = a
        key = (a.idle_since, login)
        by_idle, levels = self.by_idle, self.levels
        places = self._places[login] = []
        if self.with_any:
            everyone = by_idle[ANY]
            insort(everyone, key)
            places.append((everyone, key))
        for b in a.skills.items():
            got = by_idle.get(b)
            if got is None:
                lst = by_idle[b] = [key]
            else:
                insort(got, key)
                lst = got
            places.append((lst, key))
            skill, lvl = b
            if 0 <= lvl <= MAX_LEVEL:  # (levels are validated 1-10 upstream)
                per_level = levels.get(skill)
                if per_level is None:
                    per_level = levels[skill] = [0] * (MAX_LEVEL + 1)
                per_level[lvl] += 1
        for order, by_bucket in self.sorted_by.items():
            okey = KEY_OF[order](a)
            for b in self._buckets(a):
                got_o = by_bucket.get(b)
                if got_o is None:
                    lst_o = by_bucket[b] = [okey]
                else:
                    insort(got_o, okey)
                    lst_o = got_o
                places.append((lst_o, okey))

    def _buckets(self, a: MatchAgent) -> list[Bucket]:
        return [ANY, *a.skills.items()] if self.with_any else list(a.skills.items())

    def remove(self, login: str) -> MatchAgent | None:
        a = self.members.pop(login, None)
        if a is None:
            return None
        levels = self.levels
        for skill, lvl in a.skills.items():
            if 0 <= lvl <= MAX_LEVEL:
                levels[skill][lvl] -= 1
        for lst, key in self._places.pop(login):
            del lst[bisect_left(lst, key)]
        return a

    def enable(self, order: OtherOrder) -> dict[Bucket, list[OrderKey]]:
        """Keep ``order`` sorted from now on (built once from the members); its lists."""
        by_bucket = self.sorted_by.get(order)
        if by_bucket is None:
            by_bucket = self.sorted_by[order] = {}
            key_of, places = KEY_OF[order], self._places
            for login, a in self.members.items():
                key = key_of(a)
                for b in self._buckets(a):
                    lst = by_bucket.setdefault(b, [])
                    lst.append(key)
                    places[login].append((lst, key))
            for lst in by_bucket.values():
                lst.sort()
        return by_bucket

    def _enable_any(self) -> None:
        self.with_any = True
        lst: list[AgentKey] = []
        self.by_idle[ANY] = lst
        places = self._places
        for login, a in self.members.items():
            key = (a.idle_since, login)
            lst.append(key)
            places[login].append((lst, key))
        lst.sort()
        for order, by_bucket in self.sorted_by.items():
            key_of = KEY_OF[order]
            everyone: list[OrderKey] = []
            by_bucket[ANY] = everyone
            for login, a in self.members.items():
                okey = key_of(a)
                everyone.append(okey)
                places[login].append((everyone, okey))
            everyone.sort()

    def size(self, req: Bucket) -> int:
        """How many members meet ``req`` (skill at ``level`` or more)."""
        if req == ANY:
            return len(self.members)
        skill, level = req
        per_level = self.levels.get(skill)
        if per_level is None:
            return 0
        return sum(per_level[level:]) if level > 0 else sum(per_level)

    def buckets_for(self, req: Bucket) -> list[Bucket]:
        """Non-empty buckets holding agents that meet ``req`` (skill at ``level`` or more)."""
        if req == ANY:
            if not self.with_any:
                self._enable_any()
            return [ANY] if self.members else []
        skill, level = req
        per_level = self.levels.get(skill)
        if per_level is None:
            return []
        return [(skill, lvl) for lvl in range(max(level, 0), MAX_LEVEL + 1) if per_level[lvl]]

    def head(self, buckets: list[Bucket]) -> AgentKey:
        """The longest idle agent across (non-empty) ``buckets``: one comparison per bucket."""
        by_idle = self.by_idle
        if len(buckets) == 1:
            return by_idle[buckets[0]][0]
        return min([by_idle[b][0] for b in buckets])

    def candidates(self, buckets: list[Bucket]) -> Iterator[AgentKey]:
        """Keys of agents in ``buckets``, longest idle first."""
        lists = [self.by_idle[b] for b in buckets]
        if len(lists) == 1:
            return iter(lists[0])
        if sum(map(len, lists)) <= 64:  # short: one sort beats a merge's per-item upkeep
            return iter(sorted([key for lst in lists for key in lst]))
        return merge(*lists)  # lazily: the caller usually stops after the first few

    def agents_in(self, buckets: list[Bucket]) -> Iterator[MatchAgent]:
        """The agents in ``buckets``, in no promised order (for scans)."""
        members, by_idle = self.members, self.by_idle
        for b in buckets:
            for key in by_idle[b]:
                yield members[key[1]]


class WaitingIndex:
    """Waiting calls grouped by their full requirement *signature*, each group sorted.

    Calls of one queue (and relaxation step) share a signature, so there are about as many
    groups as queue configurations, however long the queues are. Each group is listed under
    its strictest skill, sorted by level: an agent walks only its own skills' lists, up to its
    level, and reads one head per group it qualifies for - no call is ever scanned.
    """

    def __init__(self) -> None:
        self.members: dict[str, tuple[Signature, CallKey]] = {}
        self.groups: dict[Signature, list[CallKey]] = {}
        # strictest skill -> [(its level, signature)], sorted
        self.by_skill: dict[str, list[tuple[int, Signature]]] = {}

    def __contains__(self, call_id: str) -> bool:
        return call_id in self.members

    def __len__(self) -> int:
        return len(self.members)

    def add(self, c: MatchCall) -> None:
        if c.call_id in self.members:
            self.remove(c.call_id)
        sig = signature(c.skills)
        key = call_key(c)
        self.members[c.call_id] = (sig, key)
        lst = self.groups.get(sig)
        if lst is not None:
            insort(lst, key)
            return
        self.groups[sig] = [key]
        if sig:
            skill, level = primary_requirement(c.skills)
            insort(self.by_skill.setdefault(skill, []), (level, sig))

    def remove(self, call_id: str) -> None:
        got = self.members.pop(call_id, None)
        if got is None:
            return
        sig, key = got
        lst = self.groups[sig]
        del lst[bisect_left(lst, key)]
        if lst:
            return
        del self.groups[sig]
        if sig:
            skill, level = primary_requirement(dict(sig))
            entries = self.by_skill[skill]
            del entries[bisect_left(entries, (level, sig))]
            if not entries:
                del self.by_skill[skill]

    def best_for(
        self, skills: Mapping[str, int], calls: Callable[[str], MatchCall | None]
    ) -> tuple[MatchCall | None, int]:
        """The waiting call an agent should take - highest priority, then longest wait - and
        how many waiting calls it could serve."""
        groups = self.groups
        best: CallKey | None = None
        servable = 0
        anyone = groups.get(())
        if anyone:
            best = anyone[0]
            servable = len(anyone)
        by_skill = self.by_skill
        for s, own in skills.items():
            entries = by_skill.get(s)
            if entries is None:
                continue
            for level, sig in entries:
                if level > own:
                    break
                if len(sig) > 1 and not meets(skills, sig):
                    continue
                lst = groups[sig]
                servable += len(lst)
                if best is None or lst[0] < best:
                    best = lst[0]
        return (None if best is None else calls(best[3])), servable


def build(state: MatcherState) -> tuple[ReadyIndex, WaitingIndex]:
    ready = ReadyIndex()
    for a in cow.values(state.agents):
        if a.ready and a.offer is None:
            ready.add(a)
    waiting = WaitingIndex()
    for c in cow.values(state.calls):
        if not c.offered_to:
            waiting.add(c)
    return ready, waiting
