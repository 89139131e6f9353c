"""The call actor's pure decide: setting up, answering, failing and ending calls."""

from __future__ import annotations

import pytest

from actors.call.messages import CallEnded, NoAnswer
from actors.call.setup import failure_for_caller
from sip.message import Request
from sip.transaction_layer import client_key
from telephony.messages import CancelReceived, Located, SendRequest, SendResponse, SipFailure
from tests.actors.call.support import (
    ANNA_PHONE,
    SDP_CALLER,
    SDP_PHONE,
    Calls,
    as_request,
    as_response,
    request_text,
    statuses,
)

CALL = "00000000000000a1"


def callee_request(invite: Request, method: str, cseq: int, *, body: bytes = b"",
                   extra: tuple[str, ...] = ()) -> bytes:
    """An in-dialog request from the far end of the leg ``invite`` created (tag "far")."""
    to_tag = invite.from_.tag or ""
    lines = [
        f"{method} sip:contactor@127.0.0.1:5060 SIP/2.0",
        f"Via: SIP/2.0/UDP 192.0.2.21:5062;branch=z9hG4bKfar{method}{cseq}",
        "Max-Forwards: 70", f"From: {invite.headers.get('To')};tag=far",
        f"To: <sip:x@127.0.0.1>;tag={to_tag}", f"Call-ID: {invite.call_id}",
        f"CSeq: {cseq} {method}", "Contact: <sip:far@192.0.2.21:5062>", *extra,
    ]
    if body:
        lines.append("Content-Type: application/sdp")
    return "\r\n".join([*lines, f"Content-Length: {len(body)}", "", ""]).encode() + body


def caller_request(method: str, cseq: int, *, body: bytes = b"", branch: str = "") -> bytes:
    return request_text(method, call_id="c1@carrier", from_tag="ctag", to_tag=f"{CALL}.a",
                        cseq=cseq, body=body, branch=branch or f"z9hG4bKc{method}{cseq}")


def connected(calls: Calls) -> Request:
    calls.invite(CALL)
    invite_b = calls.locate(CALL, "b")
    calls.answer(CALL, "b", invite_b, 180)
    calls.answer(CALL, "b", invite_b, 200, body=SDP_PHONE)
    calls.take(CALL)
    calls.peer_request(CALL, "a", caller_request("ACK", 1), tx=None)
    return invite_b


def test_an_inbound_call_rings_the_agent_phone_with_the_callers_offer() -> None:
    calls = Calls()
    calls.invite(CALL)
    invite_b = calls.locate(CALL, "b")
    assert str(invite_b.uri) == "sip:1001@192.0.2.21:5062"
    assert invite_b.body == SDP_CALLER
    assert invite_b.from_.tag == f"{CALL}.b"
    assert (invite_b.top_via.branch or "").startswith(f"z9hG4bK{CALL}.b.")
    assert invite_b.max_forwards == 69
    assert calls.state(CALL).phase == "ringing"
    assert calls.kinds(CALL) == ["call.created"]
    assert calls.timers[CALL]["ring:b"] == NoAnswer(leg="b")


def test_ringing_and_answer_are_relayed_to_the_caller() -> None:
    calls = Calls()
    calls.invite(CALL)
    invite_b = calls.locate(CALL, "b")
    calls.answer(CALL, "b", invite_b, 183, body=SDP_PHONE)
    sent = calls.take(CALL)
    assert statuses(sent) == [183]
    early = as_response(next(m for m in sent if isinstance(m, SendResponse)).response)
    assert early.body == SDP_PHONE and early.to.tag == f"{CALL}.a"
    calls.answer(CALL, "b", invite_b, 200, body=SDP_PHONE)
    sent = calls.take(CALL)
    assert statuses(sent) == [200]
    acks = [m for m in sent if isinstance(m, SendRequest)]
    assert len(acks) == 1  # the ACK to the phone went out at once: the caller made the offer
    assert calls.state(CALL).phase == "connected"
    assert calls.kinds(CALL) == ["call.created", "call.ringing", "call.answered"]


def test_caller_bye_ends_both_legs_and_journals_the_cause() -> None:
    calls = Calls()
    invite_b = connected(calls)
    calls.peer_request(CALL, "a", caller_request("BYE", 2))
    sent = calls.take(CALL)
    assert statuses(sent) == [200]
    bye = next(as_request(m.request) for m in sent if isinstance(m, SendRequest))
    assert bye.method == "BYE" and bye.to.tag == "far" and bye.call_id == invite_b.call_id
    assert calls.state(CALL).phase == "ending" and CALL not in calls.stopped
    calls.answer(CALL, "b", bye, 200)
    assert calls.state(CALL).phase == "ended" and CALL in calls.stopped
    ended = calls.journal[CALL][-1]
    assert isinstance(ended, CallEnded)
    assert (ended.cause, ended.by_leg, ended.status) == ("caller_hangup", "a", 200)


def test_callee_bye_ends_the_call() -> None:
    calls = Calls()
    invite_b = connected(calls)
    calls.peer_request(CALL, "b", callee_request(invite_b, "BYE", 2), peer=ANNA_PHONE)
    sent = calls.take(CALL)
    assert statuses(sent) == [200]
    bye = next(as_request(m.request) for m in sent if isinstance(m, SendRequest))
    assert bye.method == "BYE" and bye.to.tag == "ctag" and str(bye.uri) == \
        "sip:peer@192.0.2.10:5060"
    calls.answer(CALL, "a", bye, 200, tag="ctag")
    ended = calls.journal[CALL][-1]
    assert isinstance(ended, CallEnded) and ended.cause == "callee_hangup"


def test_cancel_before_any_provisional_waits_for_one_then_cancels() -> None:
    calls = Calls()
    calls.invite(CALL)
    invite_b = calls.locate(CALL, "b")
    calls.tell(CALL, CancelReceived(call_id=CALL, leg="a", tx="tx-a"))
    sent = calls.take(CALL)
    assert statuses(sent) == [487]
    assert not [m for m in sent if isinstance(m, SendRequest)]  # §9.1: no CANCEL yet
    calls.answer(CALL, "b", invite_b, 100)
    calls.answer(CALL, "b", invite_b, 180)
    cancel = calls.sent_request(CALL, "CANCEL")
    assert cancel.top_via.branch == invite_b.top_via.branch
    calls.answer(CALL, "b", invite_b, 487)
    ended = calls.journal[CALL][-1]
    assert isinstance(ended, CallEnded) and (ended.cause, ended.status) == ("caller_cancel", 487)
    assert CALL in calls.stopped


def test_a_2xx_crossing_our_cancel_is_acked_and_hung_up() -> None:
    calls = Calls()
    calls.invite(CALL)
    invite_b = calls.locate(CALL, "b")
    calls.answer(CALL, "b", invite_b, 180)
    calls.take(CALL)
    calls.tell(CALL, CancelReceived(call_id=CALL, leg="a", tx="tx-a"))
    assert calls.sent_request(CALL, "CANCEL").method == "CANCEL"
    calls.answer(CALL, "b", invite_b, 200, body=SDP_PHONE)
    sent = calls.take(CALL)
    methods = [m.request.split(b" ", 1)[0] for m in sent if isinstance(m, SendRequest)]
    assert methods == [b"ACK", b"BYE"]
    assert statuses(sent) == []  # the caller already had its 487
    assert calls.state(CALL).phase == "ending"


def test_no_answer_cancels_the_phone_and_tells_the_caller_480() -> None:
    calls = Calls()
    calls.invite(CALL)
    invite_b = calls.locate(CALL, "b")
    calls.answer(CALL, "b", invite_b, 180)
    calls.take(CALL)
    calls.tell(CALL, NoAnswer(leg="b"))
    sent = calls.take(CALL)
    assert 480 in statuses(sent)
    assert any(isinstance(m, SendRequest) and m.request.startswith(b"CANCEL") for m in sent)
    calls.answer(CALL, "b", invite_b, 487)
    ended = calls.journal[CALL][-1]
    assert isinstance(ended, CallEnded) and ended.cause == "no_answer"


def test_an_unregistered_agent_gets_the_caller_480() -> None:
    calls = Calls()
    calls.invite(CALL)
    calls.take(CALL)
    calls.tell(CALL, Located(call_id=CALL, leg="b", aor="sip:1001@127.0.0.1", contacts=()))
    assert statuses(calls.take(CALL)) == [480]
    ended = calls.journal[CALL][-1]
    assert isinstance(ended, CallEnded) and (ended.cause, ended.status) == ("not_registered",
                                                                            480)


@pytest.mark.parametrize(("route", "status", "cause"), [
    ("ivr:main", 480, "ivr_unavailable"), ("queue:nosuch", 404, "no_route"),
    ("agent:nobody", 404, "no_route"), ("nonsense", 404, "no_route"),
])
def test_routes_that_cannot_be_served_are_refused(route: str, status: int, cause: str) -> None:
    calls = Calls()
    calls.invite(CALL, route=route)
    assert statuses(calls.take(CALL)) == [status]
    assert calls.kinds(CALL) == ["call.created", "call.ended"]
    ended = calls.journal[CALL][-1]
    assert isinstance(ended, CallEnded) and ended.cause == cause
    assert CALL in calls.stopped


@pytest.mark.parametrize(("far", "caller", "cause"), [
    (486, 486, "busy"), (600, 600, "busy"), (603, 603, "rejected"), (404, 404, "not_found"),
    (408, 408, "no_answer"), (503, 500, "failed"), (401, 480, "failed"), (302, 480, "failed"),
])
def test_far_end_failures_reach_the_caller(far: int, caller: int, cause: str) -> None:
    assert failure_for_caller(far) == (caller, cause)
    calls = Calls()
    calls.invite(CALL)
    invite_b = calls.locate(CALL, "b")
    calls.answer(CALL, "b", invite_b, far)
    assert statuses(calls.take(CALL)) == [caller]
    ended = calls.journal[CALL][-1]
    assert isinstance(ended, CallEnded) and ended.cause == cause


def test_a_timed_out_invite_counts_as_408() -> None:
    calls = Calls()
    calls.invite(CALL)
    invite_b = calls.locate(CALL, "b")
    calls.tell(CALL, SipFailure(call_id=CALL, leg="b", tx=client_key(invite_b),
                                kind="timeout", method="INVITE"))
    assert statuses(calls.take(CALL)) == [408]


def test_a_delayed_offer_is_answered_in_the_callers_ack() -> None:
    calls = Calls()
    calls.invite(CALL, body=b"")
    invite_b = calls.locate(CALL, "b")
    assert invite_b.body == b""
    calls.answer(CALL, "b", invite_b, 200, body=SDP_PHONE)
    sent = calls.take(CALL)
    assert statuses(sent) == [200]
    assert not [m for m in sent if isinstance(m, SendRequest)]  # the phone's ACK waits
    calls.peer_request(CALL, "a", caller_request("ACK", 1, body=SDP_CALLER), tx=None)
    ack = calls.sent_request(CALL, "ACK")
    assert ack.body == SDP_CALLER and ack.to.tag == "far"


def test_a_stray_request_wakes_an_actor_that_answers_481_and_stops() -> None:
    calls = Calls()
    calls.peer_request("00000000000000ff", "a", caller_request("BYE", 2))
    assert statuses(calls.take("00000000000000ff")) == [481]
    assert "00000000000000ff" in calls.stopped
