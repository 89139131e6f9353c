"""A run's result as a table for people and as JSON for machines (the same figures)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from sim.erlang import ErlangFigures
from sim.kpi import Kpis, QueueKpi
from sim.runner import Progress, SimResult


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.1f} %"


def _s(x: float | None, digits: int = 2) -> str:
    return "-" if x is None else f"{x:.{digits}f} s"


def _us(x: float | None) -> str:
    return "-" if x is None else f"{x:,.0f} us"


def progress_line(p: Progress) -> str:
    return (f"  t={p.sim_s:8.0f} s  wall {p.wall_s:6.1f} s  offered {p.offered:7d}  answered "
            f"{p.answered:7d}  abandoned {p.abandoned:6d}  waiting {p.waiting:5d}  "
            f"messages {p.messages:,}")  # fmt: skip


def _queue_line(q: QueueKpi, width: int) -> str:
    return (f"  {q.queue:<{width}} {q.offered:>8} {q.answered:>8} {q.abandoned:>9} "
            f"{q.short_abandoned:>6} {q.overflowed:>10} {_pct(q.service_level):>8} "
            f"{_s(q.asa_s):>9} {_pct(q.abandon_rate):>9} {_pct(q.p_wait):>8}")  # fmt: skip


def kpi_lines(k: Kpis, erlang: ErlangFigures | None) -> list[str]:
    """The KPI table (queues, agent groups) and the Erlang C reference: both levels print it."""
    lines = [
        f"KPIs (stats.definitions; service level: answered within {k.sl_threshold_s:g} s; "
        f"short: abandoned within {k.short_abandon_s:g} s, not counted)",
    ]
    width = max(5, *(len(q.queue) for q in k.queues))
    lines.append(
        f"  {'queue':<{width}} {'offered':>8} {'answered':>8} {'abandoned':>9} {'short':>6} "
        f"{'overflowed':>10} {'SL':>8} {'ASA':>9} {'abandon':>9} {'P(wait)':>8}"
    )
    lines.extend(_queue_line(q, width) for q in k.queues)
    if len(k.queues) > 1:
        lines.append(_queue_line(k.center, width))
    lines.append("")
    lines.append(f"  {'agent group':<16} {'agents':>7} {'handled':>8} {'AHT':>9} {'occupancy':>10}")
    for g in k.groups:
        lines.append(f"  {g.group:<16} {g.agents:>7} {g.handled:>8} {_s(g.aht_s, 1):>9} "
                     f"{_pct(g.occupancy):>10}")  # fmt: skip
    lines.append(f"  occupancy, all agents: {_pct(k.occupancy)}")
    if erlang is not None:
        e = erlang
        lines += [
            "",
            f"Erlang C reference ({e.agents} agents, {e.load_erlangs:.1f} erlangs; exact for "
            "M/M/c: exponential handling, no abandonment)",
            f"  P(wait) {_pct(e.p_wait)}   ASA {_s(e.asa_s)}   SL {_pct(e.service_level)}   "
            f"occupancy {_pct(e.occupancy)}",
        ]
    return lines


def render(r: SimResult) -> str:
    k = r.kpis
    sysf = r.system
    lines = [
        f"scenario: {r.scenario}  (seed {r.seed}, {r.agents} agents, {r.calls} calls, "
        f"{r.simulated_s:.0f} simulated s; KPIs over {k.window_s[0]:.0f}-{k.window_s[1]:.0f} s)",
        "",
        *kpi_lines(k, r.erlang),
    ]
    lines += [
        "",
        "System (wall time of this process)",
        f"  wall {sysf.wall_s:.1f} s ({sysf.speedup:,.0f}x real time)   CPU {sysf.cpu_s:.1f} s   "
        f"peak RSS {sysf.peak_rss_mib:.0f} MiB",
        f"  messages {sysf.messages:,} ({sysf.messages_per_wall_s:,.0f}/s)   decisions "
        f"{sysf.decisions:,}",
        f"  decisions/s (matcher CPU) {_rate(sysf.decisions_per_s)}   per wall s "
        f"{sysf.decisions_per_wall_s:,.0f}",
        f"  decision latency p50 {_us(sysf.decision_p50_us)}   p99 {_us(sysf.decision_p99_us)}",
    ]
    if r.still_waiting:
        lines.append(f"  still waiting at the end: {r.still_waiting} calls")
    if r.protocol_errors:
        lines.append(f"  PROTOCOL ERRORS: {len(r.protocol_errors)}, first: {r.protocol_errors[0]}")
    return "\n".join(lines)


def _rate(x: float | None) -> str:
    return "-" if x is None else f"{x:,.0f}"


def to_json(r: SimResult) -> dict[str, Any]:
    out = asdict(r)
    out["protocol_errors"] = list(r.protocol_errors[:100])
    out["protocol_error_count"] = len(r.protocol_errors)
    return out
