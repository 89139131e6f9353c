"""Indices that make one matching decision cost O(log n)-ish instead of a scan of everything.

Both indices are *derived* data: :func:`build` recreates them from a :class:`MatcherState`, so
the persisted state stays one plain record and a restarted matcher loses nothing.

* :class:`ReadyIndex` - ready, unreserved agents bucketed by ``(skill, level)`` (plus one
  ``ANY`` bucket holding everyone). Each bucket keeps a sorted list per *order* a strategy
  needs (idle time, calls handled, talk time, login). A requirement ``fr>=5`` is the union of
  buckets ``(fr, 5..10)``: at most six sorted lists whose heads are compared.
* :class:`WaitingIndex` - waiting calls bucketed by their strictest requirement, each bucket
  sorted by ``(-priority, waiting_since, seq)``. An agent looks only at buckets its skills
  satisfy and reads their heads.
"""

from __future__ import annotations

from bisect import bisect_left, insort
from collections.abc import Iterator, Mapping
from heapq import merge
from typing import Literal

from actors.matcher.messages import MAX_LEVEL, MatchAgent, MatchCall, MatcherState, Strategy

AgentOrder = Literal["idle", "calls", "talk", "login"]
Bucket = tuple[str, int]
AgentKey = tuple[float | int | str, ...]
CallKey = tuple[int, float, int, str]

#: the bucket every ready agent is in, and that calls with no requirement wait in
ANY: Bucket = ("", 0)

ORDER_OF: Mapping[Strategy, AgentOrder] = {
    "longest-idle": "idle",
    "skills-weighted": "idle",
    "ring-all": "idle",
    "fewest-calls": "calls",
    "least-talk-time": "talk",
    "round-robin": "login",
    "random": "login",
}


def agent_key(order: AgentOrder, a: MatchAgent) -> AgentKey:
    # The login is always last: keys are unique and the index can find the agent back.
    if order == "idle":
        return (a.idle_since, a.login)
    if order == "calls":
        return (a.calls_handled, a.idle_since, a.login)
    if order == "talk":
        return (a.talk_time_s, a.idle_since, a.login)
    return (a.login,)


def call_key(c: MatchCall) -> CallKey:
    return (-c.priority, c.waiting_since, c.seq, c.call_id)


def primary_requirement(skills: Mapping[str, int]) -> Bucket:
    """The strictest requirement (highest level, then name): the bucket a waiting call sits in."""
    if not skills:
        return ANY
    level, skill = max((lvl, s) for s, lvl in skills.items())
    return (skill, level)


def satisfies(agent_skills: Mapping[str, int], required: Mapping[str, int]) -> bool:
    return all(agent_skills.get(s, 0) >= lvl for s, lvl in required.items())


def render_requirements(skills: Mapping[str, int]) -> str:
    if not skills:
        return "any skill"
    return ", ".join(f"{s}>={lvl}" for s, lvl in sorted(skills.items()))


class ReadyIndex:
    def __init__(self) -> None:
        self.members: dict[str, MatchAgent] = {}
        self.count: dict[Bucket, int] = {}
        self.lists: dict[AgentOrder, dict[Bucket, list[AgentKey]]] = {"idle": {}}

    def __contains__(self, login: str) -> bool:
        return login in self.members

    def __len__(self) -> int:
        return len(self.members)

    @staticmethod
    def _buckets(a: MatchAgent) -> Iterator[Bucket]:
        yield ANY
        yield from a.skills.items()

    def add(self, a: MatchAgent) -> None:
        if a.login in self.members:
            self.remove(a.login)
        self.members[a.login] = a
        count = self.count
        for b in self._buckets(a):
            count[b] = count.get(b, 0) + 1
            for order, by_bucket in self.lists.items():
                lst = by_bucket.get(b)
                if lst is None:
                    by_bucket[b] = [agent_key(order, a)]
                else:
                    insort(lst, agent_key(order, a))

    def remove(self, login: str) -> MatchAgent | None:
        a = self.members.pop(login, None)
        if a is None:
            return None
        for b in self._buckets(a):
            self.count[b] -= 1
            for order, by_bucket in self.lists.items():
                lst = by_bucket[b]
                key = agent_key(order, a)
                del lst[bisect_left(lst, key)]
        return a

    def enable(self, order: AgentOrder) -> dict[Bucket, list[AgentKey]]:
        """The sorted lists for ``order``, built on first use (only orders in use cost upkeep)."""
        by_bucket = self.lists.get(order)
        if by_bucket is None:
            by_bucket = {}
            for a in self.members.values():
                for b in self._buckets(a):
                    by_bucket.setdefault(b, []).append(agent_key(order, a))
            for lst in by_bucket.values():
                lst.sort()
            self.lists[order] = by_bucket
        return by_bucket

    def buckets_for(self, req: Bucket) -> list[Bucket]:
        """Non-empty buckets holding agents that meet ``req`` (skill at ``level`` or more)."""
        if req == ANY:
            return [ANY] if self.count.get(ANY) else []
        skill, level = req
        count = self.count
        return [(skill, lvl) for lvl in range(level, MAX_LEVEL + 1) if count.get((skill, lvl))]

    def candidates(self, order: AgentOrder, buckets: list[Bucket]) -> Iterator[AgentKey]:
        """Keys of agents in ``buckets`` in ``order``, lazily merged."""
        by_bucket = self.enable(order)
        lists = [by_bucket[b] for b in buckets]
        if len(lists) == 1:
            return iter(lists[0])
        return merge(*lists)


class WaitingIndex:
    def __init__(self) -> None:
        # call id -> (bucket, key, has requirements beyond the bucket's)
        self.members: dict[str, tuple[Bucket, CallKey, bool]] = {}
        self.buckets: dict[Bucket, list[CallKey]] = {}
        self.extra: dict[Bucket, int] = {}
        self.levels: dict[str, set[int]] = {}

    def __contains__(self, call_id: str) -> bool:
        return call_id in self.members

    def __len__(self) -> int:
        return len(self.members)

    def add(self, c: MatchCall) -> None:
        if c.call_id in self.members:
            self.remove(c.call_id)
        b = primary_requirement(c.skills)
        key = call_key(c)
        extra = len(c.skills) > 1
        self.members[c.call_id] = (b, key, extra)
        lst = self.buckets.get(b)
        if lst is None:
            self.buckets[b] = [key]
            self.levels.setdefault(b[0], set()).add(b[1])
        else:
            insort(lst, key)
        if extra:
            self.extra[b] = self.extra.get(b, 0) + 1

    def remove(self, call_id: str) -> None:
        got = self.members.pop(call_id, None)
        if got is None:
            return
        b, key, extra = got
        lst = self.buckets[b]
        del lst[bisect_left(lst, key)]
        if not lst:
            del self.buckets[b]
            levels = self.levels[b[0]]
            levels.discard(b[1])
            if not levels:
                del self.levels[b[0]]
        if extra:
            self.extra[b] -= 1

    def buckets_for_agent(self, skills: Mapping[str, int]) -> list[Bucket]:
        """Buckets whose primary requirement an agent with ``skills`` meets."""
        out: list[Bucket] = [ANY] if ANY in self.buckets else []
        levels = self.levels
        for s, own in skills.items():
            got = levels.get(s)
            if got:
                out.extend((s, lvl) for lvl in got if lvl <= own)
        return out

    def best_for(
        self, skills: Mapping[str, int], calls: Mapping[str, MatchCall]
    ) -> tuple[MatchCall | None, int, bool]:
        """The waiting call an agent should take: highest priority, then longest wait.

        Returns ``(call, candidates, exact)``: how many waiting calls sit in buckets the agent
        qualifies for, and whether that count is exact (no call there has further requirements).
        """
        best: MatchCall | None = None
        best_key: CallKey | None = None
        candidates = 0
        exact = True
        for b in self.buckets_for_agent(skills):
            lst = self.buckets[b]
            candidates += len(lst)
            if self.extra.get(b):
                exact = False
            for key in lst:
                if best_key is not None and key >= best_key:
                    break  # sorted: nothing later in this bucket beats the best so far
                c = calls[key[3]]
                if len(c.skills) <= 1 or satisfies(skills, c.skills):
                    best, best_key = c, key
                    break
        return best, candidates, exact


def build(state: MatcherState) -> tuple[ReadyIndex, WaitingIndex]:
    ready = ReadyIndex()
    for a in state.agents.values():
        if a.ready and a.offer is None:
            ready.add(a)
    waiting = WaitingIndex()
    for c in state.calls.values():
        if not c.offered_to:
            waiting.add(c)
    return ready, waiting


