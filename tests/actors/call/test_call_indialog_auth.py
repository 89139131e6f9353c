"""A trunk challenges a request we send inside the dialog (re-INVITE, BYE, NOTIFY): the call
actor sends it again once with the trunk's credentials (RFC 3261 §22.2, §14.1); a second
challenge, or one from a peer we have no credentials for, fails the request as before."""

from __future__ import annotations

from actors.call.messages import CallEnded
from sip.digest import DigestServer, parse_auth_header
from sip.message import Request
from sip.transaction_layer import client_key
from telephony.messages import SendRequest, SipFailure
from telephony.service import telephony_codec
from tests.actors.call.support import (
    ANNA_PHONE,
    SDP_CALLER,
    SDP_PHONE,
    Calls,
    as_request,
    request_text,
    statuses,
)
from tests.actors.call.test_call_trunk_auth import CALL, PROVIDER, REALM, calls, dial_out, ha1

HOLD = SDP_CALLER.replace(b"a=sendrecv", b"a=sendonly")


def caller_request(method: str, cseq: int, *, body: bytes = b"") -> bytes:
    return request_text(method, call_id="c1@carrier", from_tag="ctag", to_tag=f"{CALL}.a",
                        cseq=cseq, body=body, branch=f"z9hG4bKc{method}{cseq}")


def requests(c: Calls) -> list[Request]:
    return [as_request(m.request) for m in c.take(CALL) if isinstance(m, SendRequest)]


def connected_through_the_provider(c: Calls) -> Request:
    invite = dial_out(c)
    c.answer(CALL, "b", invite, 200, body=SDP_PHONE, contact="<sip:uas@192.0.2.50:5080>")
    c.take(CALL)
    c.peer_request(CALL, "a", caller_request("ACK", 1), tx=None)
    return invite


def server(*, proxy: bool) -> DigestServer:
    return DigestServer(realm=REALM, secret=b"k" * 32, algorithms=("MD5",), proxy=proxy)


def challenged(c: Calls, request: Request, srv: DigestServer, leg: str = "b") -> Request:
    """The peer challenges ``request``; the request the actor sends again."""
    verdict = srv.verify(request, now=0.0, ha1_lookup=ha1)
    assert not verdict.ok
    c.answer(CALL, leg, request, verdict.status, headers=verdict.headers)
    out = c.take(CALL)
    assert statuses(out) == []  # the other leg hears nothing of it
    [again] = [as_request(m.request) for m in out if isinstance(m, SendRequest)]
    return again


def test_a_challenged_hold_reinvite_is_sent_again_with_credentials() -> None:
    c = calls()
    connected_through_the_provider(c)
    c.peer_request(CALL, "a", caller_request("INVITE", 2, body=HOLD))
    [reinvite] = requests(c)
    assert len(c.state(CALL).legs["b"].in_flight) == 1
    proxy = server(proxy=True)
    again = challenged(c, reinvite, proxy)
    # the same dialog and offer; a new CSeq (§14.1) and branch; the credentials
    assert again.method == "INVITE" and again.call_id == reinvite.call_id
    assert (again.from_.tag, again.to.tag) == (reinvite.from_.tag, reinvite.to.tag)
    assert again.cseq.seq == reinvite.cseq.seq + 1 and again.body == HOLD
    assert again.top_via.branch != reinvite.top_via.branch
    assert str(again.uri) == str(reinvite.uri) == "sip:uas@192.0.2.50:5080"
    assert proxy.verify(again, now=0.0, ha1_lookup=ha1).ok
    assert c.state(CALL).legs["b"].tx != client_key(again)  # the dialog's INVITE stays its own
    c.answer(CALL, "b", again, 200, body=SDP_PHONE.replace(b"sendrecv", b"recvonly"))
    out = c.take(CALL)
    assert statuses(out) == [200]
    [ack] = [as_request(m.request) for m in out if isinstance(m, SendRequest)]
    assert ack.method == "ACK" and ack.cseq.seq == again.cseq.seq  # the INVITE answered
    assert c.kinds(CALL)[-1] == "call.held"
    state = c.state(CALL)
    assert state.relay is None and state.legs["b"].in_flight == ()


def test_a_second_challenge_fails_the_reinvite_as_before() -> None:
    c = calls()
    connected_through_the_provider(c)
    c.peer_request(CALL, "a", caller_request("INVITE", 2, body=HOLD))
    [reinvite] = requests(c)
    proxy = server(proxy=True)
    again = challenged(c, reinvite, proxy)
    c.answer(CALL, "b", again, 407, headers=proxy.challenge(1.0).headers)
    out = c.take(CALL)
    assert statuses(out) == [407] and not [m for m in out if isinstance(m, SendRequest)]
    state = c.state(CALL)
    assert state.relay is None and state.phase == "connected"
    assert state.legs["b"].in_flight == ()
    # the dialog is usable again: the next re-INVITE goes out
    c.peer_request(CALL, "a", caller_request("INVITE", 3, body=SDP_CALLER))
    [resume] = requests(c)
    assert resume.method == "INVITE" and resume.cseq.seq == again.cseq.seq + 1


def test_a_challenged_bye_is_sent_again_and_the_call_ends_on_its_200() -> None:
    c = calls()
    connected_through_the_provider(c)
    c.peer_request(CALL, "a", caller_request("BYE", 2))
    [bye] = requests(c)
    uas = server(proxy=False)
    again = challenged(c, bye, uas)
    assert again.method == "BYE" and again.cseq.seq == bye.cseq.seq + 1
    assert again.headers.get("Proxy-Authorization") is None
    assert uas.verify(again, now=0.0, ha1_lookup=ha1).ok
    _scheme, params = parse_auth_header(again.headers.get("Authorization") or "")
    assert params["username"] == "acct" and params["uri"] == str(bye.uri)
    assert c.state(CALL).phase == "ending"
    c.answer(CALL, "b", again, 200)
    ended = c.journal[CALL][-1]
    assert isinstance(ended, CallEnded) and ended.cause == "caller_hangup"
    assert CALL in c.stopped


def test_a_bye_challenged_twice_ends_the_leg_as_before() -> None:
    c = calls()
    connected_through_the_provider(c)
    c.peer_request(CALL, "a", caller_request("BYE", 2))
    [bye] = requests(c)
    uas = server(proxy=False)
    again = challenged(c, bye, uas)
    c.answer(CALL, "b", again, 401, headers=uas.challenge(1.0).headers)
    assert requests(c) == []
    assert c.state(CALL).phase == "ended" and CALL in c.stopped


def test_a_challenged_notify_to_a_transferor_on_the_trunk_is_answered() -> None:
    c = calls()
    invite = connected_through_the_provider(c)
    refer = request_text(
        "REFER", call_id=invite.call_id, from_tag="far", to_tag=f"{CALL}.b", cseq=2,
        uri="sip:contactor@127.0.0.1:5060", host="192.0.2.50",
        extra=["Refer-To: <sip:5000@127.0.0.1>"])
    c.peer_request(CALL, "b", refer, peer=PROVIDER)
    notify = next(r for r in requests(c) if r.method == "NOTIFY")
    again = challenged(c, notify, server(proxy=True))
    assert again.method == "NOTIFY" and again.body == notify.body
    assert again.headers.get("Event") == "refer" and again.cseq.seq == notify.cseq.seq + 1
    c.answer(CALL, "b", again, 200)
    assert c.state(CALL).legs["b"].in_flight == ()


def test_a_restarted_actor_answers_a_challenge_to_a_request_sent_before() -> None:
    c = calls()
    connected_through_the_provider(c)
    c.peer_request(CALL, "a", caller_request("INVITE", 2, body=HOLD))
    [reinvite] = requests(c)
    codec = telephony_codec()
    c.states[CALL] = codec.decode(codec.encode(c.state(CALL)))  # type: ignore[assignment]
    proxy = server(proxy=True)
    again = challenged(c, reinvite, proxy)
    assert proxy.verify(again, now=0.0, ha1_lookup=ha1).ok


def test_a_timed_out_request_is_forgotten() -> None:
    c = calls()
    connected_through_the_provider(c)
    c.peer_request(CALL, "a", caller_request("INVITE", 2, body=HOLD))
    [reinvite] = requests(c)
    c.tell(CALL, SipFailure(call_id=CALL, leg="b", tx=client_key(reinvite), kind="timeout",
                            method="INVITE"))
    assert statuses(c.take(CALL)) == [408]
    assert c.state(CALL).legs["b"].in_flight == ()


def test_nothing_is_kept_for_a_phone_and_its_challenge_ends_the_leg_as_before() -> None:
    c = calls()
    c.invite(CALL, route="agent:anna")
    invite = c.locate(CALL, "b", ANNA_PHONE)
    c.answer(CALL, "b", invite, 200, body=SDP_PHONE)
    c.take(CALL)
    c.peer_request(CALL, "a", caller_request("BYE", 2))
    [bye] = requests(c)
    assert c.state(CALL).legs["b"].in_flight == ()
    c.answer(CALL, "b", bye, 401, headers=server(proxy=False).challenge(1.0).headers)
    assert requests(c) == [] and c.state(CALL).phase == "ended"
