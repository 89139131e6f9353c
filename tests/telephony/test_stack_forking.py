"""The port's side of parallel forking: an AOR registered from two phones is located as both
contacts, best first; each fork is a leg of its own, so the answers and requests of either
phone reach the call actor named by our branch or tag, with no table (telephony.ids)."""

from __future__ import annotations

from sip.builders import make_response
from sip.digest import build_authorization, parse_challenge
from sip.message import Request, Response
from sip.parser import parse_datagram
from sip.serializer import serialize
from sip.transaction import Target
from telephony.messages import Locate, Located, Peer, SendRequest, SipRequestIn, SipResponseIn
from telephony.stack import SipStack
from tests.actors.call.support import request_text
from tests.telephony.test_stack import CALL, delivered, sent, stack

DESK = Target(transport="UDP", host="192.0.2.21", port=5062)
SOFT = Target(transport="UDP", host="192.0.2.31", port=5070)


def register(s: SipStack, phone: Target, *, call_id: str, q: str) -> None:
    """Phone ``phone`` registers ``sip:1001@127.0.0.1`` with digest (password "a")."""

    def request(cseq: int, auth: str = "") -> bytes:
        lines = [
            "REGISTER sip:127.0.0.1 SIP/2.0",
            f"Via: SIP/2.0/UDP {phone.host}:{phone.port};branch=z9hG4bK{call_id}{cseq}",
            "Max-Forwards: 70", f"From: <sip:1001@127.0.0.1>;tag={call_id}",
            "To: <sip:1001@127.0.0.1>", f"Call-ID: {call_id}", f"CSeq: {cseq} REGISTER",
            f"Contact: <sip:1001@{phone.host}:{phone.port}>;q={q}", "Expires: 300",
        ]
        if auth:
            lines.append(f"Authorization: {auth}")
        return "\r\n".join([*lines, "Content-Length: 0", "", ""]).encode()

    [challenge] = [m for m in sent(s.datagram(request(1), phone, 0.0))
                   if isinstance(m, Response)]
    assert challenge.status == 401
    auth = build_authorization(
        parse_challenge(challenge.headers.get("WWW-Authenticate") or ""), method="REGISTER",
        uri="sip:127.0.0.1", username="1001", password="a")
    [ok] = [m for m in sent(s.datagram(request(2, auth), phone, 0.1))
            if isinstance(m, Response)]
    assert ok.status == 200


def test_both_phones_are_located_and_each_fork_is_routed_to_its_own_leg() -> None:
    s = stack()
    register(s, DESK, call_id="reg-desk", q="0.5")
    register(s, SOFT, call_id="reg-soft", q="0.9")
    [located] = delivered(s.from_call(f"call/{CALL}", Locate(
        call_id=CALL, leg="b", aor="sip:1001@127.0.0.1"), 1.0))
    assert isinstance(located, Located)
    assert [(c.uri, c.q) for c in located.contacts] == [
        ("sip:1001@192.0.2.31:5070", 0.9), ("sip:1001@192.0.2.21:5062", 0.5)]
    for leg, phone in (("b", SOFT), ("b2", DESK)):
        invite = request_text("INVITE", call_id=f"{CALL}.{leg}@h", from_tag=f"{CALL}.{leg}",
                              branch=f"z9hG4bK{CALL}.{leg}.1",
                              uri=f"sip:1001@{phone.host}:{phone.port}")
        out = s.from_call(f"call/{CALL}", SendRequest(
            call_id=CALL, leg=leg, request=invite,
            peer=Peer(transport="UDP", host=phone.host, port=phone.port)), 1.0)
        assert [m.method for m in sent(out) if isinstance(m, Request)] == ["INVITE"]
        request = parse_datagram(invite)
        assert isinstance(request, Request)
        ringing = serialize(make_response(request, 180, to_tag=f"tag-{leg}"))
        [response_in] = delivered(s.datagram(ringing, phone, 1.1))
        assert isinstance(response_in, SipResponseIn) and response_in.leg == leg
    bye = request_text("BYE", call_id=f"{CALL}.b2@h", from_tag="tag-b2", to_tag=f"{CALL}.b2",
                       cseq=2, branch="z9hG4bKdeskbye", host=DESK.host)
    [request_in] = delivered(s.datagram(bye, DESK, 2.0))
    assert isinstance(request_in, SipRequestIn) and (request_in.call_id, request_in.leg) == \
        (CALL, "b2")
