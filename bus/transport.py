"""ZeroMQ mesh between processes: each host binds one PULL socket and PUSHes to its peers.

Frames carry a batch of envelopes (``bus.envelope``): everything queued for a peer during one
turn of the event loop leaves as one ZeroMQ message, so throughput grows under load while an
idle system still sends each message at once. Sockets are driven from the asyncio loop with
``add_reader`` on ZeroMQ's edge-triggered FD (works on uvloop and the default loop alike).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import zmq

from bus.codec import Codec
from bus.envelope import BadEnvelope, Envelope, decode_frame, encode_frame
from bus.errors import DecodeError
from bus.zmqutil import fd_of, readable

OnEnvelope = Callable[[Envelope], None]
OnBad = Callable[[BadEnvelope | DecodeError, str], None]


class Mesh:
    """One process's door to the others. ``send`` never blocks; ``close`` is idempotent."""

    def __init__(
        self,
        *,
        ctx: zmq.Context[zmq.Socket[bytes]],
        codec: Codec,
        bind: str,
        on_envelope: OnEnvelope,
        on_bad: OnBad,
        hwm: int = 100_000,
        max_batch: int = 512,
    ) -> None:
        self.codec = codec
        self.ctx = ctx
        self.on_envelope = on_envelope
        self.on_bad = on_bad
        self.hwm = hwm
        self.max_batch = max_batch
        self.pull = ctx.socket(zmq.PULL)
        self.pull.setsockopt(zmq.RCVHWM, hwm)
        self.pull.setsockopt(zmq.LINGER, 0)
        self.pull.bind(bind)
        self.endpoint = bytes(self.pull.getsockopt(zmq.LAST_ENDPOINT)).decode()
        self._peers: dict[str, zmq.Socket[bytes]] = {}
        self._endpoints: dict[str, str] = {}
        self._queued: dict[str, list[Envelope]] = {}
        self._flush_scheduled = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self.sent_frames = 0
        self.received = 0

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        loop.add_reader(fd_of(self.pull), self._readable)
        loop.call_soon(self._readable)  # edge-triggered: drain anything already waiting

    def connect(self, host_id: str, endpoint: str) -> None:
        if self._endpoints.get(host_id) == endpoint:
            return
        old = self._peers.pop(host_id, None)
        if old is not None:
            old.close(linger=0)
        sock = self.ctx.socket(zmq.PUSH)
        sock.setsockopt(zmq.SNDHWM, self.hwm)
        sock.setsockopt(zmq.LINGER, 1000)
        sock.setsockopt(zmq.IMMEDIATE, 0)
        sock.connect(endpoint)
        self._peers[host_id] = sock
        self._endpoints[host_id] = endpoint

    def knows(self, host_id: str) -> bool:
        return host_id in self._peers

    def send(self, host_id: str, env: Envelope) -> None:
        queued = self._queued.get(host_id)
        if queued is None:
            queued = self._queued[host_id] = []
        queued.append(env)
        if len(queued) >= self.max_batch:
            self._flush_one(host_id, queued)
        elif not self._flush_scheduled:
            # Idle link: the first envelope of a loop turn leaves at once (latency); the ones
            # that follow in the same turn wait for the scheduled flush (throughput).
            self._flush_one(host_id, queued)
            self._flush_scheduled = True
            loop = self._loop or asyncio.get_running_loop()
            loop.call_soon(self.flush)

    def flush(self) -> None:
        self._flush_scheduled = False
        for host_id, queued in self._queued.items():
            if queued:
                self._flush_one(host_id, queued)

    def _flush_one(self, host_id: str, queued: list[Envelope]) -> None:
        sock = self._peers.get(host_id)
        batch = queued[:]
        queued.clear()
        if sock is None:
            for env in batch:
                self.on_bad(DecodeError(f"no endpoint known for host {host_id!r}"), env.to)
            return
        frame = encode_frame(self.codec, batch)
        try:
            sock.send(frame, zmq.NOBLOCK)
            self.sent_frames += 1
        except zmq.Again:
            # Peer is gone or its queue is full: fail loudly per envelope rather than block.
            for env in batch:
                self.on_bad(DecodeError(f"host {host_id!r} is not accepting messages"), env.to)

    def _readable(self) -> None:
        pull = self.pull
        budget = 256  # frames per turn, so one busy peer cannot starve the loop
        while readable(pull):
            budget -= 1
            if budget < 0:
                assert self._loop is not None
                self._loop.call_soon(self._readable)
                return
            try:
                frame = pull.recv(zmq.NOBLOCK, copy=True)
            except zmq.Again:
                break
            try:
                for item in decode_frame(self.codec, frame):
                    if isinstance(item, BadEnvelope):
                        self.on_bad(item, "")
                    else:
                        self.received += 1
                        self.on_envelope(item)
            except DecodeError as exc:
                self.on_bad(exc, "")

    def close(self) -> None:
        if self._loop is not None and not self.pull.closed:
            try:
                self._loop.remove_reader(fd_of(self.pull))
            except Exception:
                pass
        for sock in self._peers.values():
            sock.close(linger=0)
        self._peers.clear()
        if not self.pull.closed:
            self.pull.close(linger=0)
