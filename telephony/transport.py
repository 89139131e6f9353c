"""SIP transports on asyncio: UDP, TCP and TLS listeners, and connections we open.

Bytes in, bytes out; nothing SIP-specific beyond framing and keep-alives:

* UDP datagrams go to ``on_datagram``. A datagram of CRLFs (a NAT keep-alive) is dropped and
  a STUN Binding request (RFC 5626 §4.4.2) answered here with the address it came from;
* each TCP/TLS connection has one :class:`sip.parser.StreamFramer` whose items go to
  ``on_item``; a CRLFCRLF ping is answered with one CRLF (RFC 5626 §3.5.1, §4.4.1) and stray
  CRLFs between messages are skipped. A framing error closes the connection once the stack
  has answered;
* responses to a request that came over TCP go back over its connection (RFC 3261 §18.2.2);
  once that connection has closed, over a new one to the address the request came from at
  the port of the response's top Via sent-by (5060, or 5061 for TLS, when it names none).
  Requests to a TCP/TLS target reuse an open connection to it or open one;
* connections with no traffic for ``idle_timeout_s`` are closed, and a source address may
  hold at most ``max_connections_per_source`` connections it opened (more are refused and
  logged, naming the peer); :meth:`Transports.configure` takes both from ``[sip]``
  (``tcp_idle_timeout_s``, ``tcp_max_connections_per_source``). ``on_closed`` hears of
  every connection that ends while running, by its source (a flow of RFC 5626 §5.2 that
  can no longer reach its UA);
* IPv6: listeners bind IPv6 addresses, ``::`` as one dual-stack socket; IPv4 peers seen
  through it (``::ffff:a.b.c.d``) are reported, keyed and answered as plain IPv4. Hosts are
  bare addresses here (no brackets), as :class:`sip.transaction.Target` has them.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
from collections.abc import Callable
from typing import Any, Protocol, cast

import structlog

from conf.schema import SipConfig
from sip.errors import SipFramingError, SipParseError
from sip.parser import KeepAlive, StreamFramer, StreamItem, is_keepalive, parse_datagram
from sip.stun import answer_binding
from sip.transaction import Target
from sip.uri import valid_ipv4

DatagramHandler = Callable[[bytes, Target], None]
ItemHandler = Callable[[StreamItem, Target], None]
ClosedHandler = Callable[[Target], None]
Key = tuple[str, str, int]

#: seconds without a byte either way before a connection is closed
DEFAULT_IDLE_TIMEOUT_S = 600.0
#: connections one IP address may open to us at once
DEFAULT_MAX_CONNECTIONS_PER_SOURCE = 64
_SWEEP_EVERY_MAX_S = 30.0
_MAPPED_PREFIX = "::ffff:"
_CR, _LF = 0x0D, 0x0A
_PONG = b"\r\n"
_STATUS_LINE = b"SIP/2.0 "


class Log(Protocol):
    def info(self, event: str, **kw: Any) -> Any: ...
    def warning(self, event: str, **kw: Any) -> Any: ...


def plain_host(host: str) -> str:
    """An IPv4-mapped IPv6 address (what a dual-stack socket reports for an IPv4 peer) as
    the IPv4 address it maps; any other host unchanged."""
    if host.startswith(_MAPPED_PREFIX) and "." in host:
        return host[len(_MAPPED_PREFIX):]
    return host


def host_port(host: str, port: int) -> str:
    """``host:port`` for logs, IPv6 addresses in brackets."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _dual_stack(host: str) -> bool:
    return host == "::"


def reopen_key(response: bytes, transport: str, host: str) -> Key:
    """Where a response goes when the connection its request came on has closed (RFC 3261
    §18.2.2): ``host`` (the address the request came from, what ``received`` records) at
    the port of the top Via's sent-by, else the transport's default port. An ``rport`` is
    no guide here: on a stream it is the closed connection's own source port (RFC 3581 §4
    applies it to unreliable transports only). Raises SipParseError for unparsable bytes."""
    via = parse_datagram(response).top_via
    return transport, host, via.port or (5061 if transport == "TLS" else 5060)


class _Udp(asyncio.DatagramProtocol):
    def __init__(self, owner: Transports) -> None:
        self.owner = owner
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)  # not a subclass, in fact

    def datagram_received(self, data: bytes, addr: tuple[Any, ...]) -> None:
        if not data:
            return
        first = data[0]
        if first < 0x20:  # a SIP message starts with a letter: this is a keep-alive or STUN
            if first in (_CR, _LF) and is_keepalive(data):
                return  # RFC 5626 §4.4.1 is for streams; on UDP CRLFs are dropped silently
            if first <= 0x01:
                self._stun(data, plain_host(addr[0]), addr[1], addr)
                return
        self.owner.on_datagram(data, Target(transport="UDP", host=plain_host(addr[0]),
                                            port=addr[1]))

    def _stun(self, data: bytes, host: str, port: int, addr: tuple[Any, ...]) -> None:
        try:
            answer = answer_binding(data, host, port)
        except ValueError:  # a source that is no IP address: nothing to map
            answer = None
        if answer is None or self.transport is None:
            return
        self.owner.stun_answered += 1
        with contextlib.suppress(OSError):
            self.transport.sendto(answer, addr)

    def error_received(self, exc: Exception) -> None:
        # ICMP port unreachable for an earlier send: the transaction's timers handle it.
        self.owner.errors += 1


class _Stream(asyncio.Protocol):
    def __init__(self, owner: Transports, name: str, *, inbound: bool) -> None:
        self.owner = owner
        self.name = name
        self.inbound = inbound
        self.framer = StreamFramer()
        self.transport: asyncio.Transport | None = None
        self.source: Target | None = None
        self.keys: list[Key] = []  # where owner.connections files this connection
        self.counted = False  # counted against its source's limit
        self.active = True  # a byte went either way since the last sweep
        self.idle_since = 0.0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement asyncio.Transport without subclassing it
        stream = self.transport = cast(asyncio.Transport, transport)
        peer = stream.get_extra_info("peername")
        host, port = plain_host(peer[0]), peer[1]
        if self.inbound and not self.owner._admit(self, host, port):
            stream.abort()
            return
        self.source = Target(transport=self.name, host=host, port=port)
        self.owner._file(self, (self.name, host, port))

    def data_received(self, data: bytes) -> None:
        if self.source is None or self.transport is None:
            return  # refused: closing
        self.active = True
        for item in self.framer.feed(data):
            if isinstance(item, KeepAlive):
                self.owner.pongs += 1
                self.transport.write(_PONG)
                continue
            self.owner.on_item(item, self.source)
            if isinstance(item, SipFramingError):
                self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.owner._forget(self)

    @property
    def writable(self) -> bool:
        return self.transport is not None and not self.transport.is_closing()

    def write(self, data: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.active = True
            self.transport.write(data)


class Transports:
    def __init__(self, *, on_datagram: DatagramHandler, on_item: ItemHandler,
                 tls_client: ssl.SSLContext | None = None,
                 idle_timeout_s: float | None = DEFAULT_IDLE_TIMEOUT_S,
                 max_connections_per_source: int = DEFAULT_MAX_CONNECTIONS_PER_SOURCE,
                 log: Log | None = None, on_closed: ClosedHandler | None = None,
                 ) -> None:  # fmt: skip
        self.on_datagram = on_datagram
        self.on_item = on_item
        self.on_closed = on_closed
        self.tls_client = tls_client
        self.idle_timeout_s = idle_timeout_s
        self.max_connections_per_source = max_connections_per_source
        self.log: Log = log if log is not None else structlog.get_logger()
        self.connections: dict[Key, _Stream] = {}
        self.errors = 0
        self.pongs = 0
        self.stun_answered = 0
        self.refused = 0
        self.idle_closed = 0
        self.reopened = 0  # responses sent over a new connection (§18.2.2)
        self._udp: asyncio.DatagramTransport | None = None
        self._udp_v6 = False  # the UDP socket is IPv6: IPv4 targets need their mapped form
        self._servers: list[asyncio.Server] = []
        self._connecting: dict[Key, list[bytes]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._inbound: dict[str, int] = {}  # source host -> connections it opened
        self._refusals: dict[str, int] = {}  # source host -> refused since the last sweep
        self._sweeper: asyncio.TimerHandle | None = None

    def configure(self, sip: SipConfig) -> None:
        """Take the connection limits of ``[sip]``: ``tcp_idle_timeout_s`` (0: never close)
        and ``tcp_max_connections_per_source``. Connections already open keep counting."""
        idle = sip.tcp_idle_timeout_s
        self.idle_timeout_s = idle if idle > 0 else None
        self.max_connections_per_source = sip.tcp_max_connections_per_source

    # ---------------------------------------------------------------- listening

    async def listen_udp(self, host: str, port: int) -> tuple[str, int]:
        loop = asyncio.get_running_loop()
        if _dual_stack(host):  # one socket for both families, whatever the sysctl default
            sock = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
            sock.bind((host, port))
            transport, _ = await loop.create_datagram_endpoint(lambda: _Udp(self), sock=sock)
        else:
            transport, _ = await loop.create_datagram_endpoint(lambda: _Udp(self),
                                                               local_addr=(host, port))
        self._udp = transport
        sock = transport.get_extra_info("socket")
        self._udp_v6 = sock.family == socket.AF_INET6
        # Bursts of calls arrive faster than one loop turn drains them.
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        address: tuple[str, int] = transport.get_extra_info("sockname")[:2]
        return address

    async def listen_stream(self, host: str, port: int, *, tls: ssl.SSLContext | None = None
                            ) -> tuple[str, int]:
        loop = asyncio.get_running_loop()
        name = "TLS" if tls is not None else "TCP"
        if _dual_stack(host):  # asyncio would make "::" IPv6-only
            sock = socket.create_server((host, port), family=socket.AF_INET6,
                                        dualstack_ipv6=True)
            server = await loop.create_server(lambda: _Stream(self, name, inbound=True),
                                              sock=sock, ssl=tls)
        else:
            server = await loop.create_server(lambda: _Stream(self, name, inbound=True),
                                              host, port, ssl=tls, reuse_address=True)
        self._servers.append(server)
        address: tuple[str, int] = server.sockets[0].getsockname()[:2]
        return address

    # ---------------------------------------------------------------- sending

    def send(self, data: bytes, target: Target) -> None:
        transport = target.transport.upper()
        if transport == "UDP":
            if self._udp is None:
                return
            host = target.host
            if self._udp_v6 and ":" not in host and valid_ipv4(host):
                host = _MAPPED_PREFIX + host  # an IPv4 peer through the dual-stack socket
            try:
                self._udp.sendto(data, (host, target.port))
            except (OSError, ValueError):
                self.errors += 1  # e.g. a broadcast Via (RFC 4475 bcast): never sent
            return
        key = (transport, target.host, target.port)
        conn = self.connections.get(key)
        if conn is not None and conn.writable:
            conn.write(data)
            return
        if data.startswith(_STATUS_LINE):  # the request's connection is gone (§18.2.2)
            try:
                key = reopen_key(data, transport, target.host)
            except SipParseError as exc:
                self.errors += 1
                self.log.info("sip.response_dropped", peer=host_port(target.host, target.port),
                              transport=transport, error=str(exc))
                return
            self.reopened += 1
            conn = self.connections.get(key)
            if conn is not None and conn.writable:
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
            _transport, proto = await asyncio.wait_for(loop.create_connection(
                lambda: _Stream(self, name, inbound=False), host, port, ssl=tls), 5.0)
        except (OSError, TimeoutError) as exc:
            self.errors += 1
            dropped = self._connecting.pop(key, [])
            self.log.info("sip.connect_failed", peer=host_port(host, port), transport=name,
                          error=str(exc) or type(exc).__name__, dropped=len(dropped))
            return
        # Filed by the address we dialled too, which may be spelt unlike the peer's name.
        if proto.transport is not None and not proto.transport.is_closing():
            self._file(proto, key)
        for data in self._connecting.pop(key, []):
            proto.write(data)

    # ---------------------------------------------------------------- connection table

    def _admit(self, conn: _Stream, host: str, port: int) -> bool:
        """Count a connection ``host`` opened to us; False past its limit (it is refused)."""
        count = self._inbound.get(host, 0)
        if count >= self.max_connections_per_source:
            self.refused += 1
            refused = self._refusals.get(host, 0)
            self._refusals[host] = refused + 1
            if not refused:  # the first of a burst now; the sweep sums the rest up
                self.log.warning(
                    "sip.connection_refused", peer=host_port(host, port), transport=conn.name,
                    reason=f"{host} already has {count} open connections "
                           f"(max_connections_per_source = {self.max_connections_per_source})")
            self._arm_sweep()
            return False
        self._inbound[host] = count + 1
        conn.counted = True
        return True

    def _file(self, conn: _Stream, key: Key) -> None:
        if key not in conn.keys:
            conn.keys.append(key)
        self.connections[key] = conn
        self._arm_sweep()

    def _forget(self, conn: _Stream) -> None:
        filed = bool(conn.keys)
        for key in conn.keys:
            if self.connections.get(key) is conn:
                del self.connections[key]
        conn.keys.clear()
        if filed and conn.source is not None and self.on_closed is not None:
            self.on_closed(conn.source)  # an RFC 5626 flow ended: its bindings are stale
        if conn.counted and conn.source is not None:
            conn.counted = False
            host = conn.source.host
            left = self._inbound.get(host, 0) - 1
            if left > 0:
                self._inbound[host] = left
            else:
                self._inbound.pop(host, None)

    def _arm_sweep(self) -> None:
        if self._sweeper is not None:
            return
        every = _SWEEP_EVERY_MAX_S
        if self.idle_timeout_s is not None:
            every = min(every, max(self.idle_timeout_s / 4, 0.01))
        self._sweeper = asyncio.get_running_loop().call_later(every, self._sweep)

    def _sweep(self) -> None:
        """Close connections idle for ``idle_timeout_s``; report the refusals since last time.

        A connection is idle from the first sweep that finds no traffic since the one before,
        so it closes between one and one and a half timeouts after its last byte."""
        self._sweeper = None
        now = asyncio.get_running_loop().time()
        limit = self.idle_timeout_s
        for conn in {id(c): c for c in self.connections.values()}.values():
            if conn.active:
                conn.active = False
                conn.idle_since = now
            elif limit is not None and now - conn.idle_since >= limit and conn.transport:
                self.idle_closed += 1
                source = conn.source
                self.log.info("sip.connection_idle_closed", transport=conn.name,
                              peer=host_port(source.host, source.port) if source else None,
                              idle_s=limit)
                conn.transport.close()
        for host, count in self._refusals.items():
            if count > 1:
                self.log.warning("sip.connections_refused", peer=host, refused=count,
                                 open=self._inbound.get(host, 0),
                                 limit=self.max_connections_per_source)
        self._refusals.clear()
        if self.connections:
            self._arm_sweep()

    def close(self) -> None:
        """Stop listening and close every connection. ``on_closed`` hears of none of these:
        the process is stopping, not the peers going away."""
        self.on_closed = None
        if self._udp is not None:
            self._udp.close()
        for server in self._servers:
            server.close()
        for conn in list(self.connections.values()):
            if conn.transport is not None:
                conn.transport.close()
        for task in self._tasks:
            task.cancel()
        if self._sweeper is not None:
            self._sweeper.cancel()
            self._sweeper = None
