"""SIP outbound at the registrar (RFC 5626 §6, §7), sans-IO: flow bindings keyed by
(AOR, instance, reg-id), reached over the REGISTER's connection, Require/Flow-Timer in
the 200 OK, one flow per instance in lookups, and flows dropped when their connection ends."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from conf.schema import SipConfig
from sip.digest import DigestServer, build_authorization, parse_challenge
from sip.message import Request, Response
from sip.parser import parse_datagram
from sip.transaction import Target
from telephony.messages import Peer
from telephony.registrar import (
    FLOW_TIMER_S,
    UDP_FLOW_TIMER_S,
    BindingsChanged,
    Registrar,
    flow_timer_for,
)

INSTANCE = "<urn:uuid:00000000-0000-1000-8000-000a95a0e128>"
AOR = "sip:1001@pbx"
CONN_A = Target(transport="TCP", host="198.51.100.7", port=40001)
CONN_B = Target(transport="TCP", host="198.51.100.7", port=40002)


def registrar(**kw: int) -> Registrar:
    digest = DigestServer(realm="pbx", secret=b"s" * 32, algorithms=("MD5",))
    return Registrar(digest=digest, passwords={"1001": "secret"}, **kw)


def request(*, contact: str, source: Target, cseq: int = 1, call_id: str = "reg-a",
            outbound: bool = True, expires: int = 300, extra: tuple[str, ...] = (),
            auth: str | None = None) -> Request:
    lines = [
        "REGISTER sip:pbx SIP/2.0",
        f"Via: SIP/2.0/{source.transport} 10.0.0.5:5060;branch=z9hG4bK{call_id}{cseq}",
        *extra, "From: <sip:1001@pbx>;tag=f1", "To: <sip:1001@pbx>", f"Call-ID: {call_id}",
        f"CSeq: {cseq} REGISTER", f"Contact: {contact}", f"Expires: {expires}",
    ]
    if outbound:
        lines.append("Supported: path, outbound")
    if auth:
        lines.append(f"Authorization: {auth}")
    message = parse_datagram("\r\n".join([*lines, "Content-Length: 0", "", ""]).encode())
    assert isinstance(message, Request)
    return message


def flow_contact(reg_id: int = 1, uri: str = "sip:1001@10.0.0.5;transport=tcp;ob") -> str:
    return f'<{uri}>;+sip.instance="{INSTANCE}";reg-id={reg_id}'


def register(reg: Registrar, *, now: float = 1000.0, source: Target = CONN_A,
             **kw: object) -> tuple[Response, list[BindingsChanged]]:
    first, _ = reg.register(request(source=source, **kw), source, now, to_tag="t")  # type: ignore[arg-type]
    assert first.status == 401
    auth = build_authorization(
        parse_challenge(first.headers.get("WWW-Authenticate") or ""), method="REGISTER",
        uri="sip:pbx", username="1001", password="secret")
    return reg.register(request(source=source, auth=auth, **kw), source, now, to_tag="t")  # type: ignore[arg-type]


def test_a_flow_is_bound_to_its_connection_and_the_200_requires_outbound() -> None:
    reg = registrar()
    ok, changes = register(reg, contact=flow_contact())
    assert ok.status == 200
    assert ok.headers.get("Require") == "outbound"
    assert ok.headers.get("Flow-Timer") == str(FLOW_TIMER_S)
    assert ok.headers.get("Contact") == (
        f'<sip:1001@10.0.0.5;transport=tcp;ob>;expires=300;+sip.instance="{INSTANCE}";reg-id=1')
    (binding,) = reg.locate(AOR, 1001.0)
    assert binding.is_flow and (binding.instance, binding.reg_id) == (INSTANCE, 1)
    # requests go over the REGISTER's connection, not to the Contact's (private) address
    assert binding.peer == Peer(transport="TCP", host=CONN_A.host, port=CONN_A.port)
    assert [c.bindings for c in changes] == [(binding,)]


def test_a_new_registration_of_the_flow_replaces_it_even_with_another_contact() -> None:
    reg = registrar()
    register(reg, contact=flow_contact())
    # the phone reconnected (new connection, new address in its Contact, new Call-ID)
    ok, _ = register(reg, now=1100.0, source=CONN_B, call_id="reg-b",
                     contact=flow_contact(uri="sip:1001@10.0.0.99;transport=tcp;ob"))
    assert ok.status == 200 and len(ok.headers.get_all("Contact")) == 1
    (binding,) = reg.locate(AOR, 1101.0)
    assert len(reg) == 1 and binding.contact == "sip:1001@10.0.0.99;transport=tcp;ob"
    assert (binding.peer.port, binding.registered_at) == (CONN_B.port, 1100.0)
    # the old connection closing now takes nothing with it
    assert reg.flow_closed(CONN_A) == [] and len(reg) == 1


def test_two_flows_of_one_instance_ring_once_the_latest_first() -> None:
    reg = registrar()
    register(reg, contact=flow_contact(1))
    register(reg, now=1010.0, source=CONN_B, call_id="reg-b", contact=flow_contact(2))
    assert len(reg) == 2
    (best,) = reg.locate(AOR, 1011.0)
    assert best.reg_id == 2 and best.peer.port == CONN_B.port
    changes = reg.flow_closed(CONN_B)  # that flow fails: the other one takes over
    assert len(changes) == 1 and [b.reg_id for b in changes[0].bindings] == [1]
    (left,) = reg.locate(AOR, 1012.0)
    assert left.reg_id == 1 and left.peer.port == CONN_A.port


def test_the_connection_closing_removes_only_its_flows() -> None:
    reg = registrar()
    register(reg, contact=flow_contact(1))
    register(reg, source=CONN_B, call_id="reg-b", outbound=False,
             contact="<sip:1001@198.51.100.7:5070;transport=tcp>")  # a plain RFC 3261 one
    assert len(reg) == 2
    (change,) = reg.flow_closed(CONN_A)
    assert [b.is_flow for b in change.bindings] == [False]
    assert reg.flow_closed(CONN_B) == []  # plain bindings outlive a connection
    assert reg.flow_closed(CONN_A) == [] and len(reg) == 1


def test_without_supported_outbound_reg_id_is_ignored() -> None:
    reg = registrar()
    ok, _ = register(reg, contact=flow_contact(), outbound=False)
    assert ok.status == 200 and "Require" not in ok.headers and "Flow-Timer" not in ok.headers
    (binding,) = reg.locate(AOR, 1001.0)
    assert not binding.is_flow and binding.key == "sip:1001@10.0.0.5;transport=tcp;ob"
    assert reg.flow_closed(CONN_A) == []


def test_expires_zero_unregisters_that_flow_alone() -> None:
    reg = registrar()
    register(reg, contact=flow_contact(1))
    register(reg, source=CONN_B, call_id="reg-b", contact=flow_contact(2))
    ok, changes = register(reg, source=CONN_B, call_id="reg-b", cseq=2, expires=0,
                           contact=flow_contact(2))
    assert ok.status == 200 and [b.reg_id for b in changes[0].bindings] == [1]
    assert reg.flow_closed(CONN_B) == []


def test_a_udp_flow_is_the_source_address_with_a_short_flow_timer() -> None:
    reg = registrar()
    natted = Target(transport="UDP", host="203.0.113.9", port=61000)
    ok, _ = register(reg, source=natted, contact=flow_contact(uri="sip:1001@10.0.0.5:5060"))
    assert ok.headers.get("Flow-Timer") == str(UDP_FLOW_TIMER_S)
    (binding,) = reg.locate(AOR, 1001.0)
    assert binding.peer == Peer(transport="UDP", host="203.0.113.9", port=61000)


def test_malformed_or_misrouted_outbound_registrations_are_refused() -> None:
    reg = registrar()
    two = f"{flow_contact(1)}, {flow_contact(2, 'sip:1001@10.0.0.5:5061;transport=tcp')}"
    assert register(reg, contact=two)[0].status == 400
    assert register(reg, contact=flow_contact(0))[0].status == 400
    bad = f'<sip:1001@10.0.0.5>;+sip.instance="{INSTANCE}";reg-id=x'
    assert register(reg, contact=bad)[0].status == 400
    proxied = ("Via: SIP/2.0/TCP edge.example;branch=z9hG4bKedge",)
    refused, _ = register(reg, contact=flow_contact(), extra=proxied)
    assert (refused.status, refused.reason) == (439, "First Hop Lacks Outbound Support")
    assert len(reg) == 0
    with_ob = (*proxied, "Path: <sip:edge.example;lr;ob>")
    assert register(reg, contact=flow_contact(), extra=with_ob)[0].status == 200


def test_flows_expire_are_pinged_and_fall_to_a_failed_ping() -> None:
    reg = registrar(keepalive_s=30)
    register(reg, contact=flow_contact(1), expires=100)
    register(reg, source=CONN_B, call_id="reg-b", contact=flow_contact(2), expires=200)
    assert sorted(b.reg_id for b in reg.due_pings(1030.0)) == [1, 2]
    gone = reg.expire(1100.0)
    assert [[b.reg_id for b in c.bindings] for c in gone] == [[2]]
    # the stack drops an unreachable contact by its URI: the flows with that URI go
    (change,) = reg.remove(AOR, "sip:1001@10.0.0.5;transport=tcp;ob")
    assert change.bindings == () and len(reg) == 0


def test_flows_are_not_restored_after_a_restart() -> None:
    reg = registrar()
    register(reg, contact=flow_contact(1))
    (flow,) = reg.locate(AOR, 1001.0)
    fresh = registrar()
    fresh.load([flow], 1001.0)
    assert len(fresh) == 0


@settings(max_examples=60, deadline=None)
@given(idle=st.one_of(st.just(0.0), st.floats(30.0, 86400.0)))
def test_the_flow_timer_leaves_room_before_an_idle_close(idle: float) -> None:
    timer = flow_timer_for(SipConfig(tcp_idle_timeout_s=idle))
    assert 1 <= timer <= FLOW_TIMER_S
    if idle:
        assert 2 * timer <= idle
    else:
        assert timer == FLOW_TIMER_S
