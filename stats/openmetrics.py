"""The OpenMetrics text exposition of the live figures, and its tiny asyncio HTTP server.

Format: OpenMetrics 1.0 (``application/openmetrics-text; version=1.0.0``): a ``# TYPE`` and
``# HELP`` line per family, samples with escaped label values, ``# EOF`` as the last line.
Ratios are 0..1, durations in seconds; a figure with no value (no answered call yet for ASA)
has no sample rather than a made-up one.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from stats.messages import StatsSnapshot

CONTENT_TYPE = "application/openmetrics-text; version=1.0.0; charset=utf-8"


@dataclass(frozen=True, slots=True, kw_only=True)
class Health:
    journal_position: int
    projected_records: int
    last_batch_at: float
    started_at: float


def escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _number(v: float) -> str:
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "+Inf" if v > 0 else "-Inf"
    return repr(float(v)) if isinstance(v, float) else str(v)


class _Families:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def family(self, name: str, kind: str, help_text: str, unit: str = "",
               samples: Iterable[tuple[dict[str, str], float | None]] = ()) -> None:
        self.lines.append(f"# TYPE {name} {kind}")
        if unit:
            self.lines.append(f"# UNIT {name} {unit}")
        self.lines.append(f"# HELP {name} {escape(help_text)}")
        sample_name = f"{name}_total" if kind == "counter" else name
        for labels, value in samples:
            if value is None:
                continue
            text = ",".join(f'{k}="{escape(v)}"' for k, v in labels.items())
            self.lines.append(f"{sample_name}{{{text}}} {_number(value)}" if text
                              else f"{sample_name} {_number(value)}")


def render(snapshot: StatsSnapshot, health: Health) -> str:
    f = _Families()
    qs = snapshot.queues
    f.family("contactor_queue_waiting_calls", "gauge", "Calls waiting in the queue now.",
             samples=(({"queue": q.queue}, q.waiting) for q in qs))
    f.family("contactor_queue_longest_waiting_seconds", "gauge",
             "How long the call waiting longest has waited, now.", "seconds",
             (({"queue": q.queue}, q.longest_waiting_s) for q in qs))
    f.family("contactor_queue_calls_today", "gauge",
             "Calls offered to the queue today, by outcome so far (short abandons apart).",
             samples=(({"queue": q.queue, "outcome": o}, n) for q in qs for o, n in (
                 ("offered", q.offered), ("answered", q.answered), ("abandoned", q.abandoned),
                 ("short_abandoned", q.short_abandoned), ("overflowed", q.overflowed))))
    f.family("contactor_queue_service_level_ratio", "gauge",
             "Today: answered within the target / (answered + abandoned after the short "
             "abandon threshold).", "ratio",
             (({"queue": q.queue, "target_seconds": f"{q.service_level_s:g}"}, q.service_level)
              for q in qs))
    f.family("contactor_queue_asa_seconds", "gauge", "Today: average speed of answer.",
             "seconds", (({"queue": q.queue}, q.asa_s) for q in qs))
    f.family("contactor_queue_aht_seconds", "gauge",
             "Today: average handle time (talk + hold + wrap-up).", "seconds",
             (({"queue": q.queue}, q.aht_s) for q in qs))
    f.family("contactor_queue_abandon_ratio", "gauge",
             "Today: abandoned / (offered - short abandons).", "ratio",
             (({"queue": q.queue}, q.abandon_rate) for q in qs))
    f.family("contactor_queue_agents", "gauge", "Agents serving the queue, by state now.",
             samples=(({"queue": q.queue, "state": s}, n) for q in qs
                      for s, n in sorted(q.agents_by_state.items())))
    ags = snapshot.agents
    f.family("contactor_agent_state", "gauge", "1 for the state the agent is in now.",
             samples=(({"agent": a.agent, "state": a.state}, 1) for a in ags))
    f.family("contactor_agent_state_seconds", "gauge", "Time in the current state.",
             "seconds", (({"agent": a.agent}, max(0.0, snapshot.at - a.since)) for a in ags))
    f.family("contactor_agent_handled_calls_today", "gauge", "Calls handled today.",
             samples=(({"agent": a.agent}, a.handled) for a in ags))
    f.family("contactor_agent_occupancy_ratio", "gauge",
             "Today: busy / (busy + ready).", "ratio",
             (({"agent": a.agent}, a.occupancy) for a in ags))
    f.family("contactor_agent_utilisation_ratio", "gauge",
             "Today: busy / logged-in time.", "ratio",
             (({"agent": a.agent}, a.utilisation) for a in ags))
    f.family("contactor_agent_aht_seconds", "gauge", "Today: average handle time.", "seconds",
             (({"agent": a.agent}, a.aht_s) for a in ags))
    f.family("contactor_help_requests_open", "gauge", "Help requests not yet resolved.",
             samples=[({}, len(snapshot.help))])
    f.family("contactor_stats_up", "gauge", "1 while the stats service serves.",
             samples=[({}, 1)])
    f.family("contactor_stats_journal_position", "gauge",
             "Last journal seq folded into the reporting tables.",
             samples=[({}, health.journal_position)])
    f.family("contactor_stats_projected_records", "counter",
             "Journal records projected since the service started.",
             samples=[({}, health.projected_records)])
    f.family("contactor_stats_last_batch_timestamp_seconds", "gauge",
             "Wall-clock time of the last projection pass.", "seconds",
             samples=[({}, health.last_batch_at)])
    return "\n".join([*f.lines, "# EOF"]) + "\n"


class MetricsServer:
    """``GET /metrics`` answers :func:`render` of the current figures; anything else is 404."""

    def __init__(self, page: Callable[[], str]) -> None:
        self.page = page
        self.server: asyncio.Server | None = None

    async def start(self, host: str, port: int) -> str:
        self.server = await asyncio.start_server(self._client, host, port)
        bound = self.server.sockets[0].getsockname()
        return f"http://{bound[0]}:{bound[1]}/metrics"

    async def close(self) -> None:
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5.0)
            method, _, rest = head.decode("latin-1").partition(" ")
            path = rest.partition(" ")[0].partition("?")[0]
            if method not in ("GET", "HEAD"):
                status, ctype, body = "405 Method Not Allowed", "text/plain", b"GET only\n"
            elif path != "/metrics":
                status, ctype, body = "404 Not Found", "text/plain", b"try /metrics\n"
            else:
                status, ctype, body = "200 OK", CONTENT_TYPE, self.page().encode()
            writer.write(f"HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\n"
                         f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode())
            if method != "HEAD":
                writer.write(body)
            await writer.drain()
        except (TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError,
                ConnectionError):
            pass
        finally:
            writer.close()
