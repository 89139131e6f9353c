"""Fixtures starting real supervised process trees; every daemon is accounted for after."""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from supervision.control import Control, NotRunning, launch
from supervision.messages import StartTree
from supervision.spec import SupervisorSpec
from tests.supervision.procs import StartCenter, daemons, wait_until


@pytest.fixture
def start_center(tmp_path: Path) -> Iterator[StartCenter]:
    """``start_center(spec, name="c1", owner_pid=None) -> Control`` on ``tmp_path/name``."""
    started: list[tuple[Path, Control]] = []

    def start(spec: SupervisorSpec, name: str = "c1", owner_pid: int | None = None) -> Control:
        data = (tmp_path / name).resolve()
        launch(data, StartTree(spec=spec, data_dir=data, config_path=data / "unused.toml",
                               owner_pid=owner_pid))
        control = Control.attach(data)
        started.append((data, control))
        return control

    yield start

    leftovers: dict[str, list[int]] = {}
    for data, control in started:
        control.close()
        with contextlib.suppress(NotRunning), Control.attach(data) as again:
            again.shutdown(timeout=15)
        with contextlib.suppress(AssertionError):
            wait_until(_no_daemons(data), 5.0, "daemons to exit")
        pids = daemons(data)
        if pids:
            leftovers[str(data)] = pids
            for pid in pids:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
    assert not leftovers, f"processes left behind: {leftovers}"


def _no_daemons(data: Path) -> Callable[[], bool]:
    return lambda: not daemons(data)
