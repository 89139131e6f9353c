"""Reports over a period: rows per interval from the shared definitions, as text, CSV or PNG."""

from __future__ import annotations

import csv
import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from stats.definitions import Interval, Thresholds, Visit, agent_kpis, buckets, queue_kpis

REPORT_NAMES = ("queues", "agents", "calls")
TOTAL = "total"


@dataclass(frozen=True, slots=True, kw_only=True)
class Report:
    name: str
    columns: tuple[str, ...]
    rows: list[tuple[Any, ...]]

    def column(self, name: str) -> list[Any]:
        i = self.columns.index(name)
        return [row[i] for row in self.rows]


QUEUE_COLUMNS = ("interval", "queue", "offered", "answered", "answered_in_sl", "abandoned",
                 "short_abandoned", "overflowed", "service_level", "asa_s", "aht_s",
                 "abandon_rate", "longest_wait_s")
AGENT_COLUMNS = ("interval", "agent", "handled", "aht_s", "occupancy", "utilisation",
                 "ready_s", "not_ready_s", "talking_s", "on_hold_s", "wrap_up_s")


def _label(t: float, tz: ZoneInfo) -> str:
    return dt.datetime.fromtimestamp(t, tz).strftime("%Y-%m-%d %H:%M")


def queue_report(
    visits: Sequence[Visit], intervals: Sequence[Interval], *, start: float, end: float,
    minutes: int, thresholds: Thresholds, now: float, tz: ZoneInfo,
    queue: str | None = None,
) -> Report:
    """One row per queue per interval, then one ``total`` row per queue for the whole period."""
    rows: list[tuple[Any, ...]] = []
    periods = [(_label(s, tz), s, e) for s, e in buckets(start, end, minutes)]
    seen = queue_kpis(visits, intervals, start=start, end=end, now=now, thresholds=thresholds)
    for label, s, e in [*periods, (TOTAL, start, end)]:
        figures = queue_kpis(visits, intervals, start=s, end=e, now=now, thresholds=thresholds,
                             queues=seen)
        for q, k in figures.items():
            if queue is not None and q != queue:
                continue
            rows.append((label, q, k.offered, k.answered, k.answered_in_sl, k.abandoned,
                         k.short_abandoned, k.overflowed, k.service_level, k.asa_s, k.aht_s,
                         k.abandon_rate, k.longest_wait_s))
    return Report(name="queues", columns=QUEUE_COLUMNS, rows=rows)


def agent_report(
    intervals: Sequence[Interval], *, start: float, end: float, minutes: int, now: float,
    tz: ZoneInfo, agent: str | None = None,
) -> Report:
    rows: list[tuple[Any, ...]] = []
    periods = [(_label(s, tz), s, e) for s, e in buckets(start, end, minutes)]
    for label, s, e in [*periods, (TOTAL, start, end)]:
        for a, k in agent_kpis(intervals, start=s, end=e, now=now).items():
            if agent is not None and a != agent:
                continue
            secs = k.seconds_in
            rows.append((label, a, k.handled, k.aht_s, k.occupancy, k.utilisation,
                         *(secs.get(st, 0.0) for st in
                           ("ready", "not_ready", "talking", "on_hold", "wrap_up"))))
    return Report(name="agents", columns=AGENT_COLUMNS, rows=rows)


def calls_report(calls: Sequence[dict[str, Any]], tz: ZoneInfo, *, queue: str | None = None,
                 agent: str | None = None, mos_below: float | None = None) -> Report:
    """``mos``: the worst leg's estimated MOS (None: no media through the pool)."""
    columns = ("call_id", "queue", "agent", "enqueued", "answered", "ended", "wait_s",
               "talk_s", "hold_s", "wrap_s", "result", "queues", "recording_id", "mos")
    rows = []
    for c in calls:
        mos = c.get("mos")
        if mos_below is not None and (mos is None or mos >= mos_below):
            continue
        if queue is not None and queue not in (c["queues"] or []):
            continue
        if agent is not None and c["agent"] != agent:
            continue
        rows.append((c["call_id"], c["queue"], c["agent"],
                     *(None if c[k] is None else _label(c[k], tz)
                       for k in ("enqueued_at", "answered_at", "ended_at")),
                     c["wait_s"], c["talk_s"], c["hold_s"], c["wrap_s"], c["result"],
                     ",".join(c["queues"] or []), c["recording_id"],
                     None if mos is None else round(mos, 2)))
    return Report(name="calls", columns=columns, rows=rows)


# ------------------------------------------------------------------ rendering


def cell(value: Any, column: str) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        if column in ("service_level", "abandon_rate", "occupancy", "utilisation"):
            return f"{value * 100:.1f}%"
        return f"{value:.1f}"
    return str(value)


def render_table(report: Report) -> str:
    if not report.rows:
        return f"{report.name}: no data in this period"
    text = [[cell(v, c) for v, c in zip(row, report.columns, strict=True)] for row in report.rows]
    widths = [max(len(c), *(len(r[i]) for r in text)) for i, c in enumerate(report.columns)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(report.columns, widths, strict=True)),
             "  ".join("-" * w for w in widths)]
    lines += ["  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)) for r in text]
    return "\n".join(lines)


def write_csv(report: Report, path: Path) -> None:
    """Raw numbers (ratios as fractions, seconds as seconds), empty cells for no value."""
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(report.columns)
        for row in report.rows:
            w.writerow(["" if v is None else v for v in row])


def write_png(report: Report, path: Path, title: str) -> None:
    """Offered calls (bars) and service level (line) per interval, one panel per queue."""
    if report.name != "queues":
        raise ValueError("charts exist for the queues report only (SL and offered per interval)")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    rows = [r for r in report.rows if r[0] != TOTAL]
    queues = sorted({r[1] for r in rows}) or ["(none)"]
    fig, axes = plt.subplots(len(queues), 1, figsize=(10, 3.2 * len(queues)), squeeze=False)
    for ax, q in zip(axes[:, 0], queues, strict=True):
        mine = [r for r in rows if r[1] == q]
        labels = [r[0][-5:] for r in mine]
        x = list(range(len(mine)))
        ax.bar(x, [r[2] for r in mine], color="#9ecae1", label="offered")
        ax.set_ylabel("calls offered")
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylim(0, max([r[2] for r in mine] + [1]) * 1.25)
        ax.set_xticks(x, labels, rotation=45, fontsize=8)
        sl_ax = ax.twinx()
        sl = [None if r[8] is None else r[8] * 100 for r in mine]
        sl_ax.plot(x, [float("nan") if v is None else v for v in sl], "o-", color="#d62728",
                   label="service level %")
        sl_ax.set_ylim(0, 105)
        sl_ax.set_ylabel("service level %")
        ax.set_title(f"{title} - queue {q}")
        handles = ax.get_legend_handles_labels()[0] + sl_ax.get_legend_handles_labels()[0]
        ax.legend(handles, ["offered", "service level %"], loc="upper right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, format="png", dpi=100)
    plt.close(fig)
