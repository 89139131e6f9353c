"""Today's figures, kept current from journal records: the live side of the one definition set.

:class:`LiveStats` folds records with :class:`stats.facts.MemoryFacts` (the projector's own
derivation) and computes queue and agent figures with :mod:`stats.definitions` over
``[start of today, now)`` - exactly what ``contactor report`` computes for the same period.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import replace
from zoneinfo import ZoneInfo

from stats.definitions import (
    BUSY_STATES,
    Interval,
    Thresholds,
    Visit,
    agent_kpis,
    queue_kpis,
)
from stats.facts import MemoryFacts
from stats.messages import AgentStats, CallInProgress, OpenHelp, QueueStats, StatsSnapshot
from store.journal import JournalRecord

_CALL_STATES = ("reserved", "ringing", "talking", "on_hold")


def day_start(now: float, tz: ZoneInfo) -> float:
    local = dt.datetime.fromtimestamp(now, tz)
    return local.replace(hour=0, minute=0, second=0, microsecond=0).timestamp()


class LiveStats:
    def __init__(
        self,
        *,
        thresholds: Thresholds,
        tz: ZoneInfo,
        queues: Iterable[str] = (),
        agent_queues: Mapping[str, Iterable[str]] | None = None,
    ) -> None:
        self.thresholds = thresholds
        self.tz = tz
        self.queues = tuple(queues)
        self.agent_queues = {a: tuple(qs) for a, qs in (agent_queues or {}).items()}
        self.facts = MemoryFacts()
        self.help: dict[str, OpenHelp] = {}
        self.position = 0
        self._day = 0.0

    def load(self, visits: Iterable[Visit], intervals: Iterable[Interval], position: int) -> None:
        """Start from facts read back from the reporting tables at journal ``position``."""
        self.facts.load(visits, intervals)
        self.position = position

    def apply(self, record: JournalRecord) -> None:
        if record.seq <= self.position:
            return  # already folded (a replayed batch)
        self.position = record.seq
        self.facts.apply(record)
        if record.kind == "agent.help_event":
            self._help(record)

    def _help(self, r: JournalRecord) -> None:
        p = r.payload
        step = p.get("step")
        if step in ("resolved", "cancelled"):
            self.help.pop(p["help_id"], None)
            return
        current = self.help.get(p["help_id"])
        if current is None:
            self.help[p["help_id"]] = OpenHelp(
                help_id=p["help_id"], agent=p["agent"], call_id=p.get("call_id"),
                raised_at=r.ts, note=p.get("note", ""), supervisor=p.get("supervisor"),
                mode=p.get("mode"))
        else:
            self.help[p["help_id"]] = replace(current, supervisor=p.get("supervisor"),
                                              mode=p.get("mode"))

    def snapshot(self, now: float) -> StatsSnapshot:
        start = day_start(now, self.tz)
        if start != self._day:
            self.facts.forget_before(start)
            self._day = start
        visits = list(self.facts.visits.values())
        intervals = list(self.facts.intervals.values())
        qk = queue_kpis(visits, intervals, start=start, end=now + 1e-9, now=now,
                        thresholds=self.thresholds, queues=self.queues)
        ak = agent_kpis(intervals, start=start, end=now + 1e-9, now=now)
        current = {iv.agent: iv for iv in intervals if iv.ended_at is None}
        waiting = self.facts.waiting()
        by_state: dict[str, dict[str, int]] = {}
        for agent, iv in current.items():
            for q in self.agent_queues.get(agent, ()):
                s = by_state.setdefault(q, {})
                s[iv.state] = s.get(iv.state, 0) + 1
        queues = []
        for q, k in qk.items():
            mine = [now - v.queued_at for v in waiting if v.queue == q]
            queues.append(QueueStats(
                queue=q, waiting=len(mine), longest_waiting_s=max(mine, default=0.0),
                offered=k.offered, answered=k.answered, abandoned=k.abandoned,
                short_abandoned=k.short_abandoned, overflowed=k.overflowed,
                service_level=k.service_level, asa_s=k.asa_s, aht_s=k.aht_s,
                abandon_rate=k.abandon_rate, longest_wait_s=k.longest_wait_s,
                service_level_s=self.thresholds.sl_of(q), agents_by_state=by_state.get(q, {})))
        agents = []
        for agent, iv in sorted(current.items()):
            a = ak.get(agent)
            agents.append(AgentStats(
                agent=agent, state=iv.state, reason=iv.reason, since=iv.started_at,
                call_id=iv.call_id if iv.state in (*BUSY_STATES,) else None,
                queue=iv.queue if iv.state in BUSY_STATES else None,
                handled=a.handled if a else 0, aht_s=a.aht_s if a else None,
                occupancy=a.occupancy if a else None, utilisation=a.utilisation if a else None))
        calls = [CallInProgress(call_id=v.call_id, state="waiting", queue=v.queue, agent=None,
                                since=v.queued_at) for v in waiting]
        calls += [CallInProgress(call_id=iv.call_id, state=iv.state, queue=iv.queue,
                                 agent=iv.agent, since=iv.started_at)
                  for iv in current.values() if iv.call_id and iv.state in _CALL_STATES]
        return StatsSnapshot(at=now, day_start=start, queues=tuple(queues), agents=tuple(agents),
                             calls=tuple(sorted(calls, key=lambda c: c.since)),
                             help=tuple(sorted(self.help.values(), key=lambda h: h.raised_at)))
