"""The live view's model, plain rendering and textual app, fed with real broadcast records."""

from __future__ import annotations

import asyncio
import queue
from typing import Any
from zoneinfo import ZoneInfo

from actors.agent.messages import AgentTransition, HelpEvent
from stats.definitions import Thresholds
from stats.live import LiveStats
from stats.liveview import WatchModel, make_app, render_plain
from stats.messages import StatsSnapshot
from tests.stats.scenario import BASE, run_scenario


def _snapshot(now: float) -> StatsSnapshot:
    live = LiveStats(thresholds=Thresholds(), tz=ZoneInfo("UTC"), queues=("sales",),
                     agent_queues={"anna": ("sales",)})
    for r in run_scenario():
        if r.ts <= now:
            live.apply(r)
    return live.snapshot(now)


def _transition(to: str, reason: str = "", call: str | None = None) -> AgentTransition:
    return AgentTransition(agent="bruno", from_state="logged_out", to_state=to, reason=reason,
                           call_id=call, queue="sales" if call else None, group="g",
                           phone_uri="sip:b", at=1.0)


def _help(step: str, **kw: Any) -> HelpEvent:
    values: dict[str, Any] = {"help_id": "h1", "agent": "anna", "group": "g", "step": step,
                              "call_id": "c4", "supervisor": None, "mode": None,
                              "note": "angry", "at": 1.0} | kw
    return HelpEvent(**values)


def test_model_and_plain_text() -> None:
    m = WatchModel()
    now = BASE + 120
    assert m.apply("stats", _snapshot(now), now)
    assert m.apply("agents", _transition("not_ready", "login"), now + 1)
    assert m.apply("help", _help("raised"), now + 2)
    text = render_plain(m, now + 5)
    assert "QUEUES" in text and "HELP" in text
    (sales,) = m.queue_rows(now + 5)
    assert sales[:3] == ("sales", "1", "0:20")  # c5 waits since 100
    agents = {r[0]: r for r in m.agent_rows(now + 5)}
    assert agents["anna"][1:5] == ("talking", "answered", "0:15", "c4")
    assert agents["bruno"][1:4] == ("not_ready", "login", "0:04")
    assert m.help_rows(now + 5)[0][:4] == ("h1", "anna", "c4", "0:03")
    assert m.apply("help", _help("resolved"), now + 6)
    assert m.help_rows(now + 6) == []
    assert not m.apply("calls", _snapshot(now).queues[0], now)  # not something it shows


def test_textual_app_updates_and_accepts_help() -> None:
    feed: queue.Queue[tuple[str, Any]] = queue.Queue()
    accepted: list[tuple[str, str]] = []
    clock = [BASE + 120]

    def source(timeout: float) -> tuple[str, Any] | None:
        try:
            return feed.get(timeout=timeout)
        except queue.Empty:
            return None

    def accept(agent: str, mode: str) -> str:
        accepted.append((agent, mode))
        return f"joined {agent} ({mode})"

    async def run() -> None:
        app = make_app(source, accept, clock=lambda: clock[0])
        async with app.run_test() as pilot:
            feed.put(("stats", _snapshot(clock[0])))
            feed.put(("help", _help("raised")))
            await wait_until(pilot, lambda: app.query_one("#help").row_count == 1)
            agents = app.query_one("#agents")
            assert agents.get_row("anna")[1] == "talking"
            assert app.query_one("#queues").get_row("sales")[1] == "1"
            feed.put(("agents", _transition("ready", "ready")))
            await wait_until(pilot, lambda: agents.row_count == 2)
            assert agents.get_row("bruno")[1] == "ready"
            app.query_one("#help").focus()
            await pilot.press("w")
            await wait_until(pilot, lambda: bool(accepted))
            assert accepted == [("anna", "whisper")]
            await wait_until(pilot, lambda: "joined anna" in str(app.status_line))

    asyncio.run(run())


async def wait_until(pilot: Any, ok: Any, timeout: float = 3.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not ok():
        assert loop.time() < deadline, "the view did not update in time"
        await pilot.pause(0.02)
