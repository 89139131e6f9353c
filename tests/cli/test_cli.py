"""``contactor`` end to end: real processes started and stopped through the command line."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from supervision.lifeline import pid_alive
from tests.cli.conftest import TEST_TREE, cli_env, contactor
from tests.supervision.procs import daemons, wait_until


def test_up_status_restart_logs_down(workdir: Path) -> None:
    up = contactor("up", "--detach", "--no-database", "--tree", TEST_TREE, cwd=workdir)
    assert up.returncode == 0, up.stderr
    assert "center ready in" in up.stdout
    data = workdir / "var"  # the default data dir, under the working directory
    assert daemons(data)

    status = contactor("status", "--json", cwd=workdir)
    assert status.returncode == 0, status.stderr
    doc = json.loads(status.stdout)
    assert doc["data_dir"] == str(data.resolve()) and doc["phase"] == "running"
    assert doc["supervisor"]["bind_host"] == "127.0.0.1"
    assert [p["name"] for p in doc["processes"]] == ["alpha", "beta"]
    for process in doc["processes"]:
        assert set(process) >= {"name", "pid", "state", "restarts", "uptime_s", "stats"}
        assert process["state"] == "running" and process["restarts"] == 0
        assert isinstance(process["pid"], int) and process["uptime_s"] >= 0
        assert process["stats"]["pid"] == process["pid"]
        assert process["stats"]["actors_by_kind"] == {"call": 0, "agent": 0}

    table = contactor("status", cwd=workdir)
    assert table.returncode == 0
    assert "\x1b[" not in table.stdout  # piped: no colours
    assert "NAME" in table.stdout and "alpha" in table.stdout and "running" in table.stdout

    restart = contactor("restart", "alpha", cwd=workdir)
    assert restart.returncode == 0, restart.stderr
    assert "restarted alpha" in restart.stdout
    unknown = contactor("restart", "gamma", cwd=workdir)
    assert unknown.returncode == 2 and "no child named 'gamma'" in unknown.stderr

    logs = contactor("logs", "alpha", "-n", "3", cwd=workdir)
    lines = [json.loads(line) for line in logs.stdout.splitlines()]
    assert len(lines) == 3 and all(e["service"] == "alpha" for e in lines)
    merged = contactor("logs", "-n", "50", cwd=workdir)
    services = {json.loads(line)["service"] for line in merged.stdout.splitlines()}
    assert services == {"alpha", "beta", "supervisor"}
    assert contactor("logs", "gamma", cwd=workdir).returncode == 2

    down = contactor("down", cwd=workdir)
    assert down.returncode == 0, down.stderr
    assert daemons(data) == []
    gone = contactor("status", cwd=workdir)
    assert gone.returncode == 3 and "no center runs on" in gone.stderr


def test_broken_config_exits_2_with_the_loaders_message(workdir: Path) -> None:
    config = workdir / "broken.toml"
    config.write_text('[[queue]]\nname = "sales"\nstratgy = "random"\n')
    up = contactor("up", "--config", config, "--no-database", "--tree", TEST_TREE,
                   cwd=workdir)
    assert up.returncode == 2
    assert f"{config}:3: queue[0].stratgy: unknown key" in up.stderr
    assert not (workdir / "var" / "run").exists()  # nothing was started


def test_status_and_restart_without_a_center_exit_3(workdir: Path) -> None:
    status = contactor("status", "--json", "--data", workdir / "data-none", cwd=workdir)
    assert status.returncode == 3
    assert "no center runs on" in status.stderr and status.stdout == ""
    assert contactor("restart", "alpha", "--data", workdir / "data-none",
                     cwd=workdir).returncode == 3


def test_up_refuses_a_data_dir_in_use(workdir: Path) -> None:
    data = workdir / "data-busy"
    first = contactor("up", "--detach", "--no-database", "--tree", TEST_TREE, "--data", data,
                      cwd=workdir)
    assert first.returncode == 0, first.stderr
    again = contactor("up", "--detach", "--no-database", "--tree", TEST_TREE, "--data", data,
                      cwd=workdir)
    assert again.returncode == 1 and "already runs on" in again.stderr


def test_foreground_up_stops_everything_on_sigterm(workdir: Path) -> None:
    data = workdir / "data-fg"
    proc = subprocess.Popen(
        [sys.executable, "-m", "cli.main", "up", "--no-database", "--tree", TEST_TREE,
         "--data", str(data)],
        cwd=workdir, env=cli_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        assert "center ready in" in proc.stdout.readline()
        assert daemons(data)
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    assert "stopped" in out
    assert daemons(data) == []


def test_foreground_up_exits_1_when_the_tree_gives_up(workdir: Path) -> None:
    data = workdir / "data-crash"
    up = contactor("up", "--no-database", "--tree", "tests.supervision.services:crash_tree",
                   "--data", data, cwd=workdir)
    assert up.returncode == 1
    assert "center ready in" in up.stdout
    assert "crashy failed" in up.stderr and "intensity of 2" in up.stderr
    assert daemons(data) == []
    status = contactor("status", "--data", data, cwd=workdir)
    assert status.returncode == 3 and "last failure: crashy failed" in status.stderr


@pytest.fixture
def pg_workdir() -> Iterator[Path]:
    # Not under tmp_path: PostgreSQL runs as an unprivileged user when tests run as root and
    # must traverse the data dir's parents (pytest's base temp dir is 0700).
    path = Path(tempfile.mkdtemp(prefix="contactor-cli-"))
    path.chmod(0o711)
    yield path
    data = path / "var"
    contactor("down", "--data", data, cwd=path)
    leftovers = daemons(data)
    for pid in leftovers:
        os.kill(pid, signal.SIGKILL)
    shutil.rmtree(path, ignore_errors=True)
    assert not leftovers


def test_up_starts_and_down_stops_the_embedded_database(pg_workdir: Path) -> None:
    up = contactor("up", "--detach", "--tree", TEST_TREE, cwd=pg_workdir, timeout=120)
    assert up.returncode == 0, up.stderr
    doc = json.loads(contactor("status", "--json", cwd=pg_workdir).stdout)
    database = doc["database"]
    assert database is not None and pid_alive(database["pid"])
    down = contactor("down", cwd=pg_workdir)
    assert down.returncode == 0 and "stopped the embedded PostgreSQL" in down.stdout
    wait_until(lambda: not pid_alive(database["pid"]), 10.0, "PostgreSQL to stop")
