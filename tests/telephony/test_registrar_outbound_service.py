"""SIP outbound and the ``[sip]`` connection limits in the running telephony service, over
real TCP on loopback: a phone registers a flow over its connection, a carrier's call to its
agent rings over that connection (not at the Contact's unreachable address), and once the
connection closes the binding is gone (the next call gets 480). The service runs with
``tcp_max_connections_per_source = 4``, which its transports must honour."""

from __future__ import annotations

import shutil
import socket
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from psycopg_pool import ConnectionPool

from sip.builders import make_response
from sip.digest import build_authorization, parse_challenge
from sip.message import Request, Response
from sip.parser import StreamFramer
from sip.serializer import serialize
from telephony.bindings import BindingStore
from telephony.messages import Peer
from telephony.registrar import FLOW_TIMER_S, Binding, BindingsChanged
from tests.telephony.conftest import Running
from tests.telephony.harness import (
    CARRIER_IP,
    PASSWORDS,
    PHONE_IP,
    Ports,
    Service,
    config_text,
    free_port,
    receive_all,
    status_of,
    udp_client,
)

MAX_PER_SOURCE = 4
INSTANCE = "<urn:uuid:f81d4fae-7dec-11d0-a765-00a0c91e6bf6>"
UNREACHABLE_CONTACT = "sip:1001@192.0.2.1:5999;transport=tcp;ob"  # TEST-NET-1: no one there


@pytest.fixture(scope="module")
def service(module_db: str) -> Iterator[Running]:
    data_dir = Path(tempfile.mkdtemp(prefix="contactor-ob-"))
    ports = Ports(sip=free_port(), far_end=free_port(CARRIER_IP))
    text = config_text(module_db, ports).replace(
        'domain = "127.0.0.1"\n',
        f'domain = "127.0.0.1"\ntcp_max_connections_per_source = {MAX_PER_SOURCE}\n'
        "tcp_idle_timeout_s = 600\n", 1)
    assert "tcp_max_connections_per_source" in text
    config_path = data_dir / "contactor.toml"
    config_path.write_text(text, encoding="utf-8")
    started = Service(config_path, data_dir, media="relay", keepalive_s=600.0)
    started.start()
    try:
        yield Running(service=started, ports=ports, db_url=module_db, data_dir=data_dir,
                      config_path=config_path)
    finally:
        started.stop()
        shutil.rmtree(data_dir, ignore_errors=True)


class Phone:
    """A phone on one TCP connection: sends, reads whole messages (blocking, bounded)."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=5.0)
        self.framer = StreamFramer()
        self.pending: list[Request | Response] = []

    @property
    def local(self) -> tuple[str, int]:
        host, port = self.sock.getsockname()[:2]
        return host, port

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def message(self, timeout: float = 5.0) -> Request | Response:
        deadline = time.monotonic() + timeout
        while not self.pending:
            self.sock.settimeout(max(0.01, deadline - time.monotonic()))
            data = self.sock.recv(65536)
            if not data:
                raise ConnectionError("closed by the service")
            for item in self.framer.feed(data):
                assert isinstance(item, Request | Response), item
                self.pending.append(item)
        return self.pending.pop(0)

    def close(self) -> None:
        self.sock.close()


def register(phone: Phone, cseq: int, auth: str | None = None) -> bytes:
    host, port = phone.local
    lines = [
        "REGISTER sip:127.0.0.1 SIP/2.0",
        f"Via: SIP/2.0/TCP {host}:{port};branch=z9hG4bKob{cseq};rport",
        "Max-Forwards: 70", "From: <sip:1001@127.0.0.1>;tag=ob1", "To: <sip:1001@127.0.0.1>",
        "Call-ID: outbound-reg-1", f"CSeq: {cseq} REGISTER", "Supported: path, outbound",
        f'Contact: <{UNREACHABLE_CONTACT}>;+sip.instance="{INSTANCE}";reg-id=1',
        "Expires: 600",
    ]
    if auth:
        lines.append(f"Authorization: {auth}")
    return "\r\n".join([*lines, "Content-Length: 0", "", ""]).encode()


def invite(service_port: int, caller_port: int, n: int) -> bytes:
    sdp = (f"v=0\r\no=caller 1 1 IN IP4 {CARRIER_IP}\r\ns=-\r\nc=IN IP4 {CARRIER_IP}\r\n"
           "t=0 0\r\nm=audio 40000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n")
    return (
        f"INVITE sip:5000@127.0.0.1:{service_port} SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP {CARRIER_IP}:{caller_port};branch=z9hG4bKcall{n}\r\n"
        "Max-Forwards: 70\r\n"
        f"From: <sip:0140000001@{CARRIER_IP}>;tag=car{n}\r\n"
        f"To: <sip:5000@127.0.0.1:{service_port}>\r\n"
        f"Call-ID: outbound-call-{n}\r\nCSeq: 1 INVITE\r\n"
        f"Contact: <sip:caller@{CARRIER_IP}:{caller_port}>\r\n"
        f"Content-Type: application/sdp\r\nContent-Length: {len(sdp)}\r\n\r\n{sdp}"
    ).encode()


def ack(response: bytes, service_port: int, caller_port: int, n: int) -> bytes:
    to = next(line for line in response.decode().split("\r\n") if line.startswith("To:"))
    return (
        f"ACK sip:5000@127.0.0.1:{service_port} SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP {CARRIER_IP}:{caller_port};branch=z9hG4bKcall{n}\r\n"
        f"Max-Forwards: 70\r\nFrom: <sip:0140000001@{CARRIER_IP}>;tag=car{n}\r\n{to}\r\n"
        f"Call-ID: outbound-call-{n}\r\nCSeq: 1 ACK\r\nContent-Length: 0\r\n\r\n"
    ).encode()


def wait_for_bindings(service: Running, count: int, timeout: float = 5.0) -> None:
    """Until the service's stats (refreshed every 0.5 s) show ``count`` bindings."""
    deadline = time.monotonic() + timeout
    while service.service.stats.get("bindings") != count:
        assert time.monotonic() < deadline, f"bindings: {service.service.stats.get('bindings')}"
        time.sleep(0.05)


def final_status(sock: socket.socket, window: float = 6.0) -> bytes:
    deadline = time.monotonic() + window
    while time.monotonic() < deadline:
        for data in receive_all(sock, 0.1):
            if status_of(data) >= 200:
                return data
    raise AssertionError("no final response to the carrier's INVITE")


def test_a_flow_rings_over_its_connection_and_ends_with_it(service: Running) -> None:
    sip_port = service.ports.sip
    phone = Phone(sip_port)
    try:
        phone.send(register(phone, 1))
        challenge = phone.message()
        assert isinstance(challenge, Response) and challenge.status == 401
        auth = build_authorization(
            parse_challenge(challenge.headers.get("WWW-Authenticate") or ""),
            method="REGISTER", uri="sip:127.0.0.1", username="1001",
            password=PASSWORDS["1001"])
        phone.send(register(phone, 2, auth))
        ok = phone.message()
        assert isinstance(ok, Response) and ok.status == 200, ok
        assert ok.headers.get("Require") == "outbound"
        assert ok.headers.get("Flow-Timer") == str(FLOW_TIMER_S)
        assert "reg-id=1" in (ok.headers.get("Contact") or "")
        wait_for_bindings(service, 1)

        with udp_client(CARRIER_IP) as carrier:
            caller_port = carrier.getsockname()[1]
            carrier.sendto(invite(sip_port, caller_port, 1), ("127.0.0.1", sip_port))
            ringing = phone.message(timeout=8.0)  # over the flow, not to 192.0.2.1:5999
            assert isinstance(ringing, Request) and ringing.method == "INVITE"
            assert str(ringing.uri) == UNREACHABLE_CONTACT
            phone.send(serialize(make_response(ringing, 486, to_tag="busy1")))
            acked = phone.message()
            assert isinstance(acked, Request) and acked.method == "ACK"
            answer = final_status(carrier)
            carrier.sendto(ack(answer, sip_port, caller_port, 1), ("127.0.0.1", sip_port))

            phone.close()  # the flow ends: its binding must go with it
            wait_for_bindings(service, 0)
            carrier.sendto(invite(sip_port, caller_port, 2), ("127.0.0.1", sip_port))
            refused = final_status(carrier)
            assert status_of(refused) == 480
            carrier.sendto(ack(refused, sip_port, caller_port, 2), ("127.0.0.1", sip_port))
    finally:
        phone.close()


def test_the_configured_per_source_limit_refuses_the_next_connection(
        service: Running) -> None:
    phones = [Phone(service.ports.sip) for _ in range(MAX_PER_SOURCE + 1)]
    try:
        answers = []
        for phone in phones:
            phone.send(b"\r\n\r\n")  # RFC 5626 ping: an admitted connection pongs
            try:
                phone.sock.settimeout(3.0)
                answers.append(phone.sock.recv(16))
            except ConnectionResetError:
                answers.append(b"")
        assert answers == [b"\r\n"] * MAX_PER_SOURCE + [b""]
    finally:
        for phone in phones:
            phone.close()


def test_flows_are_not_written_to_the_store(module_db: str) -> None:
    def binding(contact: str, reg_id: int) -> Binding:
        return Binding(aor="sip:1009@127.0.0.1", contact=contact, expires_at=2e9,
                       call_id="c", cseq=1, peer=Peer(transport="TCP", host=PHONE_IP,
                                                       port=40000 + reg_id),
                       registered_at=1e9, instance=INSTANCE if reg_id else "",
                       reg_id=reg_id)

    with ConnectionPool(module_db, min_size=1, max_size=1, open=True) as pool:
        store = BindingStore(pool)
        plain = binding("sip:1009@127.0.0.1:5070", 0)
        store.save(BindingsChanged(aor=plain.aor, bindings=(
            plain, binding(UNREACHABLE_CONTACT, 1))), 0.0)
        assert store.load(0.0, 1.5e9) == [plain]
