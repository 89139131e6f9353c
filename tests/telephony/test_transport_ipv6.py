"""The SIP stack over IPv6 loopback (::1): OPTIONS and REGISTER over UDP and TCP answered at
their IPv6 source (received/rport written bare, RFC 3261 §18.2.1), our keep-alive OPTIONS to
a phone registered over IPv6 with a bracketed Via sent-by, and a dual-stack ``::`` listener
that reports IPv4 peers as plain IPv4. Needs ::1 on lo (``ip -6 addr show lo``)."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path
from typing import Any

import pytest
import structlog

from conf.load import parse_config
from sip.digest import DigestServer, build_authorization, parse_challenge
from sip.errors import SipParseError
from sip.message import Request, Response
from sip.parser import StreamItem
from sip.serializer import serialize
from sip.transaction import Target
from telephony.registrar import Registrar
from telephony.stack import Action, SipStack, Transmit
from telephony.transport import Transports, plain_host
from tests.shared_data import TORTURE
from tests.telephony.transport_support import (
    Received,
    TcpClient,
    UdpClient,
    bounded,
    options,
    transports,
    until,
)

V6 = "::1"
CONFIG = """
[sip]
listen = "[::1]:5060"
domain = "pbx.example"
"""
REALM = "pbx.example"


def _has_ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as probe:
            probe.bind((V6, 0))
    except OSError:
        return False
    return True


# Not a skip: without ::1 this suite cannot say anything about IPv6, and must say so.
assert _has_ipv6_loopback(), "IPv6 is disabled on this machine (no ::1 on lo)"


class Switch:
    """What ``telephony.port.Softswitch`` does, minus the actors: transports <-> stack."""

    def __init__(self) -> None:
        config = parse_config(CONFIG, source=Path("test.toml"))
        assert config.sip.listen.host == V6
        digest = DigestServer(realm=REALM, secret=b"k" * 32)
        registrar = Registrar(digest=digest, passwords={"1001": "secret"}, keepalive_s=30.0)
        self.stack: SipStack | None = None
        self.config, self.digest, self.registrar = config, digest, registrar
        self.transports = Transports(on_datagram=self.datagram, on_item=self.item)
        self.targets: list[Target] = []  # where the stack sent anything

    async def listen(self) -> int:
        _, port = await self.transports.listen_udp(V6, 0)
        await self.transports.listen_stream(V6, port)
        # as service.local_sip gives it: the configured host, bare
        self.stack = SipStack(config=self.config, registrar=self.registrar, digest=self.digest,
                              log=structlog.get_logger(), advertised=(V6, port))
        return port

    @property
    def now(self) -> float:
        return asyncio.get_running_loop().time()

    def datagram(self, data: bytes, source: Target) -> None:
        assert self.stack is not None
        self.perform(self.stack.datagram(data, source, self.now))

    def item(self, item: StreamItem, source: Target) -> None:
        assert self.stack is not None
        if isinstance(item, SipParseError):
            self.perform(self.stack.parse_error(item, source))
        elif isinstance(item, Request | Response):
            self.perform(self.stack.message(item, source, self.now))

    def perform(self, actions: list[Action]) -> None:
        for action in actions:
            if isinstance(action, Transmit):
                self.targets.append(action.target)
                self.transports.send(action.data, action.target)


@pytest.fixture
async def switch() -> Any:
    s = Switch()
    s.port = await s.listen()  # type: ignore[attr-defined]
    yield s
    s.transports.close()


def register(*, transport: str, client_port: int, server_port: int, cseq: int,
             authorization: str | None = None) -> bytes:
    uri = f"sip:[::1]:{server_port}"
    lines = [
        f"REGISTER {uri} SIP/2.0",
        f"Via: SIP/2.0/{transport} [::1]:{client_port};branch=z9hG4bKreg{cseq};rport",
        "Max-Forwards: 70", "From: <sip:1001@pbx.example>;tag=r1", "To: <sip:1001@pbx.example>",
        f"Call-ID: reg-{transport}@[::1]", f"CSeq: {cseq} REGISTER",
        f"Contact: <sip:1001@[::1]:{client_port};transport={transport.lower()}>",
        "Expires: 600",
    ]
    if authorization:
        lines.append(f"Authorization: {authorization}")
    return "\r\n".join([*lines, "Content-Length: 0", "", ""]).encode()


def authorize(challenge: Response, server_port: int) -> str:
    value = challenge.headers.get("WWW-Authenticate")
    assert value is not None
    return build_authorization(parse_challenge(value), method="REGISTER",
                               uri=f"sip:[::1]:{server_port}", username="1001",
                               password="secret")


async def test_options_over_udp_to_an_ipv6_listener_is_answered_at_its_source(
        switch: Any) -> None:
    client = await UdpClient.open(V6)
    try:
        # the Via names another port: the answer follows the packet (rport), not the Via
        client.send(options(transport="UDP", host=V6, port=5099, branch="z9hG4bKo6",
                            target=f"sip:[::1]:{switch.port}"), V6, switch.port)
        response = await client.message()
        assert isinstance(response, Response) and response.status == 200
        via = response.top_via
        assert via.host == "[::1]" and via.rport == client.port
        assert via.params.get("received") == "::1"  # bare, as RFC 3261's grammar has it
        assert "REGISTER" in (response.headers.get("Allow") or "")
        assert response.headers.get("Accept") and response.headers.get("Supported") is not None
    finally:
        client.close()


async def test_options_over_tcp_to_an_ipv6_listener_is_answered_on_its_connection(
        switch: Any) -> None:
    client = await TcpClient.open(V6, switch.port)
    try:
        client.send(b"\r\n\r\n")  # an RFC 5626 ping first
        assert await bounded(client.reader.readexactly(2)) == b"\r\n"
        client.send(options(transport="TCP", host=V6, port=5099, branch="z9hG4bKt6",
                            target=f"sip:[::1]:{switch.port}"))
        response = await client.message()
        assert isinstance(response, Response) and response.status == 200
        assert response.headers.get("Allow") and response.top_via.host == "[::1]"
    finally:
        client.close()


@pytest.mark.parametrize("transport", ["UDP", "TCP"])
async def test_a_phone_registers_over_ipv6_and_is_pinged_with_a_bracketed_via(
        switch: Any, transport: str) -> None:
    client: UdpClient | TcpClient
    if transport == "UDP":
        client = await UdpClient.open(V6)
    else:
        client = await TcpClient.open(V6, switch.port)

    def send(data: bytes) -> None:
        if isinstance(client, UdpClient):
            client.send(data, V6, switch.port)
        else:
            client.send(data)

    try:
        send(register(transport=transport, client_port=client.port, server_port=switch.port,
                      cseq=1))
        challenge = await client.message()
        assert isinstance(challenge, Response) and challenge.status == 401
        send(register(transport=transport, client_port=client.port, server_port=switch.port,
                      cseq=2, authorization=authorize(challenge, switch.port)))
        ok = await client.message()
        assert isinstance(ok, Response) and ok.status == 200, ok
        assert f"[::1]:{client.port}" in (ok.headers.get("Contact") or "")
        # the keep-alive ping 30 s later reaches the phone at its IPv6 address, over the
        # connection it registered on when that is TCP
        switch.perform(switch.stack.handle_timer(switch.now + 31.0))
        ping = await client.message()
        assert isinstance(ping, Request) and ping.method == "OPTIONS"
        assert ping.top_via.transport == transport
        assert ping.top_via.sent_by == f"[::1]:{switch.port}"
        assert str(ping.uri) == f"sip:1001@[::1]:{client.port};transport={transport.lower()}"
        if transport == "TCP":
            assert len({id(c) for c in switch.transports.connections.values()}) == 1
    finally:
        client.close()


async def test_a_dual_stack_listener_reports_ipv4_peers_as_ipv4() -> None:
    received = Received()
    t = transports(received)
    _, port = await t.listen_udp("::", 0)
    _, tcp_port = await t.listen_stream("::", 0)
    v4 = await UdpClient.open("127.0.0.1")
    v6 = await UdpClient.open(V6)
    tcp4 = await TcpClient.open("127.0.0.1", tcp_port)
    try:
        v4.send(options(transport="UDP", host="127.0.0.1", port=v4.port, branch="z9hG4bK4"),
                "127.0.0.1", port)
        v6.send(options(transport="UDP", host=V6, port=v6.port, branch="z9hG4bK6"), V6, port)
        tcp4.send(options(transport="TCP", host="127.0.0.1", port=5060, branch="z9hG4bKc"))
        await until(lambda: len(received.datagrams) == 2 and len(received.items) == 1)
        sources = {source.host: source for _, source in received.datagrams}
        assert set(sources) == {"127.0.0.1", V6}
        assert received.items[0][1] == Target(transport="TCP", host="127.0.0.1",
                                              port=tcp4.port)
        # answers to the IPv4 peer leave the IPv6 socket in the mapped form and arrive
        reply = serialize(Response(status=200, reason="OK", headers=(await_request(
            received.datagrams[0][0])).headers))
        for source in sources.values():
            t.send(reply, source)
        assert (await v4.message()).status == 200  # type: ignore[union-attr]
        assert (await v6.message()).status == 200  # type: ignore[union-attr]
        t.send(reply, received.items[0][1])
        assert (await tcp4.message()).status == 200  # type: ignore[union-attr]
    finally:
        for client in (v4, v6, tcp4):
            client.close()
        t.close()


def await_request(data: bytes) -> Request:
    from sip.parser import parse_datagram

    message = parse_datagram(data)
    assert isinstance(message, Request)
    return message


# RFC 5118 §4: all valid but ipv6-bad (§4.2, an unbracketed IPv6 Request-URI) and, as
# archived, ipv6-in-sdp (its Content-Length exceeds its body: tests/sip/test_torture.py).
RFC5118_REJECTED = {"ipv6-bad", "ipv6-in-sdp"}
PARSE_FAILURES = {400, 505, 513}


async def test_every_rfc5118_vector_over_ipv6_is_answered_at_its_source() -> None:
    """Each vector from its own ::1 socket to a fresh stack (several share a branch and
    sent-by, so one stack would take them for retransmissions). Their Vias, Contacts and
    SDP name 2001:db8:: addresses: nothing may ever be sent there, only back to ::1."""
    names = sorted(p.name for p in (TORTURE / "rfc5118").iterdir())
    assert len(names) == 12
    finals: dict[str, int] = {}
    for name in names:
        data = (TORTURE / "rfc5118" / name).read_bytes().replace(b"\n", b"\r\n")
        switch = Switch()
        port = await switch.listen()
        client = await UdpClient.open(V6)
        try:
            client.send(data, V6, port)
            while True:
                answer = await client.message()
                assert isinstance(answer, Response)
                if answer.status >= 200:
                    break
            finals[name] = answer.status
            if name == "ipv6-bad":
                warning = answer.headers.get("Warning") or ""
                assert "enclosed in brackets" in warning, warning
            assert {t.host for t in switch.targets} == {V6}, (name, switch.targets)
            assert {t.port for t in switch.targets} == {client.port}
        finally:
            client.close()
            switch.transports.close()
    problems = {n: s for n, s in finals.items()
                if (s in PARSE_FAILURES) != (n in RFC5118_REJECTED)
                or (n in RFC5118_REJECTED and s != 400)}
    assert not problems, problems


def test_mapped_addresses_read_as_ipv4() -> None:
    assert plain_host("::ffff:192.0.2.1") == "192.0.2.1"
    assert plain_host("::ffff:c000:201") == "::ffff:c000:201"  # not what sockets report
    assert plain_host("2001:db8::1") == "2001:db8::1" and plain_host("::1") == "::1"
