"""The call actor inside established calls: hold/resume, blind and attended transfer, and a
restart from a snapshot in the middle of a call."""

from __future__ import annotations

from sip.message import Request
from telephony.messages import Contact, InviteReceived, Locate, Located, SendRequest
from telephony.service import telephony_codec
from tests.actors.call.support import (
    BRUNO_PHONE,
    SDP_CALLER,
    SDP_PHONE,
    SDP_TARGET,
    Calls,
    as_request,
    request_text,
    statuses,
)
from tests.actors.call.test_call_setup import callee_request, caller_request, connected

CALL = "00000000000000a1"
CONSULT = "00000000000000c2"
HOLD_SDP = SDP_CALLER.replace(b"a=sendrecv", b"a=sendonly")


def requests(calls: Calls, call_id: str) -> list[Request]:
    return [as_request(m.request) for m in calls.take(call_id) if isinstance(m, SendRequest)]


def test_hold_and_resume_are_relayed_and_journaled() -> None:
    calls = Calls()
    invite_b = connected(calls)
    calls.peer_request(CALL, "a", caller_request("INVITE", 2, body=HOLD_SDP))
    reinvite = calls.sent_request(CALL, "INVITE")
    assert reinvite.body == HOLD_SDP and reinvite.call_id == invite_b.call_id
    assert reinvite.cseq.seq == 2 and reinvite.to.tag == "far"
    calls.answer(CALL, "b", reinvite, 200, body=SDP_PHONE.replace(b"sendrecv", b"recvonly"))
    sent = calls.take(CALL)
    assert statuses(sent) == [200]
    assert [m.request.split(b" ")[0] for m in sent if isinstance(m, SendRequest)] == [b"ACK"]
    assert calls.kinds(CALL)[-1] == "call.held"
    calls.peer_request(CALL, "a", caller_request("INVITE", 3, body=SDP_CALLER))
    resume = calls.sent_request(CALL, "INVITE")
    calls.answer(CALL, "b", resume, 200, body=SDP_PHONE)
    assert calls.kinds(CALL)[-1] == "call.resumed"
    assert calls.state(CALL).relay is None and calls.state(CALL).held_by == ""


def test_a_reinvite_while_another_is_in_flight_gets_491() -> None:
    calls = Calls()
    invite_b = connected(calls)
    calls.peer_request(CALL, "a", caller_request("INVITE", 2, body=HOLD_SDP))
    calls.take(CALL)
    calls.peer_request(CALL, "b", callee_request(invite_b, "INVITE", 2, body=SDP_PHONE),
                       peer=BRUNO_PHONE)
    assert statuses(calls.take(CALL)) == [491]


def test_a_failed_reinvite_is_relayed_back() -> None:
    calls = Calls()
    connected(calls)
    calls.peer_request(CALL, "a", caller_request("INVITE", 2, body=HOLD_SDP))
    reinvite = calls.sent_request(CALL, "INVITE")
    calls.answer(CALL, "b", reinvite, 488)
    assert statuses(calls.take(CALL)) == [488]
    assert calls.state(CALL).phase == "connected"


def test_blind_transfer_joins_the_caller_with_the_target() -> None:
    calls = Calls()
    invite_b = connected(calls)
    refer = callee_request(invite_b, "REFER", 2, extra=("Refer-To: <sip:5001@127.0.0.1>",))
    calls.peer_request(CALL, "b", refer, peer=BRUNO_PHONE)
    sent = calls.take(CALL)
    assert statuses(sent) == [202]
    notify = next(as_request(m.request) for m in sent if isinstance(m, SendRequest))
    assert notify.method == "NOTIFY" and notify.body.startswith(b"SIP/2.0 100")
    assert notify.headers.get("Event") == "refer"
    locate = next(m for m in sent if isinstance(m, Locate))
    assert locate.aor == "sip:1002@127.0.0.1" and locate.leg == "c"
    calls.tell(CALL, Located(call_id=CALL, leg="c", aor=locate.aor, contacts=(
        Contact(uri="sip:1002@192.0.2.22:5064", peer=BRUNO_PHONE),)))
    invite_c = calls.sent_request(CALL, "INVITE")
    assert invite_c.body == b""  # no offer: the target makes one, the caller answers it
    calls.answer(CALL, "c", invite_c, 180)
    assert statuses(calls.take(CALL)) == []  # the caller hears nothing of the target ringing
    calls.answer(CALL, "c", invite_c, 200, body=SDP_TARGET, tag="tgt")
    reinvite_a = calls.sent_request(CALL, "INVITE")
    assert reinvite_a.body == SDP_TARGET and reinvite_a.to.tag == "ctag"
    calls.answer(CALL, "a", reinvite_a, 200, body=SDP_CALLER, tag="ctag")
    out = requests(calls, CALL)
    acks = [r for r in out if r.method == "ACK"]
    assert {(a.to.tag, a.body) for a in acks} == {("ctag", b""), ("tgt", SDP_CALLER)}
    final = next(r for r in out if r.method == "NOTIFY")
    assert final.body.startswith(b"SIP/2.0 200") and "terminated" in (
        final.headers.get("Subscription-State") or "")
    assert calls.state(CALL).bridge == ("a", "c")
    assert calls.kinds(CALL)[-1] == "call.transferred"
    # The transferor hangs up: only its leg ends.
    calls.peer_request(CALL, "b", callee_request(invite_b, "BYE", 3), peer=BRUNO_PHONE)
    assert statuses(calls.take(CALL)) == [200]
    assert calls.state(CALL).phase == "connected"
    # The caller hangs up: the target gets BYE, and the call ends.
    calls.peer_request(CALL, "a", caller_request("BYE", 2))
    bye_c = calls.sent_request(CALL, "BYE")
    assert bye_c.to.tag == "tgt"
    calls.answer(CALL, "c", bye_c, 200, tag="tgt")
    assert calls.kinds(CALL)[-1] == "call.ended" and CALL in calls.stopped


def test_a_transfer_to_a_busy_target_fails_and_the_call_goes_on() -> None:
    calls = Calls()
    invite_b = connected(calls)
    refer = callee_request(invite_b, "REFER", 2,
                           extra=("Refer-To: <sip:0612345678@127.0.0.1>",))
    calls.peer_request(CALL, "b", refer, peer=BRUNO_PHONE)
    calls.take(CALL)
    state = calls.state(CALL)
    assert state.transfer is not None and state.transfer.new_leg == "c"
    invite_c = as_request(state.legs["c"].invite)
    assert str(invite_c.uri) == "sip:+33612345678@192.0.2.10:5060"
    calls.answer(CALL, "c", invite_c, 486)
    notify = calls.sent_request(CALL, "NOTIFY")
    assert notify.body.startswith(b"SIP/2.0 486")
    assert calls.state(CALL).phase == "connected" and calls.state(CALL).bridge == ("a", "b")
    assert calls.journal[CALL][-1].outcome == "failed"  # type: ignore[attr-defined]


def test_attended_transfer_hands_the_consulted_leg_over() -> None:
    calls = Calls()
    invite_b = connected(calls)
    # The agent (anna, leg b of CALL) consults bruno: a second call through us.
    consult = request_text("INVITE", call_id="consult@anna", from_tag="anna2", body=SDP_PHONE,
                           uri="sip:5001@127.0.0.1", host="192.0.2.21")
    calls.tell(CONSULT, InviteReceived(
        call_id=CONSULT, tx="tx-c", request=consult, peer=BRUNO_PHONE, route="agent:bruno",
        caller="1001", dialled="5001", source="agent:anna"))
    invite_bruno = calls.locate(CONSULT, "b", BRUNO_PHONE)
    calls.answer(CONSULT, "b", invite_bruno, 200, body=SDP_TARGET, tag="bru")
    calls.take(CONSULT)
    # anna: REFER on the first call, replacing her consultation dialog (our tag is to-tag).
    replaces = f"consult%40anna%3Bto-tag%3D{CONSULT}.a%3Bfrom-tag%3Danna2"
    refer = callee_request(invite_b, "REFER", 2, extra=(
        f"Refer-To: <sip:5001@127.0.0.1?Replaces={replaces}>",))
    calls.peer_request(CALL, "b", refer, peer=BRUNO_PHONE)
    sent = calls.take(CALL)
    assert statuses(sent) == [202]
    # The consultation call handed bruno's leg over and hung up on anna's consult leg.
    consult_out = requests(calls, CONSULT)
    assert [r.method for r in consult_out] == ["BYE"] and consult_out[0].to.tag == "anna2"
    assert calls.state(CONSULT).moved == {f"{CONSULT}.b": CALL}
    moved = calls.state(CALL).legs["c"]
    assert moved.alias == f"{CONSULT}.b" and moved.moved_from == CONSULT
    # We re-INVITE bruno without SDP, then offer his answer's offer to the caller.
    reinvite_c = next(as_request(m.request) for m in sent if isinstance(m, SendRequest)
                      and m.request.startswith(b"INVITE"))
    assert reinvite_c.body == b"" and reinvite_c.to.tag == "bru"
    calls.answer(CALL, "c", reinvite_c, 200, body=SDP_TARGET, tag="bru")
    reinvite_a = calls.sent_request(CALL, "INVITE")
    assert reinvite_a.body == SDP_TARGET
    calls.answer(CALL, "a", reinvite_a, 200, body=SDP_CALLER, tag="ctag")
    out = requests(calls, CALL)
    assert {(r.method, r.to.tag) for r in out if r.method == "ACK"} == {("ACK", "ctag"),
                                                                        ("ACK", "bru")}
    assert calls.kinds(CALL)[-1] == "call.transferred"
    assert calls.journal[CALL][-1].kind == "attended"  # type: ignore[attr-defined]
    # anna's consult leg answers our BYE: the consultation call waits for its moved leg.
    calls.answer(CONSULT, "a", consult_out[0], 200, tag="anna2")
    assert calls.state(CONSULT).phase == "ending" and CONSULT not in calls.stopped
    # bruno hangs up: his request carries the consultation's tag and is forwarded to CALL.
    bye = request_text("BYE", call_id=invite_bruno.call_id, from_tag="bru",
                       to_tag=f"{CONSULT}.b", cseq=5, host="192.0.2.22")
    calls.peer_request(CONSULT, "b", bye, peer=BRUNO_PHONE)
    sent = calls.take(CALL)
    assert statuses(sent) == [200]
    byes = {r.to.tag: r for m in sent if isinstance(m, SendRequest)
            for r in [as_request(m.request)]}
    assert set(byes) == {"ctag", "far"}  # the caller, and anna who never hung up
    calls.answer(CALL, "a", byes["ctag"], 200, tag="ctag")
    calls.answer(CALL, "b", byes["far"], 200)
    assert CALL in calls.stopped and CONSULT in calls.stopped
    assert calls.journal[CONSULT][-1].cause == "transferred"  # type: ignore[attr-defined]


def test_a_restarted_actor_continues_its_dialogs_from_its_snapshot() -> None:
    calls = Calls()
    invite_b = connected(calls)
    codec = telephony_codec()
    calls.states[CALL] = codec.decode(codec.encode(calls.state(CALL)))  # type: ignore[assignment]
    calls.peer_request(CALL, "b", callee_request(invite_b, "BYE", 2), peer=BRUNO_PHONE)
    sent = calls.take(CALL)
    assert statuses(sent) == [200]
    bye_a = next(as_request(m.request) for m in sent if isinstance(m, SendRequest))
    assert bye_a.to.tag == "ctag" and bye_a.cseq.seq == 1
