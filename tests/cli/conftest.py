"""Run ``contactor`` as a subprocess, the way operators do; never leave a center behind."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.supervision.procs import daemons, wait_until

REPO = Path(__file__).resolve().parents[2]
TEST_TREE = "tests.supervision.services:tree"


def cli_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH")) if p)
    env.pop("NO_COLOR", None)
    return env


def contactor(*args: str | Path, cwd: Path,
              timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "cli.main", *map(str, args)], cwd=cwd,
                          env=cli_env(), capture_output=True, text=True, timeout=timeout,
                          check=False)


@pytest.fixture
def workdir(tmp_path: Path) -> Iterator[Path]:
    """A working directory whose ``./var`` is the default data dir; cleaned up after."""
    yield tmp_path
    for data in [tmp_path / "var", *tmp_path.glob("data*")]:
        if not data.exists():
            continue
        contactor("down", "--data", data, cwd=tmp_path)
        with contextlib.suppress(AssertionError):
            wait_until(_no_daemons(data), 5.0, "daemons to exit")
        leftovers = daemons(data)
        for pid in leftovers:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        assert not leftovers, f"processes left behind for {data}: {leftovers}"


def _no_daemons(data: Path) -> Callable[[], bool]:
    return lambda: not daemons(data)
