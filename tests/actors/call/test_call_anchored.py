"""Anchored media for queue calls: the caller is answered from a media pool endpoint and hears
hold music; the agent phone is offered an agent endpoint; its answer bridges and records."""

from __future__ import annotations

from dataclasses import replace

import pytest

from actors.agent.messages import Answered, RingPhone
from actors.call.behaviour import CallBehaviour
from actors.call.messages import CallRecorded
from media.messages import (
    Bridge,
    CloseEndpoint,
    Play,
    Record,
    RecordingSaved,
    SetRemote,
    StopPlay,
)
from sip.sdp import parse_sdp
from telephony.messages import (
    CancelReceived,
    Locate,
    MediaFailed,
    MediaOpened,
    OpenMedia,
    SendRequest,
    SendResponse,
)
from tests.actors.call.support import (
    SDP_CALLER,
    SDP_PHONE,
    Calls,
    as_request,
    as_response,
    statuses,
)
from tests.actors.call.test_call_acd import CALL, acd_calls, told
from tests.actors.call.test_call_setup import caller_request

MEDIA = f"media/{CALL}"


def anchored_calls() -> Calls:
    settings = acd_calls().behaviour.settings
    return Calls(behaviour=CallBehaviour(replace(settings, media="anchored")))


def opened(calls: Calls, leg: str, endpoint: str, port: int) -> None:
    calls.tell(CALL, MediaOpened(call_id=CALL, leg=leg, endpoint=endpoint, host="127.0.0.5",
                                 port=port))


def queued_and_answered(calls: Calls) -> None:
    calls.invite(CALL, route="queue:sales")
    sent = calls.take(CALL)
    assert statuses(sent) == [180]
    [open_a] = [m for m in sent if isinstance(m, OpenMedia)]
    assert open_a.leg == "a"
    opened(calls, "a", "ep-a", 30000)


def test_the_queued_caller_is_answered_from_its_endpoint_and_hears_hold_music() -> None:
    calls = anchored_calls()
    queued_and_answered(calls)
    [ok] = calls.responses(CALL)
    assert ok.status == 200
    answer = parse_sdp(ok.body)
    assert answer.connection is not None and answer.connection.address == "127.0.0.5"
    assert answer.media[0].port == 30000
    remote, play = told(calls, MEDIA)
    assert isinstance(remote, SetRemote)
    assert (remote.endpoint, remote.host, remote.port, remote.payload_type) == \
        ("ep-a", "192.0.2.10", 40000, 0)
    assert play == Play(endpoint="ep-a", prompt="default", loop=True)
    assert calls.state(CALL).phase == "queued"


def test_the_agent_gets_an_offer_from_its_endpoint_and_its_answer_bridges_and_records() -> None:
    calls = anchored_calls()
    queued_and_answered(calls)
    calls.take(CALL)
    calls.peer_request(CALL, "a", caller_request("ACK", 1), tx=None)
    calls.tell(CALL, RingPhone(call_id=CALL, agent="anna", phone_uri="sip:1001@127.0.0.1",
                               ring_timeout_s=20))
    [open_b] = [m for m in calls.take(CALL) if isinstance(m, OpenMedia)]
    opened(calls, open_b.leg, "ep-b", 30002)
    locate = next(m for m in calls.sent[CALL] if isinstance(m, Locate))
    assert locate.aor == "sip:1001@127.0.0.1"
    invite = calls.locate(CALL, open_b.leg)
    offer = parse_sdp(invite.body)
    assert offer.media[0].port == 30002 and invite.body != SDP_CALLER
    calls.answer(CALL, open_b.leg, invite, 180)
    calls.answer(CALL, open_b.leg, invite, 200, body=SDP_PHONE)
    sent = calls.take(CALL)
    acks = [as_request(m.request) for m in sent if isinstance(m, SendRequest)]
    assert [r.method for r in acks] == ["ACK"]
    assert not statuses(sent)  # the caller was answered long ago
    media = told(calls, MEDIA)[2:]
    assert media == [
        SetRemote(endpoint="ep-b", host="192.0.2.10", port=41000, payload_type=0,
                  telephone_event_pt=None),
        StopPlay(endpoint="ep-a"),
        Bridge(a="ep-a", b="ep-b"),
        Record(call_id=CALL, left="ep-a", right="ep-b", agent="anna", queue="sales"),
    ]
    assert told(calls, "agent/anna")[-1] == Answered(call_id=CALL)
    assert calls.state(CALL).phase == "connected"
    calls.peer_request(CALL, "a", caller_request("BYE", 2))
    bye = next(as_request(m.request) for m in calls.take(CALL) if isinstance(m, SendRequest))
    calls.answer(CALL, open_b.leg, bye, 200)
    closed = [m for m in told(calls, MEDIA) if isinstance(m, CloseEndpoint)]
    assert {c.endpoint for c in closed} == {"ep-a", "ep-b"}
    assert "call.ended" in calls.kinds(CALL)
    calls.tell(CALL, RecordingSaved(call_id=CALL, path="/r/x.flac", seconds=3.0,
                                    format="flac"))
    recorded = calls.journal[CALL][-1]
    assert isinstance(recorded, CallRecorded) and recorded.path == "/r/x.flac"


def test_a_caller_holding_an_anchored_call_is_answered_from_its_endpoint() -> None:
    calls = anchored_calls()
    queued_and_answered(calls)
    calls.take(CALL)
    calls.peer_request(CALL, "a", caller_request("ACK", 1), tx=None)
    hold = SDP_CALLER.replace(b"a=sendrecv", b"a=sendonly").replace(b"o=caller 1 1",
                                                                      b"o=caller 1 2")
    before = len(told(calls, MEDIA))
    calls.peer_request(CALL, "a", caller_request("INVITE", 2, body=hold))
    sent = calls.take(CALL)
    assert not [m for m in sent if isinstance(m, SendRequest)]  # nothing relayed to anyone
    [ok] = [as_response(m.response) for m in sent if isinstance(m, SendResponse)]
    answer = parse_sdp(ok.body)
    assert ok.status == 200 and answer.media[0].port == 30000
    assert answer.origin.session_version == 2
    assert answer.media[0].direction(answer.direction) == "recvonly"
    [remote] = told(calls, MEDIA)[before:]
    assert isinstance(remote, SetRemote) and remote.direction == "recvonly"
    assert "call.held" in calls.kinds(CALL)


def test_an_endpoint_for_a_caller_gone_meanwhile_is_closed() -> None:
    calls = anchored_calls()
    calls.invite(CALL, route="queue:sales")
    calls.take(CALL)
    calls.tell(CALL, CancelReceived(call_id=CALL, leg="a", tx="tx-a"))
    opened(calls, "a", "ep-late", 30004)
    assert CloseEndpoint(endpoint="ep-late") in told(calls, MEDIA)


def test_no_media_pool_for_the_caller_ends_the_call_with_500() -> None:
    calls = anchored_calls()
    calls.invite(CALL, route="queue:sales")
    calls.take(CALL)
    calls.tell(CALL, MediaFailed(call_id=CALL, leg="a", reason="ask timed out"))
    assert statuses(calls.take(CALL)) == [500]
    assert calls.state(CALL).cause == "media_unavailable"


def test_relay_mode_still_passes_the_callers_offer_to_the_agent() -> None:
    calls = acd_calls()
    calls.invite(CALL, route="queue:sales")
    assert not [m for m in calls.take(CALL) if isinstance(m, OpenMedia)]


def test_the_telephony_service_makes_anchored_the_default_and_keeps_relay() -> None:
    from conf.schema import MediaConfig
    from telephony.service import media_mode

    assert media_mode("auto") == media_mode("anchored") == "anchored"
    assert media_mode("relay") == "relay"
    assert MediaConfig().mode == "anchored"
    with pytest.raises(ValueError, match="auto, relay or anchored"):
        media_mode("bypass")
