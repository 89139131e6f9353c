"""``contactor report NAME``: queue, agent and call reports from the reporting tables.

``contactor report rebuild`` empties the reporting tables and projects the whole journal again.
Reports first fold in whatever the journal holds beyond the projector's position, so they are
current even when the ``stats`` service is not running.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from cli.center_client import center_of
from cli.common import EXIT_FAILURE, EXIT_NOT_RUNNING, EXIT_OK, EXIT_USAGE, InvalidConfig, error

NAMES = ("queues", "agents", "calls", "rebuild")


def register(subparsers: Any, common: argparse.ArgumentParser) -> None:
    p = subparsers.add_parser(
        "report", parents=[common], help="queue/agent/call reports; rebuild the tables",
        description="Reports per interval over a period (times in the center's timezone). "
                    "Definitions: docs/metrics.md.")
    p.add_argument("name", choices=NAMES, help="report to print, or 'rebuild'")
    p.add_argument("--from", dest="start", metavar="WHEN",
                   help="start: YYYY-MM-DD[THH:MM], 'today' (default: today 00:00)")
    p.add_argument("--to", dest="end", metavar="WHEN", help="end, excluded (default: now)")
    p.add_argument("--interval", type=int, choices=(15, 30, 60), default=60,
                   help="minutes per row (default 60)")
    p.add_argument("--queue", help="only this queue")
    p.add_argument("--agent", help="only this agent")
    p.add_argument("--mos-below", type=float, metavar="MOS",
                   help="calls report: only calls whose worst leg's MOS is below this "
                        "(e.g. 3.6: calls that sounded bad)")
    p.add_argument("--csv", type=Path, metavar="FILE", help="also write the rows as CSV")
    p.add_argument("--png", type=Path, metavar="FILE",
                   help="also chart SL and offered calls per interval (queues report)")
    p.add_argument("--short-abandon", type=float, metavar="S",
                   help="abandons sooner than this are short (default [stats] or 5)")
    p.set_defaults(run=cmd_report)


def parse_when(text: str, tz: ZoneInfo, now: float) -> float:
    """``today``, ``now``, ``YYYY-MM-DD`` or ``YYYY-MM-DDTHH:MM[:SS]`` (local to ``tz``)."""
    if text == "now":
        return now
    if text == "today":
        local = dt.datetime.fromtimestamp(now, tz)
        return local.replace(hour=0, minute=0, second=0, microsecond=0).timestamp()
    try:
        parsed = dt.datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"--from/--to: {text!r} is not YYYY-MM-DD[THH:MM], 'today' or "
                         "'now'") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=tz)
    return parsed.timestamp()


def _database_url(center: Any) -> str | None:
    from store.embedded import embedded_status

    if center.config.store.url:
        return str(center.config.store.url)
    running = embedded_status(center.data_dir)
    return None if running is None else str(running.url)


def cmd_report(args: argparse.Namespace) -> int:
    import psycopg

    from stats.definitions import Thresholds
    from stats.projector import load_calls, load_facts, project_all, rebuild
    from stats.reports import (
        agent_report,
        calls_report,
        queue_report,
        render_table,
        write_csv,
        write_png,
    )

    try:
        center = center_of(args)
    except InvalidConfig as exc:
        error(str(exc))
        return EXIT_USAGE
    cfg = center.config
    tz = ZoneInfo(getattr(cfg.center, "timezone", None) or "UTC")
    now = time.time()
    try:
        start = parse_when(args.start or "today", tz, now)
        end = parse_when(args.end or "now", tz, now)
    except ValueError as exc:
        error(str(exc))
        return EXIT_USAGE
    if end <= start:
        error(f"--to must be after --from (got {args.start} .. {args.end})")
        return EXIT_USAGE
    url = _database_url(center)
    if url is None:
        error(f"no database runs for {center.data_dir}; start the center first")
        return EXIT_NOT_RUNNING
    with psycopg.connect(url, autocommit=True) as conn:
        if args.name == "rebuild":
            n = rebuild(conn)
            print(f"contactor: rebuilt the reporting tables from {n} journal records")
            return EXIT_OK
        project_all(conn)
        visits, intervals = load_facts(conn, start, end)
        calls = load_calls(conn, start, end) if args.name == "calls" else []
    short = args.short_abandon
    if short is None:
        short = cfg.stats.short_abandon_s
    thresholds = Thresholds(service_level_s={q.name: q.service_level_s for q in cfg.queues},
                            short_abandon_s=short)
    if args.name == "queues":
        report = queue_report(visits, intervals, start=start, end=end, minutes=args.interval,
                              thresholds=thresholds, now=min(now, end), tz=tz,
                              queue=args.queue)
    elif args.name == "agents":
        report = agent_report(intervals, start=start, end=end, minutes=args.interval,
                              now=min(now, end), tz=tz, agent=args.agent)
    else:
        report = calls_report(calls, tz, queue=args.queue, agent=args.agent,
                              mos_below=args.mos_below)
    print(render_table(report))
    if args.csv:
        write_csv(report, args.csv)
        print(f"contactor: wrote {len(report.rows)} rows to {args.csv}", file=sys.stderr)
    if args.png:
        try:
            title = (f"{dt.datetime.fromtimestamp(start, tz):%Y-%m-%d %H:%M} - "
                     f"{dt.datetime.fromtimestamp(end, tz):%Y-%m-%d %H:%M}")
            write_png(report, args.png, title)
        except (ValueError, ImportError) as exc:
            error(f"--png: {exc}")
            return EXIT_FAILURE
        print(f"contactor: wrote the chart to {args.png}", file=sys.stderr)
    return EXIT_OK
