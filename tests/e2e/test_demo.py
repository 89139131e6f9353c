"""The README's run command as a new user meets it: `contactor up --demo` shows activity."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tests.cli.conftest import cli_env, contactor


def test_demo_shows_activity_in_status_within_10_s() -> None:
    workdir = Path(tempfile.mkdtemp(prefix="contactor-demo-test-"))
    workdir.chmod(0o755)
    proc = subprocess.Popen([sys.executable, "-m", "cli.main", "up", "--demo"], cwd=workdir,
                            env=cli_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            if "center ready" in line:
                break
        ready_at = time.monotonic()
        calls = agents = 0
        while time.monotonic() - ready_at < 10:
            out = contactor("status", "--json", cwd=workdir)
            if out.returncode == 0:
                procs = {p["name"]: p for p in json.loads(out.stdout)["processes"]}
                calls = int(procs.get("telephony", {}).get("stats", {}).get("sip", {})
                            .get("calls", 0))
                agents = int(procs.get("actors-1", {}).get("stats", {})
                             .get("actors_by_kind", {}).get("agent", 0))
                if calls > 0 and agents == 5:
                    break
            time.sleep(0.5)
        assert agents == 5 and calls > 0, (agents, calls)
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            contactor("down", cwd=workdir)
        shutil.rmtree(workdir, ignore_errors=True)
    assert proc.returncode == 0
    assert not any("sipp" in p for p in _processes_in(workdir))


def _processes_in(workdir: Path) -> list[str]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if os.readlink(entry / "cwd").startswith(str(workdir)):
                    found.append((entry / "comm").read_text().strip())
            except OSError:
                continue
    return found
