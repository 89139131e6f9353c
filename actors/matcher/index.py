"""Indices that make one matching decision cost O(log n)-ish instead of a scan of everything.

Both indices are *derived* data: :func:`build` recreates them from a :class:`MatcherState`, so
the persisted state stays one plain record and a restarted matcher loses nothing.

* :class:`ReadyIndex` - ready, unreserved agents bucketed by ``(skill, level)`` (plus one
  ``ANY`` bucket holding everyone). Each bucket keeps a sorted list per *order* a strategy
  needs (idle time, calls handled, talk time, login). A requirement ``fr>=5`` is the union of
  buckets ``(fr, 5..10)``: at most six sorted lists whose heads are compared.
* :class:`WaitingIndex` - waiting calls grouped by their whole requirement (one group per
  queue configuration, however long the queue), each group sorted by
  ``(-priority, waiting_since, seq)``. An agent reads the head of each group it qualifies for.
"""

from __future__ import annotations

from bisect import bisect_left, insort
from collections.abc import Callable, Iterator, Mapping
from heapq import merge
from typing import Literal

from actors.matcher import cow
from actors.matcher.messages import MAX_LEVEL, MatchAgent, MatchCall, MatcherState, Strategy

AgentOrder = Literal["idle", "calls", "talk", "login"]
Bucket = tuple[str, int]
AgentKey = tuple[float | int | str, ...]
CallKey = tuple[int, float, int, str]
Signature = tuple[tuple[str, int], ...]

#: the bucket every ready agent is in, and that calls with no requirement wait in
ANY: Bucket = ("", 0)

ORDER_OF: Mapping[Strategy, AgentOrder] = {
    "longest-idle": "idle",
    "skills-weighted": "idle",
    "ring-all": "idle",
    "fewest-calls": "calls",
    "least-talk-time": "talk",
    "round-robin": "login",
    "random": "idle",
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
    def __init__(self) -> None:
        self.members: dict[str, MatchAgent] = {}
        self.count: dict[Bucket, int] = {}
        self.lists: dict[AgentOrder, dict[Bucket, list[AgentKey]]] = {"idle": {}}
        # The catch-all bucket costs upkeep on every change; kept only once a call without
        # requirements has asked for it.
        self.with_any = False

    def __contains__(self, login: str) -> bool:
        return login in self.members

    def __len__(self) -> int:
        return len(self.members)

    def _buckets(self, a: MatchAgent) -> list[Bucket]:
        if self.with_any:
            return [ANY, *a.skills.items()]
        return list(a.skills.items())

    def add(self, a: MatchAgent) -> None:
        if a.login in self.members:
            self.remove(a.login)
        self.members[a.login] = a
        buckets = self._buckets(a)
        count = self.count
        for b in buckets:
            count[b] = count.get(b, 0) + 1
        for order, by_bucket in self.lists.items():
            key = agent_key(order, a)
            for b in buckets:
                lst = by_bucket.get(b)
                if lst is None:
                    by_bucket[b] = [key]
                else:
                    insort(lst, key)

    def remove(self, login: str) -> MatchAgent | None:
        a = self.members.pop(login, None)
        if a is None:
            return None
        buckets = self._buckets(a)
        count = self.count
        for b in buckets:
            count[b] -= 1
        for order, by_bucket in self.lists.items():
            key = agent_key(order, a)
            for b in buckets:
                lst = by_bucket[b]
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

    def _enable_any(self) -> None:
        self.with_any = True
        self.count[ANY] = len(self.members)
        for order, by_bucket in self.lists.items():
            by_bucket[ANY] = sorted(agent_key(order, a) for a in self.members.values())

    def buckets_for(self, req: Bucket) -> list[Bucket]:
        """Non-empty buckets holding agents that meet ``req`` (skill at ``level`` or more)."""
        if req == ANY:
            if not self.with_any:
                self._enable_any()
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


