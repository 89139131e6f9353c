"""The asyncio transports on loopback: RFC 5626 keep-alives (CRLF ping/pong on streams, CRLF
and STUN on UDP), responses on the request's connection and reuse of open connections (RFC
3261 §18.2.2), idle connections closed, and the per-source connection limit."""

from __future__ import annotations

import asyncio
import socket
import struct

from sip.builders import make_response
from sip.errors import SipParseError
from sip.message import Request
from sip.parser import parse_datagram
from sip.serializer import serialize
from sip.stun import BINDING_SUCCESS, MAGIC_COOKIE, XOR_MAPPED_ADDRESS
from sip.transaction import Target
from tests.telephony.transport_support import (
    Received,
    RecordingLog,
    TcpClient,
    UdpClient,
    bounded,
    options,
    transports,
    until,
)

LOOPBACK = "127.0.0.1"


async def test_a_crlfcrlf_ping_gets_one_crlf_and_stray_crlfs_are_no_error() -> None:
    received = Received()
    t = transports(received)
    _, port = await t.listen_stream(LOOPBACK, 0)
    client = await TcpClient.open(LOOPBACK, port)
    try:
        client.send(b"\r\n\r\n")
        assert await bounded(client.reader.readexactly(2)) == b"\r\n"
        # a ping split over two segments is still one ping
        client.send(b"\r\n")
        await asyncio.sleep(0.05)
        client.send(b"\r\n")
        assert await bounded(client.reader.readexactly(2)) == b"\r\n"
        first = options(transport="TCP", host=LOOPBACK, port=client.port, branch="z9hG4bK1")
        second = first.replace(b"z9hG4bK1", b"z9hG4bK2")
        client.send(b"\r\n" + first + b"\r\n" + second)
        await until(lambda: len(received.items) == 2)
        assert all(isinstance(item, Request) for item, _ in received.items)
        assert not any(isinstance(item, SipParseError) for item, _ in received.items)
        assert [item.top_via.branch for item, _ in received.items  # type: ignore[union-attr]
                ] == ["z9hG4bK1", "z9hG4bK2"]
        assert t.pongs == 2
        assert received.items[0][1] == Target(transport="TCP", host=LOOPBACK, port=client.port)
    finally:
        client.close()
        t.close()


async def test_udp_crlf_keepalives_are_dropped_and_stun_is_answered() -> None:
    received = Received()
    t = transports(received)
    _, port = await t.listen_udp(LOOPBACK, 0)
    client = await UdpClient.open(LOOPBACK)
    try:
        for keepalive in (b"\r\n", b"\r\n\r\n", b"\r\n\r\n\r\n\r\n"):
            client.send(keepalive, LOOPBACK, port)
        txid = b"contactor-01"
        client.send(struct.pack("!HHI12s", 0x0001, 0, MAGIC_COOKIE, txid), LOOPBACK, port)
        answer = await bounded(client.queue.get())
        kind, length, cookie, answered = struct.unpack_from("!HHI12s", answer)
        assert (kind, cookie, answered, length) == (BINDING_SUCCESS, MAGIC_COOKIE, txid, 12)
        attr, size, family, x_port = struct.unpack_from("!HHxBH", answer, 20)
        assert (attr, size, family) == (XOR_MAPPED_ADDRESS, 8, 1)
        assert x_port ^ (MAGIC_COOKIE >> 16) == client.port
        raw = bytes(a ^ b for a, b in zip(answer[28:32], struct.pack("!I", MAGIC_COOKIE),
                                          strict=True))
        assert socket.inet_ntoa(raw) == LOOPBACK
        client.send(options(transport="UDP", host=LOOPBACK, port=client.port,
                            branch="z9hG4bKu"), LOOPBACK, port)
        await until(lambda: bool(received.datagrams))
        (data, source), = received.datagrams
        assert data.startswith(b"OPTIONS ") and source.port == client.port
        assert t.stun_answered == 1 and client.queue.empty()  # CRLFs: no answer, no message
    finally:
        client.close()
        t.close()


async def test_responses_and_later_requests_reuse_the_inbound_connection() -> None:
    received = Received()
    t = transports(received)
    _, port = await t.listen_stream(LOOPBACK, 0)
    client = await TcpClient.open(LOOPBACK, port)
    try:
        client.send(options(transport="TCP", host=LOOPBACK, port=5060, branch="z9hG4bKr"))
        await until(lambda: bool(received.items))
        request, source = received.items[0]
        assert isinstance(request, Request)
        # the answer goes to the connection's source, whatever the Via's sent-by port says
        t.send(serialize(make_response(request, 200, to_tag="t")), source)
        assert (await client.message()).status == 200  # type: ignore[union-attr]
        # a request of ours to that peer (e.g. a keep-alive OPTIONS) takes the same connection
        ping = options(transport="TCP", host=LOOPBACK, port=port, branch="z9hG4bKp")
        t.send(ping, source)
        again = await client.message()
        assert isinstance(again, Request) and again.top_via.branch == "z9hG4bKp"
        assert len({id(c) for c in t.connections.values()}) == 1
    finally:
        client.close()
        t.close()


async def test_requests_to_a_peer_share_one_connection_we_open() -> None:
    accepted: list[asyncio.StreamReader] = []

    async def peer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.append(reader)

    server = await asyncio.start_server(peer, LOOPBACK, 0)
    port = server.sockets[0].getsockname()[1]
    t = transports(Received())
    target = Target(transport="TCP", host=LOOPBACK, port=port)
    messages = [options(transport="TCP", host=LOOPBACK, port=5060, branch=f"z9hG4bKs{n}")
                for n in range(3)]
    try:
        t.send(messages[0], target)
        t.send(messages[1], target)  # while the first connection is still being opened
        await until(lambda: bool(accepted) and target_filed(t, target))
        t.send(messages[2], target)
        data = b""
        while data.count(b"OPTIONS ") < 3:
            data += await bounded(accepted[0].read(65536))
        assert data == b"".join(messages) and len(accepted) == 1
    finally:
        t.close()
        server.close()


def target_filed(t: object, target: Target) -> bool:
    connections = getattr(t, "connections", {})
    return (target.transport, target.host, target.port) in connections


async def test_idle_connections_are_closed_and_busy_ones_kept() -> None:
    log = RecordingLog()
    closed: list[Target] = []
    t = transports(Received(), idle_timeout_s=0.3, log=log, on_closed=closed.append)
    _, port = await t.listen_stream(LOOPBACK, 0)
    idle = await TcpClient.open(LOOPBACK, port)
    busy = await TcpClient.open(LOOPBACK, port)
    try:
        started = asyncio.get_running_loop().time()
        closing = asyncio.ensure_future(idle.closed_by_server(timeout=2.0))
        while not closing.done():
            busy.send(b"\r\n\r\n")  # a keep-alive every 50 ms: never idle
            await bounded(busy.reader.readexactly(2))
            await asyncio.sleep(0.05)
        assert closing.result()
        waited = asyncio.get_running_loop().time() - started
        assert 0.3 <= waited < 1.0, waited
        assert t.idle_closed == 1 and len(t.connections) == 1
        (record,) = log.events("sip.connection_idle_closed")
        assert record["peer"] == f"{LOOPBACK}:{idle.port}" and record["transport"] == "TCP"
        assert closed == [Target(transport="TCP", host=LOOPBACK, port=idle.port)]
        busy.send(b"\r\n\r\n")
        assert await bounded(busy.reader.readexactly(2)) == b"\r\n"  # still open
    finally:
        idle.close()
        busy.close()
        t.close()


async def test_a_source_opening_too_many_connections_is_refused_and_named() -> None:
    log = RecordingLog()
    closed: list[Target] = []
    t = transports(Received(), max_connections_per_source=2, log=log, idle_timeout_s=0.2,
                   on_closed=closed.append)
    _, port = await t.listen_stream(LOOPBACK, 0)
    clients = [await TcpClient.open(LOOPBACK, port) for _ in range(4)]
    try:
        for client in clients[:2]:  # admitted: they answer pings
            client.send(b"\r\n\r\n")
            assert await bounded(client.reader.readexactly(2)) == b"\r\n"
        for client in clients[2:]:
            assert await client.closed_by_server()
        assert t.refused == 2
        (first,) = log.events("sip.connection_refused")
        assert first["peer"] == f"{LOOPBACK}:{clients[2].port}"
        assert "max_connections_per_source = 2" in first["reason"]
        # the rest of the burst is summed up once per sweep, naming the source
        await until(lambda: bool(log.events("sip.connections_refused")))
        assert log.events("sip.connections_refused")[0] == {
            "peer": LOOPBACK, "refused": 2, "open": 2, "limit": 2}
        # a slot freed is a slot taken
        clients[0].close()
        await until(lambda: len({id(c) for c in t.connections.values()}) == 1)
        assert closed == [Target(transport="TCP", host=LOOPBACK, port=clients[0].port)]
        late = await TcpClient.open(LOOPBACK, port)
        clients.append(late)
        late.send(b"\r\n\r\n")
        assert await bounded(late.reader.readexactly(2)) == b"\r\n"
    finally:
        for client in clients:
            client.close()
        t.close()


async def test_a_failed_connect_is_logged_naming_the_peer() -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind((LOOPBACK, 0))
        port = probe.getsockname()[1]
    log = RecordingLog()
    t = transports(Received(), log=log)
    try:
        t.send(b"OPTIONS sip:x SIP/2.0\r\n\r\n", Target(transport="TCP", host=LOOPBACK,
                                                        port=port))
        await until(lambda: bool(log.events("sip.connect_failed")))
        (record,) = log.events("sip.connect_failed")
        assert record["peer"] == f"{LOOPBACK}:{port}" and record["dropped"] == 1
        assert t.errors == 1 and not t.connections
    finally:
        t.close()


async def test_a_framing_error_is_handed_up_then_the_connection_closes() -> None:
    received = Received()
    t = transports(received)
    _, port = await t.listen_stream(LOOPBACK, 0)
    client = await TcpClient.open(LOOPBACK, port)
    try:
        bad = options(transport="TCP", host=LOOPBACK, port=5060, branch="z9hG4bKb")
        client.send(bad.replace(b"Content-Length: 0", b"Content-Length: -1"))
        assert await client.closed_by_server()
        ((item, _),) = received.items
        assert isinstance(item, SipParseError) and item.can_respond
        assert parse_datagram(bad).method == "OPTIONS"  # type: ignore[union-attr]
    finally:
        client.close()
        t.close()
