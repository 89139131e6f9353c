"""The ``media-N`` service: one media worker process of the pool.

Tree args (from ``supervision.composition``): ``worker`` (0-based index) and ``workers``.
The worker binds its slice of the RTP port range, serves ``media/*`` on the bus, registers
recordings in the store, and at start registers the recordings a previous instance left
unfinished (``media.recorder.find_orphans``). Worker 0 also makes the demo prompts and
applies the recordings' retention policy.

``python -m media.service --config FILE --data DIR [--name media-1]`` runs one worker
outside a supervision tree (benchmarks, debugging).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import gc
import os
import sys
import time
from pathlib import Path
from typing import Any

import structlog
import zmq

from actors.node import Node
from bus.catalogue import default_codec
from bus.system import HostInfo
from media.diskguard import DiskGuard
from media.port import MediaPort
from media.ports import worker_ports
from media.recorder import find_orphans
from media.recording_store import RecordingStore
from media.registrar import Registrar
from media.retention import RetentionPolicy, apply_retention
from media.sounds import SoundLibrary
from media.worker import MediaWorker
from store.journal import purge_tombstones
from supervision.composition import Center
from supervision.service import ServiceContext

STATS_EVERY_S = 0.5
RETENTION_EVERY_S = 3600.0
DRAIN_S = 3.0


def _store_factory(center: Center) -> Any:
    def open_store() -> RecordingStore:
        from store.db import open_pool

        return RecordingStore(open_pool(center.database_url(), min_size=1, max_size=2))

    return open_store


def _retention(center: Center) -> None:
    config = center.config
    # stopped actors' snapshots too (every ended call leaves one): [store] tombstone_retention_s
    purge_tombstones(center.database_url(), config.store.tombstone_retention_s, time.time())
    policies = [RetentionPolicy(queue=q.name, archive_after_days=q.archive_after_days,
                                delete_after_days=q.delete_after_days)
                for q in config.queues if q.archive_after_days or q.delete_after_days]
    if not policies:
        return
    store = _store_factory(center)()
    try:
        apply_retention(store, policies, recordings_dir=config.media.recordings_dir,
                        archive_dir=config.media.archive_dir, now=dt.datetime.now(dt.UTC))
    finally:
        store.pool.close()


async def main(ctx: ServiceContext) -> None:
    center = Center.load(ctx.config_path, ctx.data_dir)
    plan = center.process(ctx.name)
    config = center.config
    media = config.media
    index, workers = int(plan.args.get("worker", 0)), int(plan.args.get("workers", 1))
    loop = asyncio.get_running_loop()
    host_address = media.rtp_host or config.sip.listen.host
    sounds = SoundLibrary(ctx.data_dir / "sounds", ivr_schemes=[i.scheme for i in config.ivrs],
                          moh_prompts=[q.moh for q in config.queues])
    guard = DiskGuard(media.recordings_dir, min_free_mb=media.min_free_mb, worker=plan.id)
    center.topology.prepare()  # core makes it too; a worker started alone must not fail
    codec = default_codec()
    zctx: zmq.Context[zmq.Socket[bytes]] = zmq.Context()
    node = Node(
        host_id=plan.id, codec=codec, bind=center.endpoint(plan.id), peers=center.endpoints(),
        placement=center.placement(), behaviours=center.behaviours((), plan.id),
        clock=loop.time, ctx=zctx, publish_to=center.topology.xsub,
        dead_letters=center.dead_letter_log(plan.id, ctx.log),
    )
    port: MediaPort | None = None

    def publish(topic: str, msg: Any) -> None:
        if node.publisher is not None:
            node.publisher.publish(topic, msg)

    registrar = Registrar(store=_store_factory(center), fmt=media.recording_format,
                          on_saved=lambda f, r: port.on_saved(f, r) if port else None,
                          disk_low=lambda: guard.low, log=ctx.log)
    worker = MediaWorker(
        worker_id=plan.id, host=host_address,
        ports=worker_ports(media.rtp_port_min, media.rtp_port_max, worker=index,
                           workers=workers),
        recordings_dir=media.recordings_dir,
        on_event=lambda call_id, msg: port.on_event(call_id, msg) if port else None,
        on_recording=registrar.submit,
        on_alarm=lambda alarm: port.on_alarm(alarm) if port else None,
        disk_guard=guard, inband_dtmf=media.inband_dtmf,
        inband_with_rfc4733=media.inband_dtmf_with_rfc4733,
        media_timeout_s=media.media_timeout_s, rtcp_interval_s=media.rtcp_interval_s,
        latching=media.latching,
    )
    port = MediaPort(host=node.host, worker=worker, samples=sounds.samples,
                     advertise=host_address, publish=publish, log=ctx.log)
    node.host.add_port("media", port)
    node.start()
    worker.start(loop)
    # Recordings a killed predecessor left behind; worker 0 also adopts those of workers
    # that no longer exist (the pool shrank).
    mine = {plan.id} | ({f"media-{k}" for k in range(workers + 1, workers + 257)}
                        if index == 0 else set())
    orphans = find_orphans(media.recordings_dir, mine)
    for orphan in orphans:
        registrar.submit(orphan)
    node.keep_registered(HostInfo(
        host_id=plan.id, endpoint=node.endpoint, kinds=plan.kinds, services=("media",),
        pid=os.getpid()))
    # Start-up objects (modules, tables) never die: keep the collector from rescanning
    # them, so a full collection cannot stall the tick for long.
    gc.freeze()
    ctx.ready()
    ctx.log.info("media.ready", ports=f"{worker.pool.ports.start}-{worker.pool.ports.stop - 1}",
                 host=host_address, orphans=len(orphans))
    if index == 0:
        made = await loop.run_in_executor(None, sounds.ensure_demo_prompts)
        if made:
            ctx.log.info("media.prompts_made", prompts=made)
    next_retention = loop.time() + 60.0 if index == 0 else float("inf")
    try:
        while not ctx.stopping.is_set():
            ctx.stats.update(worker.stats(), requests=port.requests,
                             registered=registrar.registered, register_failures=registrar.failed)
            if loop.time() >= next_retention:
                next_retention = loop.time() + RETENTION_EVERY_S
                try:
                    await loop.run_in_executor(None, _retention, center)
                except Exception as exc:
                    ctx.log.warning("media.retention_failed", error=repr(exc))
            try:
                await asyncio.wait_for(ctx.stopping.wait(), STATS_EVERY_S)
            except TimeoutError:
                pass
    finally:
        for finished in worker.close():
            registrar.submit(finished)
        await asyncio.sleep(0.05)  # recordings closed on the disk thread report back first
        await registrar.drain(DRAIN_S)
        registrar.close()
        node.close()
        zctx.destroy(linger=0)


def run_standalone(config: Path, data: Path, name: str) -> None:
    """Run one worker in this process until SIGINT/SIGTERM (no supervisor)."""
    import signal

    from supervision.service import new_event_loop

    async def go() -> None:
        stopping = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stopping.set)
        ctx = ServiceContext(
            name=name, config_path=config, data_dir=data, args={}, stats={},
            log=structlog.get_logger().bind(service=name), stopping=stopping,
            _on_ready=lambda: print("ready", flush=True),
        )
        await main(ctx)

    loop = new_event_loop()
    try:
        loop.run_until_complete(go())
    finally:
        loop.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="Run one Contactor media worker.")
    parser.add_argument("--config", type=Path, required=True)
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--name", default="media-1")
    options = parser.parse_args()
    run_standalone(options.config.resolve(), options.data.resolve(), options.name)
    sys.exit(0)
