"""The supervisor's live view (``contactor watch``): queues, agents, calls and help requests.

Everything comes from broadcasts through the gateway - ``stats`` snapshots from the stats
service, and ``agents``/``help`` records straight from the agent actors so a state change
shows at once - never from the database.  :class:`WatchModel` is the pure state both the
textual app and the plain (dumb terminal) rendering draw from.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any, ClassVar

from stats.messages import AgentStats, CallInProgress, OpenHelp, QueueStats, StatsSnapshot

WATCH_TOPICS = ("stats", "agents", "help", "calls")
#: (topic, message) or None after ``timeout`` seconds without a broadcast
Source = Callable[[float], "tuple[str, Any] | None"]
#: accept a help request: (agent, mode) -> a line for the status bar
Accept = Callable[[str, str], str]


def _pct(v: float | None) -> str:
    return "-" if v is None else f"{v * 100:.0f}%"


def _secs(v: float | None) -> str:
    if v is None:
        return "-"
    v = max(0.0, v)
    return f"{int(v // 60)}:{int(v % 60):02d}"


@dataclass(slots=True)
class WatchModel:
    queues: dict[str, QueueStats] = field(default_factory=dict)
    agents: dict[str, AgentStats] = field(default_factory=dict)
    calls: dict[str, CallInProgress] = field(default_factory=dict)
    help: dict[str, OpenHelp] = field(default_factory=dict)
    updated_at: float = 0.0
    events: int = 0

    def apply(self, topic: str, msg: Any, now: float) -> bool:
        """Fold one broadcast in; ``True`` if something shown changed."""
        self.events += 1
        self.updated_at = now
        if isinstance(msg, StatsSnapshot):
            self.queues = {q.queue: q for q in msg.queues}
            self.agents = {a.agent: a for a in msg.agents}
            self.calls = {c.call_id: c for c in msg.calls}
            self.help = {h.help_id: h for h in msg.help}
            return True
        tag = getattr(msg, "TAG", "")
        if tag == "agent.transition":
            old = self.agents.get(msg.agent)
            busy = msg.to_state in ("reserved", "ringing", "talking", "on_hold", "wrap_up")
            base = old or AgentStats(agent=msg.agent, state="", reason="", since=now,
                                     call_id=None, queue=None, handled=0, aht_s=None,
                                     occupancy=None, utilisation=None)
            self.agents[msg.agent] = replace(
                base, state=msg.to_state, reason=msg.reason, since=now,
                call_id=msg.call_id if busy else None, queue=msg.queue if busy else None)
            return True
        if tag == "agent.help_event":
            if msg.step in ("resolved", "cancelled"):
                return self.help.pop(msg.help_id, None) is not None
            old_help = self.help.get(msg.help_id)
            self.help[msg.help_id] = OpenHelp(
                help_id=msg.help_id, agent=msg.agent, call_id=msg.call_id,
                raised_at=old_help.raised_at if old_help else now, note=msg.note,
                supervisor=msg.supervisor, mode=msg.mode)
            return True
        return False

    # ------------------------------------------------------------- rows

    QUEUE_COLUMNS: ClassVar[tuple[str, ...]] = (
        "queue", "waiting", "longest", "offered", "answered", "abandoned", "SL today", "ASA",
        "agents")
    AGENT_COLUMNS: ClassVar[tuple[str, ...]] = (
        "agent", "state", "reason", "in state", "call", "queue", "handled", "occupancy")
    CALL_COLUMNS: ClassVar[tuple[str, ...]] = ("call", "state", "queue", "agent", "for")
    HELP_COLUMNS: ClassVar[tuple[str, ...]] = (
        "help", "agent", "call", "waiting", "note", "supervisor", "mode")

    def queue_rows(self, now: float) -> list[tuple[str, ...]]:
        out: list[tuple[str, ...]] = []
        for q in sorted(self.queues.values(), key=lambda q: q.queue):
            agents = " ".join(f"{s}:{n}" for s, n in sorted(q.agents_by_state.items()))
            out.append((q.queue, str(q.waiting), _secs(q.longest_waiting_s), str(q.offered),
                        str(q.answered), str(q.abandoned), _pct(q.service_level),
                        _secs(q.asa_s), agents or "-"))
        return out

    def agent_rows(self, now: float) -> list[tuple[str, ...]]:
        return [(a.agent, a.state, a.reason or "-", _secs(now - a.since), a.call_id or "-",
                 a.queue or "-", str(a.handled), _pct(a.occupancy))
                for a in sorted(self.agents.values(), key=lambda a: a.agent)]

    def call_rows(self, now: float) -> list[tuple[str, ...]]:
        return [(c.call_id, c.state, c.queue or "-", c.agent or "-", _secs(now - c.since))
                for c in sorted(self.calls.values(), key=lambda c: c.since)]

    def help_rows(self, now: float) -> list[tuple[str, ...]]:
        return [(h.help_id, h.agent, h.call_id or "-", _secs(now - h.raised_at), h.note or "-",
                 h.supervisor or "-", h.mode or "-")
                for h in sorted(self.help.values(), key=lambda h: h.raised_at)]


def render_plain(model: WatchModel, now: float) -> str:
    """The whole picture as text, for dumb terminals and pipes."""
    parts = [f"contactor watch - {time.strftime('%H:%M:%S', time.localtime(now))}"]
    for title, cols, rows in (
        ("QUEUES", WatchModel.QUEUE_COLUMNS, model.queue_rows(now)),
        ("AGENTS", WatchModel.AGENT_COLUMNS, model.agent_rows(now)),
        ("CALLS", WatchModel.CALL_COLUMNS, model.call_rows(now)),
        ("HELP", WatchModel.HELP_COLUMNS, model.help_rows(now)),
    ):
        parts.append(f"\n{title}")
        if not rows:
            parts.append("  (none)")
            continue
        widths = [max(len(c), *(len(r[i]) for r in rows)) for i, c in enumerate(cols)]
        parts.append("  " + "  ".join(c.ljust(w) for c, w in zip(cols, widths, strict=True)))
        parts += ["  " + "  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True))
                  for r in rows]
    return "\n".join(parts)


def make_app(source: Source, accept: Accept | None = None,
             clock: Callable[[], float] = time.time) -> Any:
    """The textual app (imported lazily: plain mode and tests of the model need no textual)."""
    from textual import work
    from textual.app import App, ComposeResult
    from textual.binding import Binding
    from textual.widgets import DataTable, Footer, Header, Static

    class WatchApp(App[None]):
        TITLE = "contactor watch"
        CSS = "DataTable { height: auto; max-height: 16; margin-bottom: 1; }"
        BINDINGS: ClassVar[list[Binding | tuple[str, str] | tuple[str, str, str]]] = [
            Binding("q", "quit", "quit"),
            Binding("l", "accept('listen')", "listen"),
            Binding("w", "accept('whisper')", "whisper"),
            Binding("b", "accept('barge')", "barge"),
        ]

        def __init__(self) -> None:
            super().__init__()
            self.model = WatchModel()
            self.status_line = ""

        def compose(self) -> ComposeResult:
            yield Header()
            for name, cols in (("queues", WatchModel.QUEUE_COLUMNS),
                               ("agents", WatchModel.AGENT_COLUMNS),
                               ("calls", WatchModel.CALL_COLUMNS),
                               ("help", WatchModel.HELP_COLUMNS)):
                yield Static(name.upper())
                table: DataTable[str] = DataTable(id=name, cursor_type="row")
                table.add_columns(*cols)
                yield table
            yield Static("", id="status")
            yield Footer()

        def on_mount(self) -> None:
            self.set_interval(1.0, self.redraw)
            self.listen()

        @work(thread=True, exclusive=True, group="bus")
        def listen(self) -> None:
            from textual.worker import get_current_worker

            worker = get_current_worker()
            while not worker.is_cancelled:
                got = source(0.2)
                if got is not None:
                    self.call_from_thread(self.receive, *got)

        def receive(self, topic: str, msg: Any) -> None:
            if self.model.apply(topic, msg, clock()):
                self.redraw()

        def redraw(self) -> None:
            now = clock()
            for name, rows in (("queues", self.model.queue_rows(now)),
                               ("agents", self.model.agent_rows(now)),
                               ("calls", self.model.call_rows(now)),
                               ("help", self.model.help_rows(now))):
                table = self.query_one(f"#{name}", DataTable)
                cursor = table.cursor_row
                table.clear()
                for row in rows:
                    table.add_row(*row, key=row[0])
                if rows:
                    table.move_cursor(row=min(cursor, len(rows) - 1))
            self.query_one("#status", Static).update(self.status_line)

        def action_accept(self, mode: str) -> None:
            table = self.query_one("#help", DataTable)
            if accept is None or not table.row_count:
                self.status_line = "no help request selected"
                self.redraw()
                return
            agent = str(table.get_row_at(table.cursor_row)[1])
            self.accept_in_thread(agent, mode)

        @work(thread=True, group="accept")
        def accept_in_thread(self, agent: str, mode: str) -> None:
            assert accept is not None
            line = accept(agent, mode)
            self.call_from_thread(self.show_status, line)

        def show_status(self, line: str) -> None:
            self.status_line = line
            self.redraw()

    return WatchApp()
