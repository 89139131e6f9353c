"""Against a running demo center: the stats process, its endpoint, topic and the live view."""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import time
import urllib.request
from typing import Any

import zmq

from actors.agent.messages import RequestHelp, ResolveHelp
from cli.center_client import connect
from cli.commands_watch import acceptor, gateway_source
from stats.liveview import make_app
from stats.messages import STATS_TOPIC, StatsSnapshot, stats_codec
from supervision.composition import Center as Composition
from tests.cli.conftest import cli_env
from tests.e2e.center import Center
from tests.e2e.conftest import center  # noqa: F401  (the module-scoped running center)
from tests.stats.test_liveview import wait_until
from tests.stats.test_openmetrics import parse, strict_check


def _metrics_url(center: Center) -> str:  # noqa: F811
    deadline = time.monotonic() + 15
    while True:
        url = center.status().get("metrics_url")
        if url:
            return str(url)
        assert time.monotonic() < deadline, "stats never published its metrics_url"
        time.sleep(0.1)


def _scrape(url: str) -> tuple[str, str]:
    with urllib.request.urlopen(url, timeout=5) as resp:
        return resp.headers["Content-Type"], resp.read().decode()


def test_metrics_endpoint_of_a_running_center(center: Center) -> None:  # noqa: F811
    url = _metrics_url(center)
    assert url.startswith("http://127.0.0.1:") and url.endswith("/metrics")
    assert center.process("stats")["state"] == "running"
    ctype, body = _scrape(url)
    assert ctype.startswith("application/openmetrics-text")
    strict_check(body)
    samples = parse(body)
    assert samples[("contactor_stats_up", ())] == 1
    assert ("contactor_queue_waiting_calls", (("queue", "sales"),)) in samples
    assert ("contactor_queue_waiting_calls", (("queue", "support"),)) in samples


def _args(center: Center) -> argparse.Namespace:  # noqa: F811
    return argparse.Namespace(data=center.data, config=center.config, user=None, password=None)


def test_live_view_and_stats_topic_follow_an_agent(center: Center) -> None:  # noqa: F811
    comp = Composition.load(center.config, center.data)
    codec = stats_codec()
    zctx: zmq.Context[Any] = zmq.Context()
    sub = zctx.socket(zmq.SUB)
    sub.setsockopt(zmq.SUBSCRIBE, STATS_TOPIC.encode())
    sub.connect(comp.topology.xpub)
    client = connect(_args(center))
    timings: dict[str, float] = {}

    def stats_shows(state: str, deadline: float) -> float:
        while (left := deadline - time.monotonic()) > 0:
            if not sub.poll(int(left * 1000)):
                break
            _topic, data = sub.recv_multipart()
            msg = codec.decode(data)
            if isinstance(msg, StatsSnapshot) and any(
                    a.agent == "emma" and a.state == state for a in msg.agents):
                return time.monotonic()
        raise AssertionError(f"no stats snapshot with emma {state}")

    def agent_cli(cmd: tuple[str, ...]) -> Any:
        return center.cli("agent", *cmd)

    async def run() -> None:
        app = make_app(gateway_source(client), acceptor(client, "local-admin"))
        loop = asyncio.get_running_loop()
        async with app.run_test() as pilot:
            agents = app.query_one("#agents")
            for cmd, state in ((("login", "emma", "--phone", "sip:1005@127.0.0.1"),
                                "not_ready"), (("ready", "emma"), "ready")):
                out = await loop.run_in_executor(None, agent_cli, cmd)
                assert out.returncode == 0, out.stderr
                done = time.monotonic()
                while not (agents.row_count and _state(agents, "emma") == state):
                    assert time.monotonic() - done < 1.0, f"view did not show emma {state}"
                    await pilot.pause(0.01)
                timings[f"view {state}"] = time.monotonic() - done
                seen = await loop.run_in_executor(None, stats_shows, state, done + 1.0)
                timings[f"stats {state}"] = seen - done
            # a help request shows at once; `l` on it joins in listen mode through the gateway
            helps = app.query_one("#help")
            await loop.run_in_executor(None, lambda: client.request(
                "agent/emma", RequestHelp(note="caller wants a refund")))
            await wait_until(pilot, lambda: helps.row_count == 1)
            assert list(helps.get_row_at(0))[:2] == ["emma-1", "emma"]
            helps.focus()
            await pilot.press("l")
            await wait_until(pilot, lambda: list(helps.get_row_at(0))[5:] == ["local-admin",
                                                                          "listen"])
            await loop.run_in_executor(None, lambda: client.request(
                "agent/emma", ResolveHelp(supervisor="local-admin")))
            await wait_until(pilot, lambda: helps.row_count == 0)

    try:
        asyncio.run(run())
    finally:
        client.close()
        sub.close(linger=0)
        zctx.term()
    print("latency after the CLI returned:", {k: round(v, 3) for k, v in timings.items()})
    out = center.cli("report", "agents", "--agent", "emma")
    assert out.returncode == 0, out.stderr
    assert any(line.startswith("total") and " emma " in line for line in out.stdout.splitlines())
    # a pipe gets plain text; an agent event during the watch shows in it
    watch = subprocess.Popen(
        [sys.executable, "-m", "cli.main", "watch", "--for", "3", "--data", str(center.data),
         "--config", str(center.config)], cwd=center.workdir, env=cli_env(),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(1.0)
    assert center.cli("agent", "pause", "emma", "--reason", "lunch").returncode == 0
    stdout, stderr = watch.communicate(timeout=30)
    assert watch.returncode == 0, stderr
    last = stdout.split("contactor watch - ")[-1]
    emma = next(line for line in last.splitlines() if line.strip().startswith("emma"))
    assert emma.split()[1:3] == ["not_ready", "lunch"]


def _state(table: Any, agent: str) -> str | None:
    try:
        return str(table.get_row(agent)[1])
    except Exception:
        return None
