"""Helpers for tests that start real process trees: find their daemons, poll conditions."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from supervision.control import Control
from supervision.lifeline import pid_alive

#: the ``start_center`` fixture: ``(spec, name="c1", owner_pid=None) -> Control``
StartCenter = Callable[..., Control]


def daemons(data_dir: Path) -> list[int]:
    """Live processes started for ``data_dir`` (their command line names it; ps would too)."""
    tail = f"--data\0{Path(data_dir).resolve()}\0".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if b"supervision.boot" in cmdline and cmdline.endswith(tail) and pid_alive(
                int(entry.name)):
            found.append(int(entry.name))
    return found


def wait_until(predicate: Callable[[], object], timeout: float, what: str) -> float:
    """Poll ``predicate`` until true; return the seconds it took."""
    start = time.monotonic()
    while not predicate():
        if time.monotonic() - start > timeout:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.01)
    return time.monotonic() - start
