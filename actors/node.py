"""One process's actor node: a :class:`Host` wired to the ZeroMQ mesh and the pub/sub bus.

This is what a service builds; tests build it too, with real sockets on loopback.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import zmq

from actors.behaviour import Behaviour
from actors.cell import DeadLetterSink, JournalSink, SnapshotStore
from actors.host import Host
from actors.placement import Placement
from bus.codec import Codec
from bus.envelope import ASK, ERROR, BadEnvelope, Envelope
from bus.errors import DecodeError
from bus.pubsub import BusPublisher
from bus.system import ErrorReply, HostInfo, RegisterHost
from bus.transport import Mesh

DIRECTORY = "directory/core"


class Node:
    def __init__(
        self,
        *,
        host_id: str,
        codec: Codec,
        bind: str,
        peers: Mapping[str, str],
        placement: Placement,
        behaviours: Sequence[Behaviour[Any]] = (),
        clock: Callable[[], float],
        ctx: zmq.Context[zmq.Socket[bytes]] | None = None,
        journal: JournalSink | None = None,
        snapshots: SnapshotStore | None = None,
        publish_to: str | None = None,
        dead_letters: DeadLetterSink | None = None,
    ) -> None:
        self.ctx = ctx or zmq.Context.instance()
        self.codec = codec
        self.dead_letters = dead_letters or (lambda record: None)
        self.publisher = BusPublisher(self.ctx, codec, publish_to) if publish_to else None
        self.mesh = Mesh(
            ctx=self.ctx, codec=codec, bind=bind, on_envelope=self._incoming, on_bad=self._bad
        )
        self.host = Host(
            host_id=host_id,
            behaviours=behaviours,
            placement=placement,
            clock=clock,
            outbound=self.mesh,
            journal=journal,
            snapshots=snapshots,
            publisher=self.publisher,
            dead_letters=self.dead_letters,
        )
        self._register_task: asyncio.Task[None] | None = None
        for peer_id, endpoint in peers.items():
            if peer_id != host_id:
                self.mesh.connect(peer_id, endpoint)

    @property
    def endpoint(self) -> str:
        return self.mesh.endpoint

    def start(self) -> None:
        """Serve the mesh, and re-arm the timers this host's actors had pending when their
        process stopped (with a store that keeps timers: :mod:`actors.durable_timers`)."""
        self.mesh.start(asyncio.get_running_loop())
        self.host.start()

    def _incoming(self, env: Envelope) -> None:
        self.host.deliver(env)

    def _bad(self, bad: BadEnvelope | DecodeError, to: str) -> None:
        # A malformed message never crashes the node: the asker gets a typed error, a tell
        # goes to the dead-letter log with the reason.
        if isinstance(bad, BadEnvelope):
            if bad.kind == ASK and bad.reply_to:
                err = ErrorReply(code=bad.error.code, text=str(bad.error))
                self.host.deliver(Envelope(ERROR, bad.reply_to, err, "", bad.corr))
            else:
                self.dead_letters({"reason": bad.error.code, "text": str(bad.error), "to": to})
        else:
            self.dead_letters({"reason": bad.code, "text": str(bad), "to": to})

    def keep_registered(self, info: HostInfo, every_s: float = 5.0) -> None:
        """Register with the directory now and every ``every_s``: a restarted ``core``
        learns every process again within seconds, without restarting anyone."""
        self.host.tell(DIRECTORY, RegisterHost(host=info))

        async def again() -> None:
            while True:
                await asyncio.sleep(every_s)
                self.host.tell(DIRECTORY, RegisterHost(host=info))

        self._register_task = asyncio.get_running_loop().create_task(again())

    async def serve(self, stopping: asyncio.Event, stats: dict[str, Any],
                    extra: Callable[[], dict[str, Any]] = dict,
                    snapshot_every_s: float = 0.05, stats_every_s: float = 0.5) -> None:
        """A host process's main loop until ``stopping``: persist changed actor states every
        ``snapshot_every_s``, refresh ``stats`` (host gauges, msgs/s, ``extra()``) every
        ``stats_every_s``, and flush the snapshots one last time when asked to stop."""
        loop = asyncio.get_running_loop()
        host = self.host
        last_t, last_n, next_stats = loop.time(), host.processed, 0.0
        while not stopping.is_set():
            host.flush_snapshots()
            now = loop.time()
            if now >= next_stats:
                rate = (host.processed - last_n) / max(now - last_t, 1e-6)
                last_t, last_n, next_stats = now, host.processed, now + stats_every_s
                stats.update(host.stats(), msgs_per_s=round(rate, 1), **extra())
            try:
                await asyncio.wait_for(stopping.wait(), snapshot_every_s)
            except TimeoutError:
                pass
        host.flush_snapshots()

    def close(self) -> None:
        if self._register_task is not None:
            self._register_task.cancel()
        self.host.close()
        self.mesh.close()
        if self.publisher is not None:
            self.publisher.close()
