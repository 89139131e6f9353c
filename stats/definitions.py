"""The metric dictionary in code: every figure, live or historical, is computed here.

Inputs are two kinds of facts, both derived from the journal by :mod:`stats.facts`:

* :class:`Visit` - one stay of a call in one queue (an overflow to another queue is a new visit);
* :class:`Interval` - one agent state interval (consecutive ``agent.transition`` events).

The live service keeps today's facts in memory, the reports read them back from the reporting
tables; both call :func:`queue_kpis` / :func:`agent_kpis` below, so a figure cannot mean two
things.  ``docs/metrics.md`` states each definition in words; keep the two in step.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

#: states in which an agent is occupied by a call (occupancy's numerator)
BUSY_STATES = ("reserved", "ringing", "talking", "on_hold", "wrap_up")
#: states that make up handle time (AHT)
HANDLING_STATES = ("talking", "on_hold", "wrap_up")
INTERVAL_MINUTES = (15, 30, 60)


@dataclass(frozen=True, slots=True, kw_only=True)
class Visit:
    call_id: str
    queue: str
    queued_at: float
    ended_at: float | None = None
    #: None while the call still waits
    result: str | None = None  # "answered" | "abandoned" | "overflowed"
    wait_s: float | None = None
    agent: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Interval:
    agent: str
    state: str
    started_at: float
    ended_at: float | None = None  # None: the agent is still in this state
    reason: str = ""
    call_id: str | None = None
    queue: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Thresholds:
    """Service-level target per queue (``[[queue]] service_level_s``) and the short abandon."""

    service_level_s: Mapping[str, float] = field(default_factory=dict)
    default_service_level_s: float = 20.0
    #: callers hanging up sooner than this are short abandons (misdials): not counted
    short_abandon_s: float = 5.0

    def sl_of(self, queue: str) -> float:
        return self.service_level_s.get(queue, self.default_service_level_s)


@dataclass(frozen=True, slots=True, kw_only=True)
class QueueKpis:
    queue: str
    offered: int
    answered: int
    answered_in_sl: int
    abandoned: int  # after the short-abandon threshold
    short_abandoned: int
    overflowed: int
    waiting: int  # offered in the period and not yet answered, abandoned or overflowed
    service_level: float | None
    asa_s: float | None
    aht_s: float | None
    abandon_rate: float | None
    longest_wait_s: float | None


@dataclass(frozen=True, slots=True, kw_only=True)
class AgentKpis:
    agent: str
    handled: int
    aht_s: float | None
    occupancy: float | None
    utilisation: float | None
    seconds_in: dict[str, float]


def _ratio(num: float, den: float) -> float | None:
    return num / den if den else None


def _clip(iv: Interval, start: float, end: float, now: float) -> float:
    """Seconds of ``iv`` inside ``[start, end)``; an open interval lasts until ``now``."""
    stop = now if iv.ended_at is None else iv.ended_at
    return max(0.0, min(stop, end, now) - max(iv.started_at, start))


def queue_kpis(
    visits: Iterable[Visit],
    intervals: Iterable[Interval],
    *,
    start: float,
    end: float,
    now: float,
    thresholds: Thresholds,
    queues: Iterable[str] = (),
) -> dict[str, QueueKpis]:
    """Figures per queue for calls that entered the queue in ``[start, end)`` (and a row of
    zeros for each of ``queues`` without any).

    A call's outcome belongs to the interval in which it was offered, even when it is answered
    later; handle time belongs to the interval in which it is spent."""
    acc: dict[str, dict[str, float]] = {}

    def of(queue: str) -> dict[str, float]:
        return acc.setdefault(queue, dict.fromkeys(
            ("offered", "answered", "in_sl", "abandoned", "short", "overflowed", "waiting",
             "wait_sum", "longest", "handling", "handled"), 0.0))  # fmt: skip

    for q in queues:
        of(q)
    for v in visits:
        if not start <= v.queued_at < end:
            continue
        a = of(v.queue)
        a["offered"] += 1
        wait = v.wait_s if v.wait_s is not None else max(0.0, now - v.queued_at)
        if v.result is None:
            a["waiting"] += 1
        elif v.result == "answered":
            a["answered"] += 1
            a["wait_sum"] += wait
            a["in_sl"] += wait <= thresholds.sl_of(v.queue)
        elif v.result == "abandoned":
            if wait < thresholds.short_abandon_s:
                a["short"] += 1
            else:
                a["abandoned"] += 1
        else:
            a["overflowed"] += 1
        a["longest"] = max(a["longest"], wait)
    handled: dict[str, set[str]] = {}
    for iv in intervals:
        if iv.queue is None or iv.state not in HANDLING_STATES:
            continue
        seconds = _clip(iv, start, end, now)
        if seconds > 0:
            of(iv.queue)["handling"] += seconds
        if iv.state == "wrap_up" and iv.call_id and start <= iv.started_at < end:
            handled.setdefault(iv.queue, set()).add(iv.call_id)
    out: dict[str, QueueKpis] = {}
    for q, a in sorted(acc.items()):
        n_handled = len(handled.get(q, ()))
        offered = int(a["offered"])
        out[q] = QueueKpis(
            queue=q,
            offered=offered,
            answered=int(a["answered"]),
            answered_in_sl=int(a["in_sl"]),
            abandoned=int(a["abandoned"]),
            short_abandoned=int(a["short"]),
            overflowed=int(a["overflowed"]),
            waiting=int(a["waiting"]),
            service_level=_ratio(a["in_sl"], a["answered"] + a["abandoned"]),
            asa_s=_ratio(a["wait_sum"], a["answered"]),
            aht_s=_ratio(a["handling"], n_handled),
            abandon_rate=_ratio(a["abandoned"], offered - a["short"]),
            longest_wait_s=a["longest"] if offered else None,
        )
    return out


def agent_kpis(
    intervals: Iterable[Interval], *, start: float, end: float, now: float
) -> dict[str, AgentKpis]:
    """Figures per agent from the parts of their state intervals inside ``[start, end)``."""
    spent: dict[str, dict[str, float]] = {}
    handled: dict[str, set[str]] = {}
    for iv in intervals:
        seconds = _clip(iv, start, end, now)
        if seconds <= 0 and not start <= iv.started_at < end:
            continue
        s = spent.setdefault(iv.agent, {})
        s[iv.state] = s.get(iv.state, 0.0) + seconds
        if iv.state == "wrap_up" and iv.call_id and start <= iv.started_at < end:
            handled.setdefault(iv.agent, set()).add(iv.call_id)
    out: dict[str, AgentKpis] = {}
    for agent, s in sorted(spent.items()):
        n = len(handled.get(agent, ()))
        busy = sum(s.get(k, 0.0) for k in BUSY_STATES)
        logged_in = sum(v for k, v in s.items() if k != "logged_out")
        out[agent] = AgentKpis(
            agent=agent,
            handled=n,
            aht_s=_ratio(sum(s.get(k, 0.0) for k in HANDLING_STATES), n),
            occupancy=_ratio(busy, busy + s.get("ready", 0.0)),
            utilisation=_ratio(busy, logged_in),
            seconds_in={k: v for k, v in s.items() if v > 0},
        )
    return out


def buckets(start: float, end: float, minutes: int) -> list[tuple[float, float]]:
    """``[start, end)`` cut into reporting intervals aligned on multiples of ``minutes``."""
    if minutes not in INTERVAL_MINUTES:
        raise ValueError(f"interval must be one of {INTERVAL_MINUTES} minutes, got {minutes}")
    step = minutes * 60.0
    out = []
    t = start - (start % step)
    while t < end:
        out.append((max(t, start), min(t + step, end)))
        t += step
    return out
