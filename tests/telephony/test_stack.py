"""The SIP stack glue without sockets: what it answers itself, what it hands to call actors,
and the transport-level duties (2xx retransmission, cached ACKs, keepalive pings)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import structlog

from conf.load import parse_config
from sip.builders import make_response
from sip.digest import DigestServer
from sip.message import Request, Response
from sip.parser import parse_datagram
from sip.serializer import serialize
from sip.transaction import Target
from telephony.messages import (
    CancelReceived,
    InviteReceived,
    Locate,
    Located,
    Peer,
    SendRequest,
    SendResponse,
    SipFailure,
    SipRequestIn,
)
from telephony.registrar import Binding, Registrar
from telephony.stack import Deliver, Persist, SipStack, Transmit
from tests.actors.call.support import CONFIG, request_text

CARRIER = Target(transport="UDP", host="192.0.2.10", port=40000)
PHONE = Target(transport="UDP", host="192.0.2.21", port=5062)
CALL = "00000000000000a1"


def stack(**kw: Any) -> SipStack:
    config = parse_config(CONFIG, source=Path("test.toml"))
    digest = DigestServer(realm="127.0.0.1", secret=b"k" * 32)
    registrar = Registrar(digest=digest, passwords={"1001": "a"}, keepalive_s=30.0)
    return SipStack(config=config, registrar=registrar, digest=digest,
                    log=structlog.get_logger(), advertised=("127.0.0.1", 5060),
                    call_ids=lambda: CALL, **kw)


def sent(actions: list[Any]) -> list[Request | Response]:
    out = []
    for a in actions:
        if isinstance(a, Transmit):
            message = parse_datagram(a.data)
            out.append(message)
    return out


def delivered(actions: list[Any]) -> list[Any]:
    return [a.msg for a in actions if isinstance(a, Deliver)]


def test_options_is_answered_at_the_address_it_came_from() -> None:
    s = stack()
    data = request_text("OPTIONS", call_id="o1", from_tag="x", uri="sip:127.0.0.1")
    actions = s.datagram(data, CARRIER, 0.0)
    (transmit,) = [a for a in actions if isinstance(a, Transmit)]
    assert transmit.target == CARRIER  # Via said port 5060; the answer follows the request
    response = parse_datagram(transmit.data)
    assert isinstance(response, Response) and response.status == 200
    assert "REGISTER" in (response.headers.get("Allow") or "")
    assert response.top_via.rport == 40000 and response.top_via.received == "192.0.2.10"


def test_a_via_that_leads_back_to_the_source_is_left_alone() -> None:
    """Forcing rport changes nothing there: no received/rport is added (§18.2.1)."""
    s = stack()
    source = Target(transport="UDP", host="192.0.2.10", port=5060)
    data = request_text("OPTIONS", call_id="o2", from_tag="x", uri="sip:127.0.0.1")
    (transmit,) = [a for a in s.datagram(data, source, 0.0) if isinstance(a, Transmit)]
    assert transmit.target == source
    response = parse_datagram(transmit.data)
    assert isinstance(response, Response) and response.status == 200
    assert str(response.top_via) == "SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bKcaller1"
    # the same Via from another port of that host: the answer follows the packet
    moved = Target(transport="UDP", host="192.0.2.10", port=5099)
    data = request_text("OPTIONS", call_id="o3", from_tag="x", uri="sip:127.0.0.1",
                        branch="z9hG4bKcaller2")
    (transmit,) = [a for a in s.datagram(data, moved, 0.0) if isinstance(a, Transmit)]
    assert transmit.target == moved
    response = parse_datagram(transmit.data)
    assert isinstance(response, Response) and response.top_via.rport == 5099


def test_a_trunk_invite_is_routed_to_a_new_call_actor_after_100_trying() -> None:
    s = stack()
    data = request_text("INVITE", call_id="c1", from_tag="x", body=b"v=0\r\n")
    actions = s.datagram(data, CARRIER, 0.0)
    assert [m.status for m in sent(actions) if isinstance(m, Response)] == [100]
    (invite,) = delivered(actions)
    assert isinstance(invite, InviteReceived)
    assert (invite.call_id, invite.route, invite.source) == (CALL, "agent:anna", "trunk:carrier")
    assert invite.caller == "+33140000001" and invite.dialled == "+335000"
    # A CANCEL for it is answered 200 here and passed on.
    cancel = data.replace(b"INVITE sip", b"CANCEL sip").replace(b"1 INVITE", b"1 CANCEL")
    cancel = cancel.split(b"\r\n\r\n")[0].replace(b"Content-Length: 5", b"Content-Length: 0")
    actions = s.datagram(cancel + b"\r\n\r\n", CARRIER, 0.1)
    assert [m.status for m in sent(actions) if isinstance(m, Response)] == [200]
    assert delivered(actions) == [CancelReceived(call_id=CALL, leg="a", tx=invite.tx)]


def test_an_invite_from_an_unknown_address_is_challenged() -> None:
    s = stack()
    data = request_text("INVITE", call_id="c2", from_tag="x", host="192.0.2.99")
    actions = s.datagram(data, Target(transport="UDP", host="192.0.2.99", port=5060), 0.0)
    statuses = [m.status for m in sent(actions) if isinstance(m, Response)]
    assert statuses == [100, 401] and delivered(actions) == []


def test_unknown_numbers_get_404_and_max_forwards_zero_483() -> None:
    s = stack()
    data = request_text("INVITE", call_id="c3", from_tag="x", uri="sip:999@127.0.0.1")
    assert 404 in [m.status for m in sent(s.datagram(data, CARRIER, 0.0))
                   if isinstance(m, Response)]
    looping = request_text("INVITE", call_id="c4", from_tag="x", branch="z9hG4bKmf0")
    looping = looping.replace(b"Max-Forwards: 70", b"Max-Forwards: 0")
    assert 483 in [m.status for m in sent(s.datagram(looping, CARRIER, 0.0))
                   if isinstance(m, Response)]


def test_in_dialog_requests_go_to_the_call_their_to_tag_names() -> None:
    s = stack()
    bye = request_text("BYE", call_id="c1", from_tag="x", to_tag=f"{CALL}.a", cseq=2)
    (msg,) = delivered(s.datagram(bye, CARRIER, 0.0))
    assert isinstance(msg, SipRequestIn) and (msg.call_id, msg.leg) == (CALL, "a")
    stranger = request_text("BYE", call_id="c9", from_tag="x", to_tag="not-ours", cseq=2,
                            branch="z9hG4bKother")
    assert [m.status for m in sent(s.datagram(stranger, CARRIER, 0.0))
            if isinstance(m, Response)] == [481]


def test_our_2xx_is_resent_until_the_ack_comes_and_reported_if_it_never_does() -> None:
    s = stack()
    data = request_text("INVITE", call_id="c1", from_tag="x", body=b"v=0\r\n")
    (invite,) = delivered(s.datagram(data, CARRIER, 0.0))
    request = parse_datagram(invite.request)
    assert isinstance(request, Request)
    ok = make_response(request, 200, to_tag=f"{CALL}.a", headers=[("Contact", "<sip:c@h>")])
    first = s.from_call(f"call/{CALL}", SendResponse(call_id=CALL, leg="a", tx=invite.tx,
                                                      response=serialize(ok)), 0.0)
    assert [m.status for m in sent(first) if isinstance(m, Response)] == [200]
    resent = s.handle_timer(0.1 + 1e-6)  # T1 is 0.5 by default: nothing yet
    assert sent(resent) == []
    resent = s.handle_timer(0.5)
    assert [m.status for m in sent(resent) if isinstance(m, Response)] == [200]
    failures = [m for t in (10.0, 20.0, 32.0) for m in delivered(s.handle_timer(t))]
    assert failures == [SipFailure(call_id=CALL, leg="a", tx=invite.tx, kind="no_ack",
                                   method="INVITE")]


def test_only_the_2xx_still_waiting_for_its_ack_is_resent() -> None:
    s = stack()
    answered = []
    for n, call in enumerate(("c1", "c2")):
        data = request_text("INVITE", call_id=call, from_tag="x", branch=f"z9hG4bK{call}",
                            body=b"v=0\r\n")
        (invite,) = delivered(s.datagram(data, CARRIER, 0.1 * n))
        request = parse_datagram(invite.request)
        assert isinstance(request, Request)
        ok = make_response(request, 200, to_tag=f"{CALL}.a",
                           headers=[("Contact", "<sip:c@h>")])
        s.from_call(f"call/{CALL}", SendResponse(call_id=CALL, leg="a", tx=invite.tx,
                                                  response=serialize(ok)), 0.1 * n)
        answered.append(request)
    assert s.next_timer() == 0.5  # c1's 2xx, sent at 0.0, is due again after T1
    ack = request_text("ACK", call_id="c1", from_tag="x", to_tag=f"{CALL}.a",
                       branch="z9hG4bKc1ack")
    s.datagram(ack, CARRIER, 0.2)
    assert s.next_timer() == 0.6  # c1's timer is gone; c2's is next
    resent = [m for m in sent(s.handle_timer(0.6)) if isinstance(m, Response)]
    assert [(m.status, m.call_id) for m in resent] == [(200, "c2")]
    assert [m.call_id for m in answered] == ["c1", "c2"]


def test_a_retransmitted_2xx_gets_the_same_ack_without_bothering_the_call() -> None:
    s = stack()
    invite = request_text("INVITE", call_id=f"{CALL}.b@h", from_tag=f"{CALL}.b",
                          branch=f"z9hG4bK{CALL}.b.1", uri="sip:1001@192.0.2.21")
    request = parse_datagram(invite)
    assert isinstance(request, Request)
    s.from_call(f"call/{CALL}", SendRequest(call_id=CALL, leg="b", request=invite,
                                            peer=Peer(transport="UDP", host="192.0.2.21",
                                                      port=5062)), 0.0)
    ok = serialize(make_response(request, 200, to_tag="far"))
    (response_in,) = delivered(s.datagram(ok, PHONE, 0.1))
    ack = request_text("ACK", call_id=f"{CALL}.b@h", from_tag=f"{CALL}.b", to_tag="far",
                       branch=f"z9hG4bK{CALL}.b.2", uri="sip:1001@192.0.2.21")
    acked = s.from_call(f"call/{CALL}", SendRequest(call_id=CALL, leg="b", request=ack,
                                                    peer=None), 0.2)
    assert [m.method for m in sent(acked) if isinstance(m, Request)] == ["ACK"]
    again = s.datagram(ok, PHONE, 0.5)
    assert delivered(again) == [] and [m.method for m in sent(again)
                                       if isinstance(m, Request)] == ["ACK"]
    assert response_in.leg == "b"


def test_locate_and_a_dead_contact_is_dropped_after_its_ping_times_out() -> None:
    s = stack()
    binding = Binding(aor="sip:1001@127.0.0.1", contact="sip:1001@192.0.2.21:5062",
                      expires_at=3600.0, call_id="r", cseq=1,
                      peer=Peer(transport="UDP", host="192.0.2.21", port=5062),
                      registered_at=0.0)
    s.registrar.load([binding], 0.0)
    (located,) = delivered(s.from_call(f"call/{CALL}", Locate(
        call_id=CALL, leg="b", aor="sip:1001@127.0.0.1"), 1.0))
    assert isinstance(located, Located) and located.contacts[0].uri == binding.contact
    pings = s.handle_timer(30.0)
    assert [m.method for m in sent(pings) if isinstance(m, Request)] == ["OPTIONS"]
    dropped = s.handle_timer(30.0 + 64 * 0.5)
    assert [a for a in dropped if isinstance(a, Persist)]
    assert s.registrar.locate("sip:1001@127.0.0.1", 63.0) == []


def test_a_keepalive_to_a_phone_on_tls_names_our_tls_listener() -> None:
    """The phone answers (and opens connections) to the Via's port: over TLS that is the TLS
    listener's, not the UDP/TCP port."""
    s = stack(tls_port=5061)
    for transport in ("TLS", "TCP"):
        aor = f"sip:{transport.lower()}@127.0.0.1"
        s.registrar.load([Binding(
            aor=aor, contact=f"sip:1001@192.0.2.21:5062;transport={transport.lower()}",
            expires_at=3600.0, call_id=transport, cseq=1, registered_at=0.0,
            peer=Peer(transport=transport, host="192.0.2.21", port=5062))], 0.0)
    vias = {}
    for a in s.handle_timer(30.0):
        if isinstance(a, Transmit):
            via = parse_datagram(a.data).headers.get("Via")
            assert via is not None
            vias[a.target.transport] = via
    assert vias["TLS"].startswith("SIP/2.0/TLS 127.0.0.1:5061;")
    assert vias["TCP"].startswith("SIP/2.0/TCP 127.0.0.1:5060;")
