"""The KPI summary of a run, with the center's own metric definitions (:mod:`stats.definitions`,
stated in docs/metrics.md): the run's journal events become journal records, are folded into
visits and agent intervals by :mod:`stats.facts` - the path the live service and the reports
take - and :func:`stats.definitions.queue_kpis` / :func:`~stats.definitions.agent_kpis`
compute the figures. This module only chooses the window and adds two views:

* the window is ``[warmup_s, duration_s)``: calls offered during the warm-up are left out (the
  run starts with empty queues and idle agents, which flatters every figure);
* the center-wide row counts each call once: a call that overflowed from one queue into
  another is one offered call, its waits added up, ending where it ended;
* ``p_wait``, the share of answered calls that waited at all, is Erlang C's P(wait) (with an
  answer delay every call "waits" its ring time).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace

from bus.message import Message, as_dict
from stats.definitions import (
    BUSY_STATES,
    Thresholds,
    Visit,
    agent_kpis,
    queue_kpis,
)
from stats.definitions import QueueKpis as StatsQueueKpis
from stats.facts import fold
from store.journal import JournalRecord

ALL = "*"


@dataclass(frozen=True, slots=True, kw_only=True)
class QueueKpi:
    queue: str
    offered: int
    answered: int
    abandoned: int
    short_abandoned: int
    overflowed: int
    service_level: float | None
    asa_s: float | None
    abandon_rate: float | None
    #: share of answered calls that waited at all (Erlang C's P(wait))
    p_wait: float | None


@dataclass(frozen=True, slots=True, kw_only=True)
class GroupKpi:
    group: str
    agents: int
    handled: int
    aht_s: float | None
    occupancy: float | None


@dataclass(frozen=True, slots=True, kw_only=True)
class Kpis:
    sl_threshold_s: float
    short_abandon_s: float
    window_s: tuple[float, float]
    center: QueueKpi
    queues: tuple[QueueKpi, ...]
    groups: tuple[GroupKpi, ...]
    #: all agents' busy time / (busy + ready) time
    occupancy: float | None


def records(events: Iterable[Message]) -> list[JournalRecord]:
    """The events as the journal would hold them (``ts``: simulated seconds)."""
    out = []
    for seq, e in enumerate(events, start=1):
        at = float(getattr(e, "at", 0.0))
        out.append(JournalRecord(seq=seq, ts=at, actor="", actor_seq=seq, kind=e.TAG,
                                 payload=as_dict(e)))  # fmt: skip
    return out


def _p_wait(visits: Iterable[Visit], start: float, end: float) -> dict[str, float]:
    counts: dict[str, list[int]] = {}
    for v in visits:
        if v.result == "answered" and start <= v.queued_at < end:
            c = counts.setdefault(v.queue, [0, 0])
            c[0] += (v.wait_s or 0.0) > 1e-9
            c[1] += 1
    return {q: w / n for q, (w, n) in counts.items()}


def _calls(visits: Iterable[Visit]) -> list[Visit]:
    """One visit per call: from its first queueing to its last outcome, waits added up."""
    by_call: dict[str, list[Visit]] = {}
    for v in visits:
        by_call.setdefault(v.call_id, []).append(v)
    out = []
    for stays in by_call.values():
        stays.sort(key=lambda v: v.queued_at)
        last = stays[-1]
        waited = [v.wait_s for v in stays if v.wait_s is not None]
        out.append(replace(
            last, queue=ALL, queued_at=stays[0].queued_at,
            wait_s=sum(waited) if last.wait_s is not None else None,
        ))  # fmt: skip
    return out


def _row(k: StatsQueueKpis, p_wait: float | None) -> QueueKpi:
    return QueueKpi(
        queue=k.queue, offered=k.offered, answered=k.answered, abandoned=k.abandoned,
        short_abandoned=k.short_abandoned, overflowed=k.overflowed,
        service_level=k.service_level, asa_s=k.asa_s, abandon_rate=k.abandon_rate,
        p_wait=p_wait,
    )  # fmt: skip


def summarize(
    events: Sequence[Message],
    *,
    sl_threshold_s: float,
    short_abandon_s: float,
    start: float,
    end: float,
    now: float,
    group_of: Mapping[str, str],
    queues: Iterable[str] = (),
) -> Kpis:
    return summarize_records(
        records(events), sl_threshold_s=sl_threshold_s, short_abandon_s=short_abandon_s,
        start=start, end=end, now=now, group_of=group_of, queues=queues,
    )  # fmt: skip


def summarize_records(
    journal: Sequence[JournalRecord],
    *,
    sl_threshold_s: float,
    short_abandon_s: float,
    start: float,
    end: float,
    now: float,
    group_of: Mapping[str, str],
    queues: Iterable[str] = (),
) -> Kpis:
    """The KPIs of journal records (a center's own journal at wire level; ``ts`` in the
    same time base as ``start``/``end``/``now``)."""
    facts = fold(journal)
    visits = list(facts.visits.values())
    intervals = list(facts.intervals.values())
    thresholds = Thresholds(default_service_level_s=sl_threshold_s,
                            short_abandon_s=short_abandon_s)  # fmt: skip
    window = {"start": start, "end": end, "now": now}
    per_queue = queue_kpis(visits, intervals, thresholds=thresholds, queues=queues, **window)
    p_wait = _p_wait(visits, start, end)
    rows = tuple(_row(k, p_wait.get(q)) for q, k in sorted(per_queue.items()))
    calls = _calls(visits)
    center = queue_kpis(calls, (), thresholds=thresholds, queues=(ALL,), **window)[ALL]
    center_row = _row(center, _p_wait(calls, start, end).get(ALL))

    per_agent = agent_kpis(intervals, **window)
    acc: dict[str, list[float]] = {}  # group -> handled, handling s, busy s, staffed s
    agents_in: dict[str, int] = {}
    for login, g in group_of.items():
        agents_in[g] = agents_in.get(g, 0) + 1
        a = acc.setdefault(g, [0.0, 0.0, 0.0, 0.0])
        f = per_agent.get(login)
        if f is None:
            continue
        busy = sum(f.seconds_in.get(k, 0.0) for k in BUSY_STATES)
        a[0] += f.handled
        a[1] += (f.aht_s or 0.0) * f.handled
        a[2] += busy
        a[3] += busy + f.seconds_in.get("ready", 0.0)
    groups = tuple(
        GroupKpi(group=g, agents=agents_in[g], handled=int(a[0]),
                 aht_s=a[1] / a[0] if a[0] else None, occupancy=a[2] / a[3] if a[3] else None)
        for g, a in sorted(acc.items())
    )  # fmt: skip
    busy_s = sum(a[2] for a in acc.values())
    staffed_s = sum(a[3] for a in acc.values())
    return Kpis(
        sl_threshold_s=sl_threshold_s,
        short_abandon_s=short_abandon_s,
        window_s=(start, end),
        center=center_row,
        queues=rows,
        groups=groups,
        occupancy=busy_s / staffed_s if staffed_s else None,
    )
