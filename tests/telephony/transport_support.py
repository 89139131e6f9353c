"""Helpers for the transport tests: collecting handlers, a recording log, loopback clients."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, cast

from sip.message import Request, Response
from sip.parser import StreamFramer, StreamItem, parse_datagram
from sip.transaction import Target
from telephony.transport import Transports


class RecordingLog:
    """Stands in for structlog: keeps (level, event, fields)."""

    def __init__(self) -> None:
        self.records: list[tuple[str, str, dict[str, Any]]] = []

    def info(self, event: str, **kw: Any) -> None:
        self.records.append(("info", event, kw))

    def warning(self, event: str, **kw: Any) -> None:
        self.records.append(("warning", event, kw))

    def events(self, name: str) -> list[dict[str, Any]]:
        return [kw for _level, event, kw in self.records if event == name]


class Received:
    """What a :class:`Transports` hands up: datagrams and stream items, with their source."""

    def __init__(self) -> None:
        self.datagrams: list[tuple[bytes, Target]] = []
        self.items: list[tuple[StreamItem, Target]] = []
        self.arrived = asyncio.Event()

    def datagram(self, data: bytes, source: Target) -> None:
        self.datagrams.append((data, source))
        self.arrived.set()

    def item(self, item: StreamItem, source: Target) -> None:
        self.items.append((item, source))
        self.arrived.set()


def transports(received: Received, **kw: Any) -> Transports:
    return Transports(on_datagram=received.datagram, on_item=received.item, **kw)


async def until(check: Callable[[], bool], timeout: float = 2.0) -> None:
    """Wait (bounded) until ``check()`` holds."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.01)


async def bounded(awaitable: Awaitable[Any], timeout: float = 2.0) -> Any:
    return await asyncio.wait_for(awaitable, timeout)


class UdpClient(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.queue: asyncio.Queue[bytes] = asyncio.Queue()
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[Any, ...]) -> None:
        self.queue.put_nowait(data)

    @classmethod
    async def open(cls, host: str) -> UdpClient:
        loop = asyncio.get_running_loop()
        _transport, client = await loop.create_datagram_endpoint(cls, local_addr=(host, 0))
        return client

    @property
    def port(self) -> int:
        assert self.transport is not None
        port: int = self.transport.get_extra_info("sockname")[1]
        return port

    def send(self, data: bytes, host: str, port: int) -> None:
        assert self.transport is not None
        self.transport.sendto(data, (host, port))

    async def message(self, timeout: float = 2.0) -> Request | Response:
        return parse_datagram(await bounded(self.queue.get(), timeout))

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


class TcpClient:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.framer = StreamFramer()
        self.pending: list[StreamItem] = []

    @classmethod
    async def open(cls, host: str, port: int) -> TcpClient:
        reader, writer = await bounded(asyncio.open_connection(host, port))
        return cls(reader, writer)

    @property
    def port(self) -> int:
        port: int = self.writer.get_extra_info("sockname")[1]
        return port

    def send(self, data: bytes) -> None:
        self.writer.write(data)

    async def item(self, timeout: float = 2.0) -> StreamItem:
        while not self.pending:
            data = await bounded(self.reader.read(65536), timeout)
            if not data:
                raise ConnectionError("closed by the server")
            self.pending.extend(self.framer.feed(data))
        return self.pending.pop(0)

    async def message(self, timeout: float = 2.0) -> Request | Response:
        item = await self.item(timeout)
        assert isinstance(item, Request | Response), item
        return item

    async def closed_by_server(self, timeout: float = 2.0) -> bool:
        try:
            data: bytes = await bounded(self.reader.read(65536), timeout)
            return data == b""
        except ConnectionResetError:
            return True

    def close(self) -> None:
        self.writer.close()


def options(*, transport: str, host: str, port: int, branch: str, call_id: str = "o1",
            target: str = "sip:pbx@127.0.0.1") -> bytes:
    """An OPTIONS out of any dialog, as phones and trunks send to check a server is alive."""
    sent_by = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    lines = [
        f"OPTIONS {target} SIP/2.0", f"Via: SIP/2.0/{transport} {sent_by};branch={branch};rport",
        "Max-Forwards: 70", "From: <sip:probe@example.com>;tag=p1", f"To: <{target}>",
        f"Call-ID: {call_id}", "CSeq: 1 OPTIONS", "Content-Length: 0", "", "",
    ]
    return "\r\n".join(lines).encode()
