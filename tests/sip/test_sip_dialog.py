"""Dialog creation, in-dialog requests, target refresh, glare, persistence."""

from __future__ import annotations

import msgpack
import pytest

from sip.builders import make_response, make_via
from sip.dialog import Dialog, Pending2xx
from sip.errors import DialogError
from sip.headers import Headers
from sip.message import Request
from sip.uri import SipUri, parse_uri

VIA = make_via("UDP", "10.0.0.1", 5060, branch="z9hG4bKd1")


def invite(
    record_route: list[str] | None = None, contact: str | None = "<sip:alice@10.0.0.1>"
) -> Request:
    fields = [
        ("Via", str(VIA)),
        ("Max-Forwards", "70"),
        ("From", '"Alice" <sip:alice@atlanta.example>;tag=a1'),
        ("To", "<sip:bob@biloxi.example>"),
        ("Call-ID", "dlg-1"),
        ("CSeq", "10 INVITE"),
    ]
    fields += [("Record-Route", rr) for rr in record_route or []]
    if contact:
        fields.append(("Contact", contact))
    return Request(
        method="INVITE", uri=parse_uri("sip:bob@biloxi.example"), headers=Headers(fields)
    )


def uas_answer(request: Request) -> Dialog:
    return Dialog.from_uas(request, local_tag="b1", local_contact="sip:bob@192.0.2.5:5060")


def test_uac_dialog_from_2xx_reverses_record_route_and_uses_contact() -> None:
    request = invite()
    ok = make_response(request, 200, to_tag="b1")
    ok = ok.with_headers(
        ok.headers.appended("Record-Route", "<sip:p2.example;lr>, <sip:p1.example;lr>").appended(
            "Contact", "<sip:bob@192.0.2.5:5062>"
        )
    )
    dialog = Dialog.from_uac(request, ok, local_contact="sip:alice@10.0.0.1")
    assert dialog.id == ("dlg-1", "a1", "b1") and dialog.state == "confirmed"
    assert dialog.route_set == ["<sip:p1.example;lr>", "<sip:p2.example;lr>"]
    assert dialog.remote_target == "sip:bob@192.0.2.5:5062" and dialog.local_seq == 10
    bye = dialog.create_bye(via=make_via("UDP", "10.0.0.1", 5060))
    assert bye.uri == parse_uri("sip:bob@192.0.2.5:5062")
    assert bye.headers.get_all("Route") == ["<sip:p1.example;lr>", "<sip:p2.example;lr>"]
    assert (bye.cseq.seq, bye.cseq.method) == (11, "BYE")
    assert bye.from_.tag == "a1" and bye.to.tag == "b1" and bye.from_.display_name == "Alice"
    assert "Contact" not in bye.headers
    ack = dialog.create_ack(via=make_via("UDP", "10.0.0.1", 5060))
    assert (ack.cseq.seq, ack.cseq.method) == (10, "ACK") and ack.top_via.branch != VIA.branch
    assert dialog.matches_response(ok)


def test_provisional_with_tag_creates_early_dialog_confirmed_by_2xx() -> None:
    request = invite()
    ringing = make_response(request, 180, to_tag="b1")
    ringing = ringing.with_headers(ringing.headers.appended("Contact", "<sip:bob@early.example>"))
    dialog = Dialog.from_uac(request, ringing, local_contact="sip:alice@10.0.0.1")
    assert (dialog.state, dialog.local_invite_pending) == ("early", True)
    ok = make_response(request, 200, to_tag="b1")
    ok = ok.with_headers(
        ok.headers.appended("Contact", "<sip:bob@final.example>").appended(
            "Record-Route", "<sip:p9.example;lr>"
        )
    )
    dialog.receive_response(request, ok)
    assert dialog.state == "confirmed" and dialog.remote_target == "sip:bob@final.example"
    assert dialog.route_set == ["<sip:p9.example;lr>"] and not dialog.local_invite_pending
    with pytest.raises(DialogError):
        Dialog.from_uac(request, make_response(request, 100), local_contact="sip:a@h")


def test_uas_dialog_and_in_dialog_request_checks() -> None:
    request = invite(record_route=["<sip:p1.example;lr>", "<sip:p2.example;lr>"])
    dialog = uas_answer(request)
    assert dialog.remote_seq == 10 and dialog.remote_target == "sip:alice@10.0.0.1"
    assert dialog.route_set == ["<sip:p1.example;lr>", "<sip:p2.example;lr>"]
    assert dialog.remote_invite_pending
    dialog.response_sent(request, make_response(request, 200, to_tag="b1"))
    assert dialog.state == "confirmed" and not dialog.remote_invite_pending
    bye = Request(
        method="BYE",
        uri=parse_uri("sip:bob@192.0.2.5"),
        headers=Headers([
            ("Via", str(VIA)), ("From", "<sip:alice@atlanta.example>;tag=a1"),
            ("To", "<sip:bob@biloxi.example>;tag=b1"), ("Call-ID", "dlg-1"), ("CSeq", "9 BYE"),
        ]),
    )  # fmt: skip
    assert dialog.matches_request(bye)
    old = dialog.receive_request(bye)
    assert old is not None and old.status == 500  # CSeq went backwards
    newer = bye.with_headers(bye.headers.replaced("CSeq", "11 BYE"))
    assert dialog.receive_request(newer) is None and dialog.remote_seq == 11
    dialog.response_sent(newer, make_response(newer, 200))
    assert dialog.state == "terminated"
    with pytest.raises(DialogError):
        dialog.create_bye(via=VIA)


def test_uas_local_cseq_starts_fresh_and_contact_added_to_target_refresh() -> None:
    dialog = uas_answer(invite())
    dialog.state = "confirmed"
    dialog.remote_invite_pending = False
    reinvite = dialog.create_reinvite(via=VIA, sdp=b"v=0\r\n")
    assert (reinvite.cseq.seq, reinvite.cseq.method) == (1, "INVITE")
    assert reinvite.headers.get("Contact") == "<sip:bob@192.0.2.5:5060>"
    assert reinvite.content_type is not None and reinvite.content_type.mime == "application/sdp"
    assert reinvite.from_.tag == "b1" and reinvite.to.tag == "a1"
    with pytest.raises(DialogError):  # one INVITE at a time (§14.1)
        dialog.create_reinvite(via=VIA, sdp=b"v=0\r\n")
    refer = dialog.create_refer(via=VIA, refer_to="<sip:queue@cc.example>")
    assert refer.headers.get("Refer-To") == "<sip:queue@cc.example>" and refer.cseq.seq == 2
    with pytest.raises(DialogError):
        dialog.create_request("CANCEL", via=VIA)


def test_reinvite_glare_and_target_refresh() -> None:
    request = invite()
    dialog = uas_answer(request)
    dialog.response_sent(request, make_response(request, 200, to_tag="b1"))
    dialog.create_reinvite(via=VIA, sdp=b"v=0\r\n")  # our re-INVITE is pending
    theirs = invite(contact="<sip:alice@10.9.9.9>")
    theirs = theirs.with_headers(
        theirs.headers.replaced("CSeq", "11 INVITE").replaced("To", "<sip:bob@b.example>;tag=b1")
    )
    glare = dialog.receive_request(theirs)
    assert glare is not None and glare.status == 491
    dialog.local_invite_pending = False
    assert dialog.receive_request(theirs) is None
    assert dialog.remote_target == "sip:alice@10.9.9.9" and dialog.remote_invite_pending
    second = theirs.with_headers(theirs.headers.replaced("CSeq", "12 INVITE"))
    pending = dialog.receive_request(second)
    assert pending is not None and pending.status == 500
    assert 0 <= int(dict(pending.headers)["Retry-After"]) <= 10


def test_strict_route_rewrites_request_uri() -> None:
    request = invite()
    ok = make_response(request, 200, to_tag="b1")
    ok = ok.with_headers(ok.headers.appended("Record-Route", "<sip:strict.example>"))
    dialog = Dialog.from_uac(request, ok, local_contact="sip:alice@10.0.0.1")
    bye = dialog.create_bye(via=VIA)
    assert bye.uri == parse_uri("sip:strict.example")
    assert bye.headers.get_all("Route") == ["<sip:bob@biloxi.example>"]  # the remote target


def test_rfc2543_peer_without_contact_uses_from_uri() -> None:
    dialog = uas_answer(invite(contact=None))
    assert dialog.remote_target == "sip:alice@atlanta.example"


def test_408_or_481_ends_the_dialog() -> None:
    request = invite()
    dialog = Dialog.from_uac(
        request, make_response(request, 200, to_tag="b1"), local_contact="sip:a@h"
    )
    options = dialog.create_request("OPTIONS", via=VIA)
    dialog.receive_response(options, make_response(options, 481))
    assert dialog.state == "terminated"


def test_dialog_round_trips_through_msgpack() -> None:
    request = invite(record_route=["<sip:p1.example;lr>"])
    dialog = uas_answer(request)
    restored = Dialog.from_dict(msgpack.unpackb(msgpack.packb(dialog.to_dict()), raw=False))
    assert restored == dialog
    assert isinstance(parse_uri(restored.remote_target), SipUri)


def test_pending_2xx_retransmits_with_backoff_then_gives_up() -> None:
    pending = Pending2xx.start(b"SIP/2.0 200 OK\r\n\r\n", now=0.0)
    events = []
    now = 0.0
    while True:
        now = pending.next_timer()
        outcome = pending.handle_timer(now)
        events.append((now, outcome))
        if outcome == "give-up":
            break
    retransmits = [t for t, o in events if o == "retransmit"]
    assert retransmits[:5] == [0.5, 1.5, 3.5, 7.5, 11.5] and events[-1] == (32.0, "give-up")
    assert pending.handle_timer(40.0) == "give-up"
