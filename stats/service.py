"""The ``stats`` service: projector, live figures on topic ``stats``, OpenMetrics endpoint.

One loop: fold new journal records into the reporting tables (:mod:`stats.projector`) and, the
same records, into today's live figures (:class:`stats.live.LiveStats`); publish a
:class:`stats.messages.StatsSnapshot` when something changed (and every few seconds, for
late joiners).  Broadcasts on ``agents``/``calls``/``help`` only wake the loop early: the
journal is the single source, so a figure is never counted twice.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any
from zoneinfo import ZoneInfo

import psycopg
import zmq

from bus.pubsub import BusPublisher, BusSubscriber
from stats.definitions import Thresholds
from stats.live import LiveStats, day_start
from stats.messages import STATS_TOPIC, StatsSnapshot, stats_codec
from stats.openmetrics import Health, MetricsServer, render
from stats.projector import load_facts, position, project_batch
from supervision.composition import Center
from supervision.service import ServiceContext

#: fallback pace of the journal tail when no broadcast wakes it
TAIL_EVERY_S = 0.25
HEARTBEAT_S = 1.0  # late joiners (a new `contactor watch`) see everything within a second
BATCH = 2000
WAKE_TOPICS = ["agents", "calls", "help", "queues"]


def live_stats_for(center: Center) -> LiveStats:
    cfg = center.config
    return LiveStats(
        thresholds=Thresholds(service_level_s={q.name: q.service_level_s for q in cfg.queues},
                              short_abandon_s=cfg.stats.short_abandon_s),
        tz=ZoneInfo(getattr(cfg.center, "timezone", None) or "UTC"),
        queues=[q.name for q in cfg.queues],
        agent_queues={a.login: a.queues for a in cfg.agents},
    )


async def _first(a: asyncio.Event, b: asyncio.Event, timeout: float) -> asyncio.Event | None:
    """Wait until ``a`` or ``b`` is set (``b`` first: stopping must not wait for a tick)."""
    waits = {asyncio.ensure_future(a.wait()): a, asyncio.ensure_future(b.wait()): b}
    done, pending = await asyncio.wait(waits, timeout=timeout,
                                       return_when=asyncio.FIRST_COMPLETED)
    for task in pending:
        task.cancel()
    if b.is_set():
        return b
    return a if done else None


async def main(ctx: ServiceContext) -> None:
    center = Center.load(ctx.config_path, ctx.data_dir)
    loop = asyncio.get_running_loop()
    url = center.database_url()
    conn = await loop.run_in_executor(None, lambda: psycopg.connect(url, autocommit=True))
    live = live_stats_for(center)
    now = time.time()
    start = day_start(now, live.tz)
    pos = await loop.run_in_executor(None, position, conn)
    visits, intervals = await loop.run_in_executor(None, load_facts, conn, start, now + 86400)
    live.load(visits, intervals, pos)
    health = Health(journal_position=pos, projected_records=0, last_batch_at=now,
                    started_at=now)
    snapshot: list[StatsSnapshot] = [live.snapshot(now)]

    def page() -> str:
        snap = live.snapshot(time.time())
        return render(snap, health)

    zctx: zmq.Context[zmq.Socket[bytes]] = zmq.Context()
    codec = stats_codec()
    publisher = BusPublisher(zctx, codec, center.topology.xsub)
    wake = asyncio.Event()
    subscriber = BusSubscriber(zctx, codec, center.topology.xpub, WAKE_TOPICS,
                               on_message=lambda _t, _m: wake.set(),
                               on_bad=lambda _e: wake.set())
    subscriber.start(loop)
    metrics = MetricsServer(page)
    metrics_url = await metrics.start(center.config.stats.metrics_host,
                                      center.config.stats.metrics_port)
    ctx.stats.update(metrics_url=metrics_url, journal_position=pos)
    ctx.ready()
    ctx.log.info("stats.ready", metrics_url=metrics_url, position=pos)
    last_publish = 0.0
    try:
        while not ctx.stopping.is_set():
            records: list[Any] = await loop.run_in_executor(None, project_batch, conn, BATCH)
            for r in records:
                live.apply(r)
            now = time.time()
            if records:
                health = Health(journal_position=live.position,
                                projected_records=health.projected_records + len(records),
                                last_batch_at=now, started_at=health.started_at)
            else:
                health = Health(journal_position=health.journal_position,
                                projected_records=health.projected_records, last_batch_at=now,
                                started_at=health.started_at)
            if records or now - last_publish >= HEARTBEAT_S:
                snapshot[0] = live.snapshot(now)
                publisher.publish(STATS_TOPIC, snapshot[0])
                last_publish = now
                ctx.stats.update(journal_position=live.position,
                                 projected=health.projected_records)
            if len(records) == BATCH:
                continue  # catching up: no pause
            wake.clear()
            if await _first(wake, ctx.stopping, TAIL_EVERY_S) is wake:
                await asyncio.sleep(0.02)  # the woken event's journal batch commits meanwhile
    finally:
        await metrics.close()
        subscriber.close()
        publisher.close()
        zctx.destroy(linger=0)
        conn.close()
