"""RFC 3261 §18.2.2 on loopback: a response whose request came over a TCP connection that
has closed since goes over a new connection to the request's source address, at the port
its top Via's sent-by names (not the closed connection's port, nor an rport)."""

from __future__ import annotations

import asyncio

import pytest

from sip.builders import make_response
from sip.message import Request, Response
from sip.parser import StreamFramer
from sip.serializer import serialize
from sip.transaction import Target
from telephony.transport import reopen_key
from tests.telephony.transport_support import (
    Received,
    RecordingLog,
    TcpClient,
    bounded,
    options,
    transports,
    until,
)

LOOPBACK = "127.0.0.1"


def invite(*, via_port: int, branch: str) -> bytes:
    lines = [
        "INVITE sip:5000@127.0.0.1 SIP/2.0",
        f"Via: SIP/2.0/TCP {LOOPBACK}:{via_port};branch={branch};rport",
        "Max-Forwards: 70", "From: <sip:1001@127.0.0.1>;tag=c1", "To: <sip:5000@127.0.0.1>",
        "Call-ID: reopen-1", "CSeq: 1 INVITE", f"Contact: <sip:1001@{LOOPBACK}:{via_port};"
        "transport=tcp>", "Content-Length: 0", "", "",
    ]
    return "\r\n".join(lines).encode()


class Listener:
    """The client's own SIP port (its Via sent-by): collects what connects to it."""

    def __init__(self) -> None:
        self.messages: asyncio.Queue[Request | Response] = asyncio.Queue()
        self.accepted = 0
        self.server: asyncio.Server | None = None

    async def start(self) -> int:
        self.server = await asyncio.start_server(self._serve, LOOPBACK, 0)
        port: int = self.server.sockets[0].getsockname()[1]
        return port

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        framer = StreamFramer()
        while data := await reader.read(65536):
            for item in framer.feed(data):
                assert isinstance(item, Request | Response), item
                self.messages.put_nowait(item)
        writer.close()

    def close(self) -> None:
        if self.server is not None:
            self.server.close()


def annotated(request: Request, source: Target) -> Request:
    """The request as the transaction layer keeps it: received and rport filled in."""
    via = request.top_via.with_param("received", source.host)
    return request.with_top_via(via.with_param("rport", str(source.port)))


@pytest.mark.parametrize("method", ["OPTIONS", "INVITE"])
async def test_a_response_after_the_client_closed_goes_to_its_via_port(method: str) -> None:
    received = Received()
    closed: list[Target] = []
    t = transports(received, on_closed=closed.append)
    _, port = await t.listen_stream(LOOPBACK, 0)
    listener = Listener()
    via_port = await listener.start()
    client = await TcpClient.open(LOOPBACK, port)
    try:
        data = (invite(via_port=via_port, branch="z9hG4bKi") if method == "INVITE" else
                options(transport="TCP", host=LOOPBACK, port=via_port, branch="z9hG4bKo"))
        client.send(data)
        await until(lambda: bool(received.items))
        client.close()
        await until(lambda: bool(closed))
        (request, source), = received.items
        assert isinstance(request, Request) and request.method == method
        assert closed == [source] and source.port != via_port
        answers = [180, 200] if method == "INVITE" else [200]
        for status in answers:
            response = make_response(annotated(request, source), status, to_tag="srv")
            t.send(serialize(response), source)
        for status in answers:
            got = await bounded(listener.messages.get())
            assert isinstance(got, Response) and got.status == status
            assert got.call_id == request.call_id and got.top_via.branch == request.top_via.branch
        assert listener.accepted == 1  # the second response took the connection just opened
        assert t.reopened == len(answers)
    finally:
        client.close()
        listener.close()
        t.close()


async def test_requests_still_open_a_connection_to_their_target_as_named() -> None:
    """Only responses are redirected to their Via: a request to a closed peer's address
    reconnects to that very address."""
    listener = Listener()
    port = await listener.start()
    t = transports(Received())
    try:
        ping = options(transport="TCP", host=LOOPBACK, port=1, branch="z9hG4bKq")
        t.send(ping, Target(transport="TCP", host=LOOPBACK, port=port))
        got = await bounded(listener.messages.get())
        assert isinstance(got, Request) and got.top_via.port == 1
        assert t.reopened == 0
    finally:
        listener.close()
        t.close()


async def test_an_unparsable_response_without_its_connection_is_dropped_and_logged() -> None:
    log = RecordingLog()
    t = transports(Received(), log=log)
    try:
        t.send(b"SIP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n",
               Target(transport="TCP", host=LOOPBACK, port=9))
        (record,) = log.events("sip.response_dropped")
        assert record["peer"] == f"{LOOPBACK}:9" and "Via" in record["error"]
        assert t.errors == 1 and not t.connections and not t._connecting
    finally:
        t.close()


@pytest.mark.parametrize(("via", "transport", "key"), [
    ("SIP/2.0/TCP 192.0.2.7:5070;branch=z9hG4bKa;rport=40001;received=192.0.2.9", "TCP",
     ("TCP", "192.0.2.9", 5070)),
    ("SIP/2.0/TCP phone.example;branch=z9hG4bKa", "TCP", ("TCP", "192.0.2.9", 5060)),
    ("SIP/2.0/TLS phone.example;branch=z9hG4bKa;rport", "TLS", ("TLS", "192.0.2.9", 5061)),
    ("SIP/2.0/TCP [2001:db8::7]:5072;branch=z9hG4bKa", "TCP", ("TCP", "192.0.2.9", 5072)),
])
def test_the_reopened_connection_goes_to_the_source_at_the_sent_by_port(
        via: str, transport: str, key: tuple[str, str, int]) -> None:
    response = (f"SIP/2.0 200 OK\r\nVia: {via}\r\nFrom: <sip:a@x>;tag=1\r\nTo: <sip:b@x>\r\n"
                "Call-ID: k\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n").encode()
    assert reopen_key(response, transport, "192.0.2.9") == key
