"""Broadcasts: publishers PUB into the core's XSUB, subscribers SUB from its XPUB.

Frames are ``[topic, message]`` with the message encoded by the codec; topics are short names
(``agents``, ``calls``, ``queues``, ``help``, ``directory``, ``alarms``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import zmq

from bus.codec import Codec
from bus.errors import DecodeError
from bus.message import Message
from bus.zmqutil import fd_of, readable


class BusPublisher:
    def __init__(self, ctx: zmq.Context[zmq.Socket[bytes]], codec: Codec, endpoint: str) -> None:
        self.codec = codec
        self.sock = ctx.socket(zmq.PUB)
        self.sock.setsockopt(zmq.SNDHWM, 100_000)
        self.sock.setsockopt(zmq.LINGER, 0)
        self.sock.connect(endpoint)

    def publish(self, topic: str, msg: Message) -> None:
        try:
            self.sock.send_multipart([topic.encode(), self.codec.encode(msg)], zmq.NOBLOCK)
        except zmq.Again:
            pass  # slow subscribers drop broadcasts (PUB semantics); state lives in actors

    def close(self) -> None:
        self.sock.close(linger=0)


class BusSubscriber:
    """Calls ``on_message(topic, msg)`` for each broadcast; bad frames go to ``on_bad``."""

    def __init__(
        self,
        ctx: zmq.Context[zmq.Socket[bytes]],
        codec: Codec,
        endpoint: str,
        topics: list[str],
        on_message: Callable[[str, Message], None],
        on_bad: Callable[[DecodeError], None] = lambda e: None,
    ) -> None:
        self.codec = codec
        self.on_message = on_message
        self.on_bad = on_bad
        self.sock = ctx.socket(zmq.SUB)
        self.sock.setsockopt(zmq.LINGER, 0)
        for t in topics:
            self.sock.setsockopt(zmq.SUBSCRIBE, t.encode())
        self.sock.connect(endpoint)
        self._loop: asyncio.AbstractEventLoop | None = None

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        loop.add_reader(fd_of(self.sock), self._readable)
        loop.call_soon(self._readable)

    def _readable(self) -> None:
        while readable(self.sock):
            try:
                topic, data = self.sock.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                break
            except ValueError:
                self.on_bad(DecodeError("broadcast must be [topic, message]"))
                continue
            try:
                msg = self.codec.decode(data)
            except DecodeError as exc:
                self.on_bad(exc)
                continue
            self.on_message(topic.decode(errors="replace"), msg)

    def close(self) -> None:
        if self._loop is not None and not self.sock.closed:
            try:
                self._loop.remove_reader(fd_of(self.sock))
            except Exception:
                pass
        self.sock.close(linger=0)


def run_proxy(ctx: zmq.Context[zmq.Socket[bytes]], xsub_bind: str, xpub_bind: str) -> None:
    """Forward every broadcast from publishers to subscribers (blocks; run in a thread)."""
    xsub = ctx.socket(zmq.XSUB)
    xpub = ctx.socket(zmq.XPUB)
    xsub.bind(xsub_bind)
    xpub.bind(xpub_bind)
    try:
        zmq.proxy(xsub, xpub)
    except zmq.ContextTerminated:
        pass
    finally:
        xsub.close(linger=0)
        xpub.close(linger=0)
