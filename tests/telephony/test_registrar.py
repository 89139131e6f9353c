"""The registrar, sans-IO: digest, bindings, expiry, keepalive scheduling, NAT contacts."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from sip.digest import DigestServer, build_authorization, parse_challenge
from sip.message import Request, Response
from sip.parser import parse_datagram
from sip.transaction import Target
from sip.uri import parse_sip_uri
from telephony.messages import Peer
from telephony.registrar import Registrar, aor_key, contact_peer

PHONE = Target(transport="UDP", host="192.0.2.21", port=5062)


def registrar(**kw: float) -> Registrar:
    digest = DigestServer(realm="pbx", secret=b"s" * 32, algorithms=("MD5", "SHA-256"))
    return Registrar(digest=digest, passwords={"1001": "secret", "1002": "other"}, **kw)  # type: ignore[arg-type]


def register_request(*, user: str = "1001", contact: str = "<sip:1001@192.0.2.21:5062>",
                     expires: int | None = 300, cseq: int = 1, call_id: str = "reg1",
                     auth: str | None = None) -> Request:
    lines = [
        "REGISTER sip:pbx SIP/2.0", "Via: SIP/2.0/UDP 192.0.2.21:5062;branch=z9hG4bKr1",
        f"From: <sip:{user}@pbx>;tag=f1", f"To: <sip:{user}@pbx>", f"Call-ID: {call_id}",
        f"CSeq: {cseq} REGISTER", f"Contact: {contact}",
    ]
    if expires is not None:
        lines.append(f"Expires: {expires}")
    if auth:
        lines.append(f"Authorization: {auth}")
    message = parse_datagram(("\r\n".join([*lines, "Content-Length: 0", "", ""])).encode())
    assert isinstance(message, Request)
    return message


def authorized(reg: Registrar, *, password: str = "secret", user: str = "1001",
               now: float = 1000.0, **kw: object) -> tuple[Response, list[object]]:
    first, _ = reg.register(register_request(user=user, **kw), PHONE, now,  # type: ignore[arg-type]
                            to_tag="t")
    assert first.status == 401
    challenge = parse_challenge(first.headers.get("WWW-Authenticate") or "")
    assert challenge.algorithm == "MD5"  # offered first: what most phones understand
    auth = build_authorization(challenge, method="REGISTER", uri="sip:pbx", username=user,
                               password=password)
    response, changes = reg.register(register_request(user=user, auth=auth, **kw),  # type: ignore[arg-type]
                                     PHONE, now, to_tag="t")
    return response, list(changes)


def test_a_phone_registers_with_digest_and_can_be_located() -> None:
    reg = registrar()
    response, changes = authorized(reg)
    assert response.status == 200 and response.to.tag == "t"
    assert response.headers.get("Contact") == "<sip:1001@192.0.2.21:5062>;expires=300"
    assert len(changes) == 1
    found = reg.locate("sip:1001@PBX", 1001.0)
    assert [b.contact for b in found] == ["sip:1001@192.0.2.21:5062"]
    assert found[0].peer == Peer(transport="UDP", host="192.0.2.21", port=5062)


def test_a_wrong_password_is_forbidden_and_binds_nothing() -> None:
    reg = registrar()
    response, changes = authorized(reg, password="guess")
    assert response.status == 403 and changes == []
    assert reg.locate("sip:1001@pbx", 1001.0) == []


def test_one_cannot_register_someone_elses_address() -> None:
    reg = registrar()
    first, _ = reg.register(register_request(user="1002"), PHONE, 1000.0, to_tag="t")
    challenge = parse_challenge(first.headers.get("WWW-Authenticate") or "")
    auth = build_authorization(challenge, method="REGISTER", uri="sip:pbx", username="1001",
                               password="secret")
    response, _ = reg.register(register_request(user="1002", auth=auth), PHONE, 1000.0,
                               to_tag="t")
    assert response.status == 403


def test_too_brief_an_interval_is_423_with_min_expires() -> None:
    reg = registrar()
    response, _ = authorized(reg, expires=10)
    assert response.status == 423 and response.headers.get("Min-Expires") == "60"


def test_several_contacts_best_first_and_removal_with_expires_zero() -> None:
    reg = registrar()
    authorized(reg, contact="<sip:1001@192.0.2.21:5062>;q=0.5", call_id="a")
    authorized(reg, contact="<sip:1001@192.0.2.31:5070>", call_id="b", now=1001.0)
    order = [b.contact for b in reg.locate("sip:1001@pbx", 1002.0)]
    assert order == ["sip:1001@192.0.2.31:5070", "sip:1001@192.0.2.21:5062"]
    response, changes = authorized(reg, contact="<sip:1001@192.0.2.31:5070>;expires=0",
                                   call_id="b", cseq=2, now=1003.0)
    assert response.status == 200 and len(changes) == 1
    assert [b.contact for b in reg.locate("sip:1001@pbx", 1004.0)] == [
        "sip:1001@192.0.2.21:5062"]


def test_a_replayed_cseq_is_refused() -> None:
    reg = registrar()
    authorized(reg, cseq=5)
    response, _ = authorized(reg, cseq=5)
    assert response.status == 400


def test_wildcard_unregisters_everything() -> None:
    reg = registrar()
    authorized(reg)
    response, changes = authorized(reg, contact="*", expires=0, call_id="w")
    assert response.status == 200 and reg.locate("sip:1001@pbx", 1001.0) == []
    assert changes and not changes[0].bindings  # type: ignore[attr-defined]


def test_bindings_expire_and_are_pinged_on_schedule() -> None:
    reg = registrar(keepalive_s=30.0)
    authorized(reg, expires=100)
    assert reg.next_timer() == 1030.0
    assert [b.contact for b in reg.due_pings(1030.0)] == ["sip:1001@192.0.2.21:5062"]
    assert reg.due_pings(1031.0) == []
    assert reg.expire(1099.0) == []
    gone = reg.expire(1100.0)
    assert len(gone) == 1 and gone[0].bindings == () and len(reg) == 0


def test_a_contact_behind_nat_is_reached_at_the_address_it_came_from() -> None:
    natted = Target(transport="UDP", host="93.184.216.9", port=40000)
    assert contact_peer(parse_sip_uri("sip:1001@192.168.1.20:5060"), natted) == Peer(
        transport="UDP", host="93.184.216.9", port=40000)
    assert contact_peer(parse_sip_uri("sip:1001@93.184.216.34"), natted) == Peer(
        transport="UDP", host="93.184.216.34", port=5060)


@settings(max_examples=100, deadline=None)
@given(user=st.from_regex(r"[0-9]{3,6}", fullmatch=True),
       host=st.sampled_from(["pbx", "PBX", "Pbx.example"]),
       port=st.integers(1, 65535), transport=st.sampled_from(["udp", "tcp"]))
def test_an_aor_ignores_port_params_and_host_case(user: str, host: str, port: int,
                                                  transport: str) -> None:
    key = aor_key(f"sip:{user}@{host}:{port};transport={transport}")
    assert key == f"sip:{user}@{host.lower()}"
