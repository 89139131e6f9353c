"""The service runner in-process: the event loop thread, readiness, stop, cancel, errors."""

from __future__ import annotations

import asyncio
import select
import threading
from pathlib import Path

import pytest
import structlog

from supervision.service import (
    ServiceContext,
    ServiceLoadError,
    ServiceMain,
    ServiceRunner,
    load_entry,
    snapshot_stats,
)
from tests.supervision import services


def runner_for(main: ServiceMain, tmp_path: Path, **args: object) -> ServiceRunner:
    return ServiceRunner(main, name="svc", config_path=tmp_path / "c.toml", data_dir=tmp_path,
                         args=args, log=structlog.get_logger(), restarts=2)


def wait_for_wake(runner: ServiceRunner, timeout: float = 5.0) -> None:
    ready, _, _ = select.select([runner.wake_fd], [], [], timeout)
    assert ready, "the runner did not signal within the timeout"
    runner.drain_wakeups()


def test_ready_stats_and_graceful_stop(tmp_path: Path) -> None:
    seen: dict[str, object] = {}

    async def main(ctx: ServiceContext) -> None:
        seen.update(name=ctx.name, args=dict(ctx.args), restarts=ctx.restarts,
                    thread=threading.current_thread().name, loop=type(asyncio.get_running_loop()))
        ctx.stats["msgs_per_s"] = 12.5
        ctx.ready()
        await ctx.until_stopping()

    runner = runner_for(main, tmp_path, kinds=["agent"])
    runner.start()
    wait_for_wake(runner)
    assert runner.is_ready and not runner.is_done
    assert snapshot_stats(runner.stats) == {"msgs_per_s": 12.5}
    assert seen["thread"] == "service:svc" and seen["thread"] != threading.main_thread().name
    assert seen["args"] == {"kinds": ["agent"]} and seen["restarts"] == 2
    assert "uvloop" in str(seen["loop"])
    runner.request_stop(grace_s=5.0)
    wait_for_wake(runner)
    assert runner.is_done and runner.error is None
    runner.close()


def test_a_service_ignoring_stopping_is_cancelled_after_its_grace(tmp_path: Path) -> None:
    runner = runner_for(services.ignores_stop, tmp_path)
    runner.start()
    wait_for_wake(runner)
    assert runner.stop_and_join(grace_s=0.1)
    assert runner.error is None and runner.stats == {"cancelled": True}
    runner.close()


def test_an_exception_in_main_is_the_error(tmp_path: Path) -> None:
    runner = runner_for(services.crash, tmp_path, after_s=0.0, ready=False)
    runner.start()
    wait_for_wake(runner)
    assert runner.is_done and not runner.is_ready
    assert runner.error is not None and "RuntimeError: svc crashed on purpose" in runner.error
    runner.close()


def test_a_normal_return_is_not_an_error(tmp_path: Path) -> None:
    runner = runner_for(services.finish, tmp_path)
    runner.start()
    for _ in range(2):
        if not runner.is_done:
            wait_for_wake(runner)
    assert runner.is_ready and runner.is_done and runner.error is None
    runner.close()


def test_load_entry_resolves_and_rejects() -> None:
    assert load_entry("tests.supervision.services:steady") is services.steady
    with pytest.raises(ServiceLoadError, match="not 'module:function'"):
        load_entry("tests.supervision.services")
    with pytest.raises(ServiceLoadError, match="cannot import no_such_module"):
        load_entry("no_such_module:main")
    with pytest.raises(ServiceLoadError, match="has no 'nope'"):
        load_entry("tests.supervision.services:nope")
    with pytest.raises(ServiceLoadError, match="not an 'async def'"):
        load_entry("tests.supervision.services:tree")


def test_snapshot_stats_copies_deeply_and_survives_bad_values() -> None:
    stats: dict[str, object] = {"actors_by_kind": {"call": 1}}
    copy = snapshot_stats(stats)
    stats["actors_by_kind"]["call"] = 2  # type: ignore[index]
    assert copy == {"actors_by_kind": {"call": 1}}
    bad = snapshot_stats({"lock": threading.Lock()})
    assert "stats_error" in bad
