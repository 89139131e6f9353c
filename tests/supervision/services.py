"""Small services used as fixtures by the supervision and CLI tests (not product code)."""

from __future__ import annotations

import asyncio
import os
import time

from supervision.service import ServiceContext
from supervision.spec import ChildSpec, SupervisorSpec


async def steady(ctx: ServiceContext) -> None:
    """Ready at once, publishes gauges, drains on request."""
    ctx.stats["actors_by_kind"] = {"call": 0, "agent": 0}
    ctx.stats["pid"] = os.getpid()
    ctx.ready()
    ctx.log.info("steady.ready", args=dict(ctx.args))
    await ctx.until_stopping()
    ctx.log.info("steady.draining")


async def crash(ctx: ServiceContext) -> None:
    """Runs ``after_s`` seconds (after becoming ready if ``ready``), then raises."""
    if ctx.args.get("ready", True):
        ctx.ready()
    await asyncio.sleep(float(ctx.args.get("after_s", 0.0)))
    raise RuntimeError(f"{ctx.name} crashed on purpose")


async def finish(ctx: ServiceContext) -> None:
    """Returns normally right after becoming ready."""
    ctx.ready()


async def ignores_stop(ctx: ServiceContext) -> None:
    """Never looks at ``stopping``: it is cancelled after its grace period."""
    ctx.ready()
    try:
        await asyncio.Event().wait()
    finally:
        ctx.stats["cancelled"] = True


async def blocks_forever(ctx: ServiceContext) -> None:
    """Blocks its event loop thread: only SIGKILL gets rid of it."""
    ctx.ready()
    await ctx.until_stopping()
    time.sleep(3600)


def tree(config: object, data_dir: object) -> SupervisorSpec:
    """Two steady services: the tree the CLI tests start with ``up --tree``."""
    return SupervisorSpec(children=(
        ChildSpec(id="alpha", start="tests.supervision.services:steady", args={"n": 1}),
        ChildSpec(id="beta", start="tests.supervision.services:steady", shutdown_s=1.0),
    ), intensity=3, period_s=5.0)


def crash_tree(config: object, data_dir: object) -> SupervisorSpec:
    """A child that keeps crashing: the supervisor gives up after two restarts."""
    return SupervisorSpec(children=(
        ChildSpec(id="alpha", start="tests.supervision.services:steady"),
        ChildSpec(id="crashy", start="tests.supervision.services:crash",
                  args={"after_s": 0.3}),
    ), intensity=2, period_s=30.0)
