"""How ``contactor status`` shows a center: a JSON document or a table."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from cli.common import paint
from supervision.control import RunInfo
from supervision.messages import StatusReply

_STATE_STYLE = {"running": "green", "starting": "yellow", "restarting": "yellow",
                "stopping": "yellow", "stopped": "dim", "failed": "red"}
_PHASE_STYLE = {"running": "green", "failed": "red", "starting": "yellow",
                "stopping": "yellow", "stopped": "dim", "idle": "dim"}


def status_document(data_dir: Path, info: RunInfo, status: StatusReply,
                    database: dict[str, Any] | None) -> dict[str, Any]:
    """The ``status --json`` document (a stable shape: tools and tests read it)."""
    now = time.time()
    return {
        "data_dir": str(data_dir),
        "phase": status.phase,
        "failure": status.failure,
        "supervisor": {
            "pid": status.supervisor_pid,
            "admin_pid": status.admin_pid,
            "admin_port": info.admin_port,
            "bind_host": info.bind_host,
            "started_at": status.started_at,
            "uptime_s": round(now - status.started_at, 3),
        },
        "database": database,
        # published by the ``stats`` service once its OpenMetrics endpoint listens
        "metrics_url": next((c.stats.get("metrics_url") for c in status.children
                             if c.name == "stats" and c.stats), None),
        "processes": [
            {
                "name": c.name,
                "pid": c.pid,
                "state": c.state,
                "restarts": c.restarts,
                "uptime_s": None if c.uptime_s is None else round(c.uptime_s, 3),
                "stats": c.stats,
                "last_error": c.last_error,
            }
            for c in status.children
        ],
    }


def status_table(doc: dict[str, Any], colour: bool, width: int = 100) -> str:
    sup = doc["supervisor"]
    phase = paint(doc["phase"], _PHASE_STYLE.get(doc["phase"]), colour)
    lines = [f"center {doc['data_dir']}  {phase}  (supervisor pid {sup['pid']}, admin "
             f"{sup['bind_host']}:{sup['admin_port']}, up {format_duration(sup['uptime_s'])})"]
    db = doc.get("database")
    if db:
        lines.append(f"database: embedded PostgreSQL pid {db['pid']} on 127.0.0.1:{db['port']}")
    if doc.get("failure"):
        lines.append(paint(f"failure: {doc['failure']}", "red", colour))
    rows = [("NAME", "STATE", "PID", "RESTARTS", "UPTIME", "STATS")]
    for p in doc["processes"]:
        rows.append((p["name"], p["state"], str(p["pid"] or "-"), str(p["restarts"]),
                     format_duration(p["uptime_s"]), format_stats(p["stats"])))
    widths = [max(len(r[i]) for r in rows) for i in range(5)]
    for n, row in enumerate(rows):
        cells = [row[i].ljust(widths[i]) for i in range(5)]
        if n == 0:
            cells = [paint(c, "bold", colour) for c in cells]
        else:
            cells[1] = paint(cells[1], _STATE_STYLE.get(row[1].strip()), colour)
        stats = row[5]
        room = max(10, width - sum(widths) - 10)
        if colour and len(stats) > room:
            stats = stats[: room - 1] + "…"
        lines.append("  ".join([*cells, stats]).rstrip())
    errors = [(p["name"], p["last_error"]) for p in doc["processes"]
              if p["last_error"] and p["state"] != "running"]
    for name, err in errors:
        lines.append(paint(f"{name}: {err.strip().splitlines()[-1]}", "red", colour))
    return "\n".join(lines)


def format_duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    s = int(seconds)
    if s < 60:
        return f"{seconds:.1f}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    if s < 86400:
        return f"{s // 3600}h{s % 3600 // 60:02d}m"
    return f"{s // 86400}d{s % 86400 // 3600:02d}h"


def format_stats(stats: dict[str, Any], prefix: str = "") -> str:
    parts: list[str] = []
    for key in sorted(stats):
        value = stats[key]
        if isinstance(value, dict):
            inner = format_stats(value, f"{prefix}{key}.")
            if inner:
                parts.append(inner)
        else:
            parts.append(f"{prefix}{key}={value}")
    return " ".join(parts)
