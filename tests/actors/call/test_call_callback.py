"""Queued callbacks: a waiting caller presses * (or accepts a scheme's offer), hangs up and keeps
its place; when the matcher offers the call, the agent's phone rings from an endpoint, and once
the agent answers the customer is dialled through the trunk, then bridged and recorded."""

from __future__ import annotations

from pathlib import Path

from actors.agent.messages import Answered, RingPhone
from actors.call.behaviour import CallBehaviour
from actors.call.callback import GOODBYE
from actors.call.legs import LocalSip
from actors.call.messages import CallAnswered, CallbackRequested, CallEnded, NoAnswer
from actors.call.turn import CallSettings
from actors.queue.messages import Abandon, Enqueue, RequestCallback
from conf.load import parse_config
from ivr.registry import SchemeRegistry
from media.messages import Bridge, CloseEndpoint, DtmfDetected, Play, PlayDone, Record
from sip.sdp import parse_sdp
from telephony.messages import MediaOpened, OpenMedia, SendRequest
from tests.actors.call.support import CONFIG, SDP_PHONE, Calls, as_request
from tests.actors.call.test_call_acd import CALL, QUEUES, told
from tests.actors.call.test_call_anchored import anchored_calls, opened, queued_and_answered
from tests.actors.call.test_call_setup import caller_request

MEDIA = f"media/{CALL}"
OFFER = """
name: offer
start: ask
nodes:
  ask:
    type: callback
    prompt: "tts:Press 1 to be called back."
    queue: sales
    next: bye
    decline: bye
  bye:
    type: hangup
    prompt: "tts:Goodbye."
"""


def waiting_without_caller() -> Calls:
    calls = anchored_calls()
    queued_and_answered(calls)
    calls.take(CALL)
    calls.peer_request(CALL, "a", caller_request("ACK", 1), tx=None)
    calls.tell(CALL, DtmfDetected(call_id=CALL, endpoint="ep-a", digit="*", method="rfc4733"))
    [req] = [m for (to, m) in calls.told if to == "queue/sales" and isinstance(m, RequestCallback)]
    assert req.call_id == CALL and req.number == calls.state(CALL).caller
    assert told(calls, MEDIA)[-1] == Play(endpoint="ep-a", prompt=GOODBYE)
    assert any(isinstance(e, CallbackRequested) for e in calls.journal[CALL])
    calls.tell(CALL, PlayDone(call_id=CALL, endpoint="ep-a", prompt=GOODBYE))
    [bye] = [as_request(m.request) for m in calls.take(CALL) if isinstance(m, SendRequest)]
    assert bye.method == "BYE"
    calls.answer(CALL, "a", bye, 200, tag="ctag")
    assert CloseEndpoint(endpoint="ep-a") in told(calls, MEDIA)
    assert calls.state(CALL).phase == "queued"
    assert not [m for (to, m) in calls.told if isinstance(m, Abandon)]  # the place stays
    assert not any(isinstance(e, CallEnded) for e in calls.journal[CALL])
    return calls


def agent_takes_it(calls: Calls) -> str:
    calls.tell(CALL, RingPhone(call_id=CALL, agent="anna", phone_uri="sip:1001@127.0.0.1",
                               ring_timeout_s=20))
    [open_b] = [m for m in calls.take(CALL) if isinstance(m, OpenMedia)]
    opened(calls, open_b.leg, "ep-b", 30002)
    invite = calls.locate(CALL, open_b.leg)
    calls.answer(CALL, open_b.leg, invite, 200, body=SDP_PHONE)
    assert told(calls, "agent/anna")[-1] == Answered(call_id=CALL)
    answered = next(e for e in calls.journal[CALL] if isinstance(e, CallAnswered))
    assert (answered.agent, answered.queue) == ("anna", "sales")
    [open_c] = [m for m in calls.take(CALL) if isinstance(m, OpenMedia)]
    opened(calls, open_c.leg, "ep-c", 30004)
    [invite_c] = [as_request(m.request) for m in calls.take(CALL)
                  if isinstance(m, SendRequest) and as_request(m.request).method == "INVITE"]
    assert invite_c.uri.host == "192.0.2.10"  # through the trunk
    assert parse_sdp(invite_c.body).media[0].port == 30004
    return open_c.leg


def test_star_in_the_queue_keeps_the_place_and_the_agent_then_calls_the_customer() -> None:
    calls = waiting_without_caller()
    leg = agent_takes_it(calls)
    invite_c = calls.state(CALL).legs[leg].invite
    calls.answer(CALL, leg, as_request(invite_c), 200, body=SDP_PHONE, tag="cust")
    media = told(calls, MEDIA)
    assert Bridge(a="ep-c", b="ep-b") in media
    record = next(m for m in media if isinstance(m, Record))
    assert (record.left, record.right, record.agent, record.queue) == \
        ("ep-c", "ep-b", "anna", "sales")
    assert calls.state(CALL).bridge == (leg, "b")


def test_a_customer_who_does_not_answer_ends_the_callback() -> None:
    calls = waiting_without_caller()
    leg = agent_takes_it(calls)
    calls.answer(CALL, leg, as_request(calls.state(CALL).legs[leg].invite), 180, tag="cust")
    calls.tell(CALL, NoAnswer(leg=leg))
    sent = [as_request(m.request) for m in calls.take(CALL) if isinstance(m, SendRequest)]
    assert sorted(r.method for r in sent) == ["BYE", "CANCEL"]  # the agent; the customer
    assert calls.state(CALL).cause == "no_answer"


def test_a_schemes_accepted_offer_queues_the_call_and_lets_the_caller_go(
        tmp_path: Path) -> None:
    path = tmp_path / "offer.yaml"
    path.write_text(OFFER)
    registry = SchemeRegistry(queues=["sales", "support"], agents=["anna", "bruno"])
    registry.load("offer", path, 0.0)
    config = parse_config(CONFIG + QUEUES, source=Path("test.toml"))
    calls = Calls(behaviour=CallBehaviour(CallSettings(
        config=config, ivr=registry, media="anchored",
        local=LocalSip(host="127.0.0.1", port=5060, domain="127.0.0.1"))))
    calls.invite(CALL, route="ivr:offer")
    calls.take(CALL)
    calls.tell(CALL, MediaOpened(call_id=CALL, leg="a", endpoint="ep-a", host="127.0.0.5",
                                 port=30000))
    calls.take(CALL)
    calls.tell(CALL, PlayDone(call_id=CALL, endpoint="ep-a",
                              prompt="tts:Press 1 to be called back."))
    calls.tell(CALL, DtmfDetected(call_id=CALL, endpoint="ep-a", digit="1", method="inband"))
    calls.tell(CALL, PlayDone(call_id=CALL, endpoint="ep-a", prompt="tts:Goodbye."))
    to_queue = [m for (to, m) in calls.told if to == "queue/sales"]
    assert [type(m) for m in to_queue] == [Enqueue, RequestCallback]
    [bye] = [as_request(m.request) for m in calls.take(CALL) if isinstance(m, SendRequest)]
    assert bye.method == "BYE"
    assert calls.state(CALL).phase == "queued" and calls.state(CALL).callback
