"""Parallel forking: an agent registered from a desk phone and a softphone gets both rung at
once; the first 2xx wins, the other fork is CANCELled (or ACKed and BYEd if its 2xx crosses
our CANCEL), and when every fork fails the caller hears the best status (RFC 3261 §16.6-16.7).
"""

from __future__ import annotations

from dataclasses import fields, replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from actors.agent.messages import Answered, CallEnded, CancelRing, Reject, Ring, RingPhone
from actors.call.behaviour import CallBehaviour
from actors.call.forking import MAX_FORKS, best_final
from actors.call.messages import CallAnswered, CallState, Leg, NoAnswer
from actors.call.messages import CallEnded as CallEndedEvent
from media.messages import Bridge, CloseEndpoint, SetRemote
from sip.message import Request
from sip.transaction_layer import client_key
from telephony.messages import (
    CancelReceived,
    Contact,
    Locate,
    Located,
    MediaOpened,
    OpenMedia,
    Peer,
    SendRequest,
    SendResponse,
    SipFailure,
)
from telephony.service import telephony_codec
from tests.actors.call.support import (
    ANNA_PHONE,
    BRUNO_PHONE,
    SDP_CALLER,
    SDP_PHONE,
    SDP_TARGET,
    Calls,
    as_request,
    as_response,
    statuses,
)
from tests.actors.call.test_call_acd import acd_calls, queued, told
from tests.actors.call.test_call_setup import callee_request, caller_request, connected

CALL = "00000000000000a1"
SOFTPHONE = Peer(transport="UDP", host="192.0.2.31", port=5070)
SDP_SOFT = SDP_PHONE.replace(b"41000", b"43000").replace(b"o=phone", b"o=soft")


def sent(calls: Calls) -> list[tuple[Request, Peer | None]]:
    return [(as_request(m.request), m.peer) for m in calls.take(CALL)
            if isinstance(m, SendRequest)]


def fork(calls: Calls, peers: tuple[Peer, ...] = (ANNA_PHONE, SOFTPHONE)
         ) -> dict[str, Request]:
    """Answer the actor's Locate with one contact per peer; the INVITEs by leg name."""
    locate = next(m for m in calls.take(CALL) if isinstance(m, Locate))
    contacts = tuple(Contact(uri=f"sip:1001@{p.host}:{p.port}", peer=p, q=1.0 - i / 10)
                     for i, p in enumerate(peers))
    calls.tell(CALL, Located(call_id=CALL, leg=locate.leg, aor=locate.aor, contacts=contacts))
    out = sent(calls)
    assert [r.method for r, _ in out] == ["INVITE"] * len(peers)
    assert [peer for _, peer in out] == list(peers)
    return {str(r.from_.tag).rpartition(".")[2]: r for r, _ in out}


def ringing(calls: Calls) -> dict[str, Request]:
    calls.invite(CALL)
    invites = fork(calls)
    calls.answer(CALL, "b", invites["b"], 180, tag="desk")
    calls.answer(CALL, "b2", invites["b2"], 180, tag="soft")
    calls.take(CALL)
    return invites


def test_every_contact_gets_an_invite_of_its_own_at_once() -> None:
    calls = Calls()
    calls.invite(CALL)
    invites = fork(calls)
    desk, soft = invites["b"], invites["b2"]
    assert str(desk.uri) == "sip:1001@192.0.2.21:5062"
    assert str(soft.uri) == "sip:1001@192.0.2.31:5070"
    # separate B2BUA legs: their own Call-ID, From tag and branch (see actors.call.forking)
    assert desk.call_id != soft.call_id and soft.from_.tag == f"{CALL}.b2"
    assert (soft.top_via.branch or "").startswith(f"z9hG4bK{CALL}.b2.")
    assert desk.body == soft.body == SDP_CALLER  # relay mode: the caller's offer to each
    assert desk.max_forwards == soft.max_forwards == 69
    assert str(desk.to.uri) == str(soft.to.uri) == "sip:1001@127.0.0.1"
    assert calls.state(CALL).legs["b2"].fork_of == "b"
    assert set(calls.timers[CALL]) == {"ring:b"}  # one ring timer for the offer
    assert calls.state(CALL).phase == "ringing"


def test_the_caller_hears_ringing_once_and_early_media_of_the_first_fork_with_sdp() -> None:
    calls = Calls()
    calls.invite(CALL)
    invites = fork(calls)
    calls.answer(CALL, "b", invites["b"], 180, tag="desk")
    assert statuses(calls.take(CALL)) == [180]
    calls.answer(CALL, "b2", invites["b2"], 180, tag="soft")
    assert statuses(calls.take(CALL)) == []
    calls.answer(CALL, "b2", invites["b2"], 183, tag="soft", body=SDP_SOFT)
    [early] = calls.responses(CALL)
    assert (early.status, early.body, early.to.tag) == (183, SDP_SOFT, f"{CALL}.a")
    calls.answer(CALL, "b", invites["b"], 183, tag="desk", body=SDP_PHONE)
    assert statuses(calls.take(CALL)) == []  # the caller keeps the first early media
    assert calls.kinds(CALL) == ["call.created", "call.ringing"]


def test_the_first_2xx_wins_and_the_other_fork_is_cancelled() -> None:
    calls = Calls()
    invites = ringing(calls)
    calls.answer(CALL, "b2", invites["b2"], 200, tag="soft", body=SDP_SOFT)
    out = calls.take(CALL)
    [ok] = [as_response(m.response) for m in out if isinstance(m, SendResponse)]
    assert ok.status == 200 and ok.body == SDP_SOFT  # the winner's answer
    requests = {(r.method, r.call_id): r for m in out if isinstance(m, SendRequest)
                for r in [as_request(m.request)]}
    ack = requests[("ACK", invites["b2"].call_id)]
    cancel = requests[("CANCEL", invites["b"].call_id)]
    assert len(requests) == 2 and ack.to.tag == "soft"
    assert cancel.top_via.branch == invites["b"].top_via.branch  # §9.1: the INVITE's branch
    assert "cause=200" in (cancel.headers.get("Reason") or "")  # RFC 3326: elsewhere
    assert calls.state(CALL).bridge == ("a", "b2")
    calls.answer(CALL, "b", invites["b"], 487, tag="desk")
    assert calls.state(CALL).legs["b"].status == "ended"
    assert calls.state(CALL).phase == "connected" and statuses(calls.take(CALL)) == []
    calls.peer_request(CALL, "a", caller_request("ACK", 1), tx=None)
    calls.peer_request(CALL, "a", caller_request("BYE", 2))
    [(bye, _)] = sent(calls)
    assert bye.method == "BYE" and bye.call_id == invites["b2"].call_id
    calls.answer(CALL, "b2", bye, 200, tag="soft")
    assert calls.kinds(CALL) == ["call.created", "call.ringing", "call.answered",
                                 "call.ended"]
    answered = calls.journal[CALL][2]
    assert isinstance(answered, CallAnswered) and answered.leg == "b2"
    assert CALL in calls.stopped


def test_a_fork_that_did_not_ring_yet_is_cancelled_after_its_first_provisional() -> None:
    calls = Calls()
    calls.invite(CALL)
    invites = fork(calls)
    calls.answer(CALL, "b", invites["b"], 200, tag="desk", body=SDP_PHONE)
    assert [r.method for r, _ in sent(calls)] == ["ACK"]  # §9.1: no CANCEL before a 1xx
    assert calls.state(CALL).legs["b2"].status == "cancelling"
    calls.answer(CALL, "b2", invites["b2"], 180, tag="soft")
    [(cancel, peer)] = sent(calls)
    assert cancel.method == "CANCEL" and cancel.call_id == invites["b2"].call_id
    assert peer == SOFTPHONE and "cause=200" in (cancel.headers.get("Reason") or "")
    assert statuses(calls.take(CALL)) == []  # the caller is answered: no 180 for it


def test_a_2xx_from_the_loser_after_the_winner_is_acked_and_byed_at_once() -> None:
    calls = Calls()
    invites = ringing(calls)
    calls.answer(CALL, "b", invites["b"], 200, tag="desk", body=SDP_PHONE)
    calls.take(CALL)
    calls.answer(CALL, "b2", invites["b2"], 200, tag="soft", body=SDP_SOFT)
    out = calls.take(CALL)
    assert statuses(out) == []  # the caller never hears of the second answer
    requests = [as_request(m.request) for m in out if isinstance(m, SendRequest)]
    assert [(r.method, r.call_id, r.to.tag) for r in requests] == [
        ("ACK", invites["b2"].call_id, "soft"), ("BYE", invites["b2"].call_id, "soft")]
    assert calls.state(CALL).bridge == ("a", "b")
    calls.answer(CALL, "b2", requests[1], 200, tag="soft")
    calls.answer(CALL, "b2", invites["b2"], 487, tag="soft")  # a stray answer to our CANCEL
    state = calls.state(CALL)
    assert state.legs["b2"].status == "ended" and state.phase == "connected"
    assert [e for e in calls.kinds(CALL) if e == "call.answered"] == ["call.answered"]


@pytest.mark.parametrize("late", ["timeout", "180", "200"])
def test_a_dead_fork_does_not_hold_the_end_of_the_call_up(late: str) -> None:
    calls = Calls()
    calls.invite(CALL)
    invites = fork(calls)  # the softphone's contact is stale: it never answers anything
    calls.answer(CALL, "b", invites["b"], 180, tag="desk")
    calls.answer(CALL, "b", invites["b"], 200, tag="desk", body=SDP_PHONE)
    calls.peer_request(CALL, "a", caller_request("ACK", 1), tx=None)
    calls.take(CALL)
    calls.peer_request(CALL, "a", caller_request("BYE", 2))
    [(bye, _)] = sent(calls)
    calls.answer(CALL, "b", bye, 200, tag="desk")
    assert calls.kinds(CALL)[-1] == "call.ended"  # at once, not after Timer B
    assert calls.state(CALL).phase == "ended" and CALL not in calls.stopped
    soft = invites["b2"]
    if late == "timeout":  # Timer B: the INVITE is over
        calls.tell(CALL, SipFailure(call_id=CALL, leg="b2", tx=client_key(soft),
                                    kind="timeout", method="INVITE"))
        assert sent(calls) == []
    elif late == "180":  # it was alive after all: now it can be CANCELled (§9.1)
        calls.answer(CALL, "b2", soft, 180, tag="soft")
        [(cancel, _)] = sent(calls)
        assert cancel.method == "CANCEL" and CALL not in calls.stopped
        calls.answer(CALL, "b2", soft, 487, tag="soft")
    else:  # it answered: ACK and BYE (§13.2.2.4)
        calls.answer(CALL, "b2", soft, 200, tag="soft", body=SDP_SOFT)
        out = sent(calls)
        assert [r.method for r, _ in out] == ["ACK", "BYE"] and CALL not in calls.stopped
        calls.answer(CALL, "b2", out[1][0], 200, tag="soft")
    assert CALL in calls.stopped
    assert calls.kinds(CALL).count("call.ended") == 1


@pytest.mark.parametrize(("desk", "soft", "caller", "cause"), [
    (480, 486, 486, "busy"), (404, 480, 480, "no_answer"), (503, 404, 404, "not_found"),
    (500, 503, 500, "failed"), (401, 408, 408, "no_answer"), (302, 486, 480, "failed"),
])
def test_when_every_fork_fails_the_caller_hears_the_best_status(
        desk: int, soft: int, caller: int, cause: str) -> None:
    calls = Calls()
    invites = ringing(calls)
    calls.answer(CALL, "b", invites["b"], desk, tag="desk")
    assert statuses(calls.take(CALL)) == []  # the softphone still rings
    assert calls.state(CALL).phase == "ringing"
    calls.answer(CALL, "b2", invites["b2"], soft, tag="soft")
    assert statuses(calls.take(CALL)) == [caller]
    ended = calls.journal[CALL][-1]
    assert isinstance(ended, CallEndedEvent)
    assert (ended.cause, ended.status, ended.by_leg) == (cause, caller, "b")


def test_a_6xx_from_one_fork_ends_the_search_at_once() -> None:
    calls = Calls()
    invites = ringing(calls)
    calls.answer(CALL, "b2", invites["b2"], 603, tag="soft")
    out = calls.take(CALL)
    assert statuses(out) == [603]
    [cancel] = [as_request(m.request) for m in out if isinstance(m, SendRequest)]
    assert cancel.method == "CANCEL" and cancel.call_id == invites["b"].call_id
    assert "Reason" not in cancel.headers  # nobody answered elsewhere
    calls.answer(CALL, "b", invites["b"], 487, tag="desk")
    ended = calls.journal[CALL][-1]
    assert isinstance(ended, CallEndedEvent) and (ended.cause, ended.status) == ("rejected", 603)
    assert CALL in calls.stopped


@pytest.mark.parametrize("desk_failed_first", [False, True])
def test_no_answer_cancels_every_fork_still_ringing(desk_failed_first: bool) -> None:
    calls = Calls()
    invites = ringing(calls)
    if desk_failed_first:
        calls.answer(CALL, "b", invites["b"], 486, tag="desk")
        calls.take(CALL)
    calls.tell(CALL, NoAnswer(leg="b"))
    out = calls.take(CALL)
    assert statuses(out) == [480]
    cancelled = {r.call_id for m in out if isinstance(m, SendRequest)
                 for r in [as_request(m.request)] if r.method == "CANCEL"}
    expected = {"b2"} if desk_failed_first else {"b", "b2"}
    assert cancelled == {invites[leg].call_id for leg in expected}
    for leg in sorted(expected):
        calls.answer(CALL, leg, invites[leg], 487, tag=leg)
    ended = calls.journal[CALL][-1]
    assert isinstance(ended, CallEndedEvent) and ended.cause == "no_answer"


def test_the_caller_cancelling_cancels_every_fork() -> None:
    calls = Calls()
    calls.invite(CALL)
    invites = fork(calls, (ANNA_PHONE, SOFTPHONE, replace(SOFTPHONE, port=5072)))
    calls.answer(CALL, "b", invites["b"], 180, tag="desk")
    calls.answer(CALL, "b3", invites["b3"], 180, tag="third")
    calls.take(CALL)  # b2 has not answered anything yet
    calls.tell(CALL, CancelReceived(call_id=CALL, leg="a", tx="tx-a"))
    out = calls.take(CALL)
    assert statuses(out) == [487]
    assert sorted(as_request(m.request).call_id for m in out if isinstance(m, SendRequest)) \
        == sorted(invites[leg].call_id for leg in ("b", "b3"))
    calls.answer(CALL, "b2", invites["b2"], 180, tag="soft")  # its CANCEL goes now
    [(cancel, _)] = sent(calls)
    assert cancel.method == "CANCEL" and cancel.call_id == invites["b2"].call_id
    for leg, tag in (("b", "desk"), ("b2", "soft"), ("b3", "third")):
        assert calls.state(CALL).phase == "ending"
        calls.answer(CALL, leg, invites[leg], 487, tag=tag)
    ended = calls.journal[CALL][-1]
    assert isinstance(ended, CallEndedEvent) and (ended.cause, ended.status) == \
        ("caller_cancel", 487)


def test_a_blind_transfer_to_an_agent_with_two_phones_joins_the_phone_that_answers() -> None:
    calls = Calls()
    invite_b = connected(calls)
    refer = callee_request(invite_b, "REFER", 2, extra=("Refer-To: <sip:5001@127.0.0.1>",))
    calls.peer_request(CALL, "b", refer, peer=BRUNO_PHONE)
    invites = fork(calls, (BRUNO_PHONE, SOFTPHONE))
    assert set(invites) == {"c", "c2"}
    assert invites["c"].body == invites["c2"].body == b""  # targets make the offer
    calls.answer(CALL, "c", invites["c"], 180, tag="desk")
    calls.answer(CALL, "c2", invites["c2"], 180, tag="soft")
    assert statuses(calls.take(CALL)) == []  # transfer targets ring silently
    calls.answer(CALL, "c2", invites["c2"], 200, tag="soft", body=SDP_TARGET)
    out = {r.call_id: r for r, _ in sent(calls)}
    assert out[invites["c"].call_id].method == "CANCEL"  # the other phone stops ringing
    reinvite_a = next(r for r in out.values() if r.method == "INVITE")
    assert reinvite_a.body == SDP_TARGET and reinvite_a.to.tag == "ctag"
    assert calls.state(CALL).transfer is not None
    assert calls.state(CALL).transfer.new_leg == "c2"  # type: ignore[union-attr]
    calls.answer(CALL, "a", reinvite_a, 200, body=SDP_CALLER, tag="ctag")
    acks = {(r.call_id, r.body) for r, _ in sent(calls) if r.method == "ACK"}
    # the caller's 2xx is ACKed, and its answer goes to the phone that answered, in our ACK
    assert acks == {("c1@carrier", b""), (invites["c2"].call_id, SDP_CALLER)}
    assert calls.state(CALL).bridge == ("a", "c2")
    assert calls.kinds(CALL)[-1] == "call.transferred"


def test_a_restarted_actor_finishes_the_search_from_its_snapshot() -> None:
    calls = Calls()
    invites = ringing(calls)
    codec = telephony_codec()
    calls.states[CALL] = codec.decode(codec.encode(calls.state(CALL)))  # type: ignore[assignment]
    assert calls.state(CALL).legs["b2"].fork_of == "b"
    calls.answer(CALL, "b2", invites["b2"], 200, tag="soft", body=SDP_SOFT)
    out = calls.take(CALL)
    assert statuses(out) == [200]
    assert sorted(as_request(m.request).method for m in out if isinstance(m, SendRequest)) \
        == ["ACK", "CANCEL"]
    assert calls.state(CALL).bridge == ("a", "b2")


def test_a_snapshot_from_before_forking_still_decodes_and_the_call_goes_on() -> None:
    calls = Calls()
    calls.invite(CALL)
    invite = calls.locate(CALL, "b")
    codec = telephony_codec()
    tag, version, values = codec.to_obj(calls.state(CALL))
    names = [f.name for f in fields(CallState)]
    assert names[-2:] == ["early_from", "quality_pending"] and [
        f.name for f in fields(Leg)][-2:] == ["fork_of", "in_flight"]  # at the end, defaulted
    old = list(values)[:-2]
    legs = names.index("legs")
    old[legs] = {name: list(leg)[:-2] for name, leg in values[legs].items()}
    calls.states[CALL] = codec.from_obj([tag, version, old])  # type: ignore[assignment]
    assert calls.state(CALL).legs["b"].fork_of == ""
    calls.answer(CALL, "b", invite, 200, body=SDP_PHONE)
    assert statuses(calls.take(CALL)) == [200]


def test_at_most_max_forks_contacts_ring() -> None:
    calls = Calls()
    calls.invite(CALL)
    peers = tuple(replace(SOFTPHONE, port=6000 + i) for i in range(MAX_FORKS + 2))
    locate = next(m for m in calls.take(CALL) if isinstance(m, Locate))
    contacts = tuple(Contact(uri=f"sip:1001@{p.host}:{p.port}", peer=p) for p in peers)
    calls.tell(CALL, Located(call_id=CALL, leg="b", aor=locate.aor, contacts=contacts))
    assert [peer for _, peer in sent(calls)] == list(peers[:MAX_FORKS])
    assert sorted(calls.state(CALL).legs) == sorted(
        ["a", "b", *(f"b{n}" for n in range(2, MAX_FORKS + 1))])


def test_an_agent_with_two_phones_gets_one_offer_whichever_phone_answers() -> None:
    calls = acd_calls()
    queued(calls)
    calls.tell(CALL, RingPhone(call_id=CALL, agent="anna", phone_uri="sip:1001@127.0.0.1",
                               ring_timeout_s=20))
    invites = fork(calls)
    calls.answer(CALL, "b", invites["b"], 180, tag="desk")
    calls.answer(CALL, "b2", invites["b2"], 180, tag="soft")
    assert told(calls, "agent/anna") == [Ring(call_id=CALL)]
    calls.answer(CALL, "b2", invites["b2"], 200, tag="soft", body=SDP_SOFT)
    assert told(calls, "agent/anna") == [Ring(call_id=CALL), Answered(call_id=CALL)]
    state = calls.state(CALL)
    assert state.legs["b2"].acd and not state.legs["b"].acd
    calls.answer(CALL, "b", invites["b"], 487, tag="desk")
    calls.take(CALL)
    calls.peer_request(CALL, "a", caller_request("BYE", 2))
    [(bye, _)] = sent(calls)
    calls.answer(CALL, "b2", bye, 200, tag="soft")
    assert told(calls, "agent/anna")[2:] == [CallEnded(call_id=CALL)]  # one end too


def test_cancel_ring_stops_every_phone_even_after_one_declined() -> None:
    calls = acd_calls()
    queued(calls)
    calls.tell(CALL, RingPhone(call_id=CALL, agent="anna", phone_uri="sip:1001@127.0.0.1",
                               ring_timeout_s=20))
    invites = fork(calls)
    calls.answer(CALL, "b", invites["b"], 180, tag="desk")
    calls.answer(CALL, "b2", invites["b2"], 180, tag="soft")
    calls.answer(CALL, "b", invites["b"], 486, tag="desk")  # busy on the desk phone...
    assert told(calls, "agent/anna") == [Ring(call_id=CALL)]  # ...not yet a rejection
    calls.take(CALL)
    calls.tell(CALL, CancelRing(call_id=CALL, agent="anna", reason="no_answer"))
    [(cancel, _)] = sent(calls)
    assert cancel.method == "CANCEL" and cancel.call_id == invites["b2"].call_id
    assert calls.state(CALL).phase == "queued"
    calls.answer(CALL, "b2", invites["b2"], 487, tag="soft")
    assert Reject(call_id=CALL) not in told(calls, "agent/anna")


@pytest.mark.parametrize("desk_failed_first", [False, True])
def test_anchored_every_fork_gets_the_endpoints_offer_and_the_winner_gets_the_endpoint(
        desk_failed_first: bool) -> None:
    settings_ = replace(acd_calls().behaviour.settings, media="anchored")
    calls = Calls(behaviour=CallBehaviour(settings_))
    calls.invite(CALL, route="queue:sales")
    calls.take(CALL)
    calls.tell(CALL, MediaOpened(call_id=CALL, leg="a", endpoint="ep-a", host="127.0.0.5",
                                 port=30000))
    calls.take(CALL)
    calls.peer_request(CALL, "a", caller_request("ACK", 1), tx=None)
    calls.tell(CALL, RingPhone(call_id=CALL, agent="anna", phone_uri="sip:1001@127.0.0.1",
                               ring_timeout_s=20))
    [open_b] = [m for m in calls.sent[CALL] if isinstance(m, OpenMedia)]
    calls.tell(CALL, MediaOpened(call_id=CALL, leg=open_b.leg, endpoint="ep-b",
                                 host="127.0.0.5", port=30002))
    invites = fork(calls)
    offer = invites["b"].body
    assert offer == invites["b2"].body and b"m=audio 30002" in offer
    calls.answer(CALL, "b", invites["b"], 180, tag="desk")
    if desk_failed_first:
        calls.answer(CALL, "b", invites["b"], 486, tag="desk")
        assert calls.state(CALL).phase == "ringing"
    calls.answer(CALL, "b2", invites["b2"], 200, tag="soft", body=SDP_SOFT)
    media = told(calls, f"media/{CALL}")
    remote = next(m for m in media if isinstance(m, SetRemote) and m.endpoint == "ep-b")
    assert remote.port == 43000  # the softphone's answer
    assert Bridge(a="ep-a", b="ep-b") in media
    state = calls.state(CALL)
    assert state.legs["b2"].endpoint == "ep-b" and state.legs["b"].endpoint == ""
    assert told(calls, "agent/anna")[-1] == Answered(call_id=CALL)
    if not desk_failed_first:
        calls.answer(CALL, "b", invites["b"], 487, tag="desk")
    calls.peer_request(CALL, "a", caller_request("BYE", 2))
    bye = next(r for r, _ in sent(calls) if r.method == "BYE")
    calls.answer(CALL, "b2", bye, 200, tag="soft")
    closed = [m.endpoint for m in told(calls, f"media/{CALL}") if isinstance(m, CloseEndpoint)]
    assert sorted(closed) == ["ep-a", "ep-b"]  # each endpoint closed once


@pytest.mark.parametrize(("found", "best"), [
    ([486, 404], 486), ([404, 603], 603), ([500, 404], 404), ([503, 500], 500),
    ([401, 407, 404], 404), ([407, 503], 407), ([302, 486], 302), ([], 408),
    ([600, 603], 600),
])
def test_best_final_follows_rfc3261_16_7(found: list[int], best: int) -> None:
    assert best_final(found) == best


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(300, 699), min_size=1, max_size=6))
def test_best_final_is_one_of_them_and_a_6xx_or_the_lowest_class(found: list[int]) -> None:
    best = best_final(found)
    assert best in found
    assert best_final(list(reversed(found))) == best  # the order they came in is irrelevant
    if any(s >= 600 for s in found):
        assert best >= 600
    else:
        assert best // 100 == min(s // 100 for s in found)
