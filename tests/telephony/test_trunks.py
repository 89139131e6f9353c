"""Trunks in the SIP stack without sockets: registrations sent through client transactions,
their answers and timeouts routed back, calls of a registered provider routed by To, and
the ACK of a challenged INVITE's 2xx carrying the INVITE's credentials."""

from __future__ import annotations

from pathlib import Path

import structlog

from conf.load import parse_config
from conf.schema import TrunkConfig
from sip.builders import make_response
from sip.digest import DigestServer, compute_ha1
from sip.message import Request, Response
from sip.parser import parse_datagram
from sip.serializer import serialize
from sip.transaction import Target
from telephony.messages import InviteReceived, Peer, SendRequest
from telephony.registrar import Registrar
from telephony.stack import Deliver, SipStack, Transmit
from telephony.trunks import InviteCredentials, TrunkRegistrations, spec_for_trunk
from tests.actors.call.support import request_text

PROVIDER = Target(transport="UDP", host="127.0.0.3", port=5080)
CALL = "00000000000000b2"
CONFIG = f"""
[sip]
listen = "127.0.0.1:5060"
domain = "127.0.0.1"
t1 = 0.5
[[trunk]]
name = "carrier"
host = "192.0.2.10"
[[trunk]]
name = "provider"
host = "{PROVIDER.host}"
port = {PROVIDER.port}
register = true
username = "contactor"
password = "s3cret"
expires = 300
country_code = "33"
[[route]]
match = "+33140000000"
target = "agent:anna"
[[agent]]
login = "anna"
name = "Anna"
password = "a"
extension = "1001"
"""
PROVIDER_AUTH = DigestServer(realm="provider.example", secret=b"q" * 32, algorithms=("MD5",))


def stack() -> SipStack:
    config = parse_config(CONFIG, source=Path("test.toml"))
    digest = DigestServer(realm="127.0.0.1", secret=b"k" * 32)
    registrar = Registrar(digest=digest, passwords={"1001": "a"}, keepalive_s=30.0)
    return SipStack(config=config, registrar=registrar, digest=digest,
                    log=structlog.get_logger(), advertised=("127.0.0.1", 5060),
                    call_ids=lambda: CALL)


def transmitted(actions: list[object]) -> list[tuple[Request | Response, Target]]:
    return [(parse_datagram(a.data), a.target) for a in actions if isinstance(a, Transmit)]


def only_request(actions: list[object]) -> Request:
    (sent,) = transmitted(actions)
    request, target = sent
    assert isinstance(request, Request) and target == PROVIDER
    return request


def provider_says(s: SipStack, request: Request, status: int, now: float,
                  headers: list[tuple[str, str]] | None = None) -> list[object]:
    response = make_response(request, status, to_tag="p", headers=headers or [])
    return list(s.datagram(serialize(response), PROVIDER, now))


def ha1(user: str, realm: str, algorithm: str) -> str | None:
    return compute_ha1(user, realm, "s3cret", algorithm) if user == "contactor" else None


def test_the_spec_of_a_trunk_names_our_listen_address_and_its_domain() -> None:
    trunk = TrunkConfig(name="t", host="192.0.2.5", port=5070, transport="tcp",
                        username="acct", password="pw", register=True, expires=900)
    spec = spec_for_trunk(trunk, host="198.51.100.1", port=5060)
    assert spec.aor == "sip:acct@192.0.2.5" and spec.registrar == "sip:192.0.2.5:5070;transport=tcp"
    assert spec.contact == "sip:acct@198.51.100.1:5060;transport=tcp"
    assert spec.target == Target(transport="TCP", host="192.0.2.5", port=5070)
    assert spec.expires == 900
    named = TrunkConfig(name="t", host="192.0.2.5", username="acct", password="pw",
                        register=True, domain="voip.example")
    spec = spec_for_trunk(named, host="198.51.100.1", port=5060)
    assert spec.aor == "sip:acct@voip.example" and spec.registrar == "sip:voip.example"


def test_only_trunks_that_register_get_a_machine() -> None:
    s = stack()
    assert list(s.trunks.machines) == ["provider"]
    assert s.next_timer() is None  # nothing happens until the service starts them


def test_the_stack_registers_answers_the_challenge_and_shows_the_binding() -> None:
    s = stack()
    first = only_request(s.start_trunks(1.0))
    assert first.method == "REGISTER" and first.headers.get("Expires") == "300"
    assert s.next_timer() == 1.0 + 0.5  # Timer E: the REGISTER is retransmitted over UDP
    verdict = PROVIDER_AUTH.verify(first, now=1.0, ha1_lookup=ha1)
    second = only_request(provider_says(s, first, 401, 1.1, list(verdict.headers)))
    assert PROVIDER_AUTH.verify(second, now=1.1, ha1_lookup=ha1).ok
    actions = provider_says(s, second, 200, 1.2, [("Contact", f"{second.headers.get('Contact')}"
                                                              ";expires=240")])
    assert transmitted(actions) == [] and not any(isinstance(a, Deliver) for a in actions)
    stats = s.trunks.stats(2.2)["provider"]
    assert stats["state"] == "registered" and stats["expires_in"] == 239.0
    assert stats["registrar"] == "127.0.0.3:5080"
    # the refresh comes at 75 % of 240 s, answered in advance
    refresh = only_request(s.handle_timer(1.2 + 180.0))
    assert refresh.call_id == first.call_id and refresh.cseq.seq == 3
    assert PROVIDER_AUTH.verify(refresh, now=181.2, ha1_lookup=ha1).ok


def test_a_provider_that_never_answers_makes_the_trunk_fail_and_retry() -> None:
    s = stack()
    only_request(s.start_trunks(0.0))
    now, retransmits = 0.0, 0
    while s.trunks.stats(now)["provider"]["state"] == "registering":
        due = s.next_timer()
        assert due is not None and due < 100
        now = due
        retransmits += len(transmitted(s.handle_timer(now)))
    stats = s.trunks.stats(now)["provider"]
    assert stats["state"] == "failing" and stats["last_status"] == 408
    assert now == 32.0 and retransmits >= 5  # Timer F = 64*T1, and E kept resending
    assert stats["next_attempt_in"] == 2.0


def test_stop_unregisters_and_the_stack_reports_done() -> None:
    s = stack()
    first = only_request(s.start_trunks(0.0))
    provider_says(s, first, 200, 0.1)
    bye = only_request(s.stop_trunks(1.0))
    assert bye.headers.get("Expires") == "0" and not s.trunks.done
    provider_says(s, bye, 200, 1.1)
    assert s.trunks.done


def test_a_registered_providers_call_to_our_contact_is_routed_by_its_to() -> None:
    s = stack()
    invite = request_text("INVITE", call_id="in1", from_tag="f", uri="sip:contactor@127.0.0.1",
                          host=PROVIDER.host, body=b"v=0\r\n").replace(
        b"To: <sip:5000@127.0.0.1>", b"To: <sip:0140000000@provider.example>")
    actions = s.datagram(invite, Target(transport="UDP", host=PROVIDER.host, port=5080), 0.0)
    (call,) = [a.msg for a in actions if isinstance(a, Deliver)]
    assert isinstance(call, InviteReceived)
    assert call.source == "trunk:provider" and call.dialled == "+33140000000"
    assert call.route == "agent:anna"


def test_the_ack_of_a_challenged_invites_2xx_carries_its_credentials() -> None:
    s = stack()
    auth = 'Digest username="contactor", realm="r", nonce="n", uri="sip:x", response="0"'
    invite = request_text("INVITE", call_id=f"{CALL}.b@h", from_tag=f"{CALL}.b", cseq=2,
                          branch=f"z9hG4bK{CALL}.b.3", uri=f"sip:0612@{PROVIDER.host}:5080",
                          extra=[f"Proxy-Authorization: {auth}"])
    peer = Peer(transport="UDP", host=PROVIDER.host, port=PROVIDER.port)
    s.from_call(f"call/{CALL}", SendRequest(call_id=CALL, leg="b", request=invite, peer=peer),
                0.0)
    ack = request_text("ACK", call_id=f"{CALL}.b@h", from_tag=f"{CALL}.b", to_tag="far", cseq=2,
                       branch=f"z9hG4bK{CALL}.b.4", uri=f"sip:0612@{PROVIDER.host}:5080")
    acked = s.from_call(f"call/{CALL}", SendRequest(call_id=CALL, leg="b", request=ack,
                                                    peer=peer), 5.0)
    (sent_ack, _target) = transmitted(acked)[0]
    assert isinstance(sent_ack, Request) and sent_ack.method == "ACK"
    assert sent_ack.headers.get("Proxy-Authorization") == auth
    assert len(s.credentials) == 0  # used once: a retransmitted 2xx gets the cached ACK


def test_invite_credentials_expire() -> None:
    kept = InviteCredentials(ttl_s=10.0)
    invite = parse_datagram(request_text("INVITE", call_id="c", from_tag="f", cseq=2,
                                         extra=['Authorization: Digest username="u"']))
    plain = parse_datagram(request_text("INVITE", call_id="d", from_tag="f"))
    assert isinstance(invite, Request) and isinstance(plain, Request)
    kept.keep(invite, 0.0)
    kept.keep(plain, 0.0)
    assert len(kept) == 1 and kept.next_timer() == 10.0
    kept.expire(10.0)
    ack = parse_datagram(request_text("ACK", call_id="c", from_tag="f", cseq=2))
    assert isinstance(ack, Request)
    assert kept.apply(ack) is ack and kept.next_timer() is None


def test_a_tls_trunk_registers_a_contact_at_our_tls_listener() -> None:
    text = CONFIG.replace('username = "contactor"', 'transport = "tls"\nusername = "contactor"')
    config = parse_config(text, source=Path("t.toml"))
    regs = TrunkRegistrations.for_config(config, host="127.0.0.1", port=5060, tls_port=5061,
                                         call_id=lambda: "c", tag=lambda: "t")
    spec = regs.machines["provider"].spec
    assert spec.contact == "sip:contactor@127.0.0.1:5061;transport=tls"
    assert spec.local_port == 5061
