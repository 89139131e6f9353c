"""SIP transports on asyncio: UDP, TCP and TLS listeners, and connections we open.

Bytes in, bytes out; nothing SIP-specific beyond framing. UDP datagrams go to ``on_datagram``
(CRLF keepalives dropped, RFC 5626 §4.4.1); each TCP/TLS connection has one
:class:`sip.parser.StreamFramer` and its items go to ``on_item`` (a CRLFCRLF ping is
answered with CRLF here). A framing error closes the connection after the stack answered.
Responses to a request that came over TCP go back over its connection; requests to a
TCP/TLS target reuse a connection to it or open one.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
from collections.abc import Callable
from typing import Any

from sip.errors import SipFramingError
from sip.parser import KeepAlive, StreamFramer, StreamItem, is_keepalive
from sip.transaction import Target

DatagramHandler = Callable[[bytes, Target], None]
ItemHandler = Callable[[StreamItem, Target], None]
Key = tuple[str, str, int]


class _Udp(asyncio.DatagramProtocol):
    def __init__(self, owner: Transports) -> None:
        self.owner = owner

    def datagram_received(self, data: bytes, addr: tuple[Any, ...]) -> None:
        if is_keepalive(data):
            return
        self.owner.on_datagram(data, Target(transport="UDP", host=addr[0], port=addr[1]))

    def error_received(self, exc: Exception) -> None:
        # ICMP port unreachable for an earlier send: the transaction's timers handle it.
        self.owner.errors += 1


class _Stream(asyncio.Protocol):
    def __init__(self, owner: Transports, name: str) -> None:
        self.owner = owner
        self.name = name
        self.framer = StreamFramer()
        self.transport: asyncio.Transport | None = None
        self.key: Key | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        host, port = transport.get_extra_info("peername")[:2]
        self.key = (self.name, host, port)
        self.owner.connections[self.key] = self

    def data_received(self, data: bytes) -> None:
        assert self.key is not None and self.transport is not None
        source = Target(transport=self.name, host=self.key[1], port=self.key[2])
        for item in self.framer.feed(data):
            if isinstance(item, KeepAlive):
                self.transport.write(b"\r\n")
                continue
            self.owner.on_item(item, source)
            if isinstance(item, SipFramingError):
                self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        if self.key is not None and self.owner.connections.get(self.key) is self:
            del self.owner.connections[self.key]

    def write(self, data: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)


class Transports:
    def __init__(self, *, on_datagram: DatagramHandler, on_item: ItemHandler,
                 tls_client: ssl.SSLContext | None = None) -> None:
        self.on_datagram = on_datagram
        self.on_item = on_item
        self.tls_client = tls_client
        self.connections: dict[Key, _Stream] = {}
        self.errors = 0
        self._udp: asyncio.DatagramTransport | None = None
        self._servers: list[asyncio.Server] = []
        self._connecting: dict[Key, list[bytes]] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    async def listen_udp(self, host: str, port: int) -> tuple[str, int]:
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(lambda: _Udp(self),
                                                           local_addr=(host, port))
        self._udp = transport
        sock = transport.get_extra_info("socket")
        # Bursts of calls arrive faster than one loop turn drains them.
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        address: tuple[str, int] = transport.get_extra_info("sockname")[:2]
        return address

    async def listen_stream(self, host: str, port: int, *, tls: ssl.SSLContext | None = None
                            ) -> tuple[str, int]:
        loop = asyncio.get_running_loop()
        name = "TLS" if tls is not None else "TCP"
        server = await loop.create_server(lambda: _Stream(self, name), host, port, ssl=tls,
                                          reuse_address=True)
        self._servers.append(server)
        address: tuple[str, int] = server.sockets[0].getsockname()[:2]
        return address

    def send(self, data: bytes, target: Target) -> None:
        transport = target.transport.upper()
        if transport == "UDP":
            if self._udp is None:
                return
            try:
                self._udp.sendto(data, (target.host, target.port))
            except (OSError, ValueError):
                self.errors += 1  # e.g. a broadcast Via (RFC 4475 bcast): never sent
            return
        key = (transport, target.host, target.port)
        conn = self.connections.get(key)
        if conn is not None:
            conn.write(data)
            return
        if key in self._connecting:
            self._connecting[key].append(data)
            return
        self._connecting[key] = [data]
        task = asyncio.get_running_loop().create_task(self._connect(key))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _connect(self, key: Key) -> None:
        name, host, port = key
        loop = asyncio.get_running_loop()
        tls = self.tls_client if name == "TLS" else None
        try:
            _transport, proto = await asyncio.wait_for(
                loop.create_connection(lambda: _Stream(self, name), host, port, ssl=tls), 5.0)
        except (OSError, TimeoutError):
            self.errors += 1
            self._connecting.pop(key, None)
            return
        # Keyed by the address we dialled, not just the peer's: later sends find it.
        self.connections[key] = proto
        for data in self._connecting.pop(key, []):
            proto.write(data)

    def close(self) -> None:
        if self._udp is not None:
            self._udp.close()
        for server in self._servers:
            server.close()
        for conn in list(self.connections.values()):
            if conn.transport is not None:
                conn.transport.close()
        for task in self._tasks:
            task.cancel()
