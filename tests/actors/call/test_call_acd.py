"""The call actor in the ACD: queued with ringback, ringing the agents it is told to,
following CancelRing and overflows, and telling agents and queues what happened."""

from __future__ import annotations

from pathlib import Path

from actors.agent.messages import Answered, CallEnded, CancelRing, Reject, Ring, RingPhone
from actors.call.behaviour import CallBehaviour
from actors.call.legs import LocalSip
from actors.call.messages import CallAnswered, CallQueued, NoAnswer
from actors.call.turn import CallSettings
from actors.queue.messages import Abandon, Enqueue, Overflow, Queued
from bus.message import Message
from conf.load import parse_config
from sip.message import Request
from telephony.messages import CancelReceived, Locate, SendRequest
from tests.actors.call.support import (
    ANNA_PHONE,
    BRUNO_PHONE,
    CONFIG,
    SDP_CALLER,
    SDP_PHONE,
    Calls,
    as_request,
    statuses,
)
from tests.actors.call.test_call_setup import caller_request

CALL = "00000000000000a1"
QUEUES = """
[[queue]]
name = "sales"
[[queue]]
name = "support"
"""


def acd_calls() -> Calls:
    config = parse_config(CONFIG + QUEUES, source=Path("test.toml"))
    settings = CallSettings(config=config, local=LocalSip(host="127.0.0.1", port=5060,
                                                          domain="127.0.0.1"))
    return Calls(behaviour=CallBehaviour(settings))


def told(calls: Calls, to: str) -> list[Message]:
    return [m for (addr, m) in calls.told if addr == to]


def queued(calls: Calls) -> None:
    calls.invite(CALL, route="queue:sales")
    assert statuses(calls.take(CALL)) == [180]  # ringback while waiting, no answer yet
    calls.tell(CALL, Queued(call_id=CALL, queue="sales", position=1, ewt_s=30.0))


def ring(calls: Calls, agent: str, phone: str) -> tuple[str, Request]:
    calls.tell(CALL, RingPhone(call_id=CALL, agent=agent, phone_uri=phone, ring_timeout_s=20))
    locate = next(m for m in calls.sent[CALL] if isinstance(m, Locate))
    assert locate.aor == phone
    leg = locate.leg
    return leg, calls.locate(CALL, leg, BRUNO_PHONE if agent == "bruno" else ANNA_PHONE)


def test_a_queue_route_enqueues_the_caller_with_ringback_and_journals_the_place() -> None:
    calls = acd_calls()
    queued(calls)
    [enq] = told(calls, "queue/sales")
    assert isinstance(enq, Enqueue) and enq.call_id == CALL and enq.caller == "+33140000001"
    assert enq.waiting_since == calls.state(CALL).waiting_since
    assert calls.state(CALL).phase == "queued"
    event = calls.journal[CALL][-1]
    assert isinstance(event, CallQueued) and (event.queue, event.position) == ("sales", 1)


def test_ring_phone_calls_the_agents_phone_and_its_answer_reaches_caller_and_agent() -> None:
    calls = acd_calls()
    queued(calls)
    leg, invite = ring(calls, "anna", "sip:1001@127.0.0.1")
    assert invite.body == SDP_CALLER and calls.state(CALL).phase == "ringing"
    calls.answer(CALL, leg, invite, 180)
    assert statuses(calls.take(CALL)) == [180]
    assert told(calls, "agent/anna") == [Ring(call_id=CALL)]
    calls.answer(CALL, leg, invite, 200, body=SDP_PHONE)
    ok = [m for m in calls.responses(CALL) if m.status == 200]
    assert ok and ok[0].body == SDP_PHONE  # the agent phone's answer, end to end
    assert told(calls, "agent/anna")[-1] == Answered(call_id=CALL)
    answered = next(e for e in calls.journal[CALL] if isinstance(e, CallAnswered))
    assert (answered.agent, answered.queue) == ("anna", "sales")
    calls.peer_request(CALL, "a", caller_request("ACK", 1), tx=None)
    calls.peer_request(CALL, "a", caller_request("BYE", 2))
    bye = next(as_request(m.request) for m in calls.take(CALL) if isinstance(m, SendRequest))
    calls.answer(CALL, leg, bye, 200)
    assert told(calls, "agent/anna")[-1] == CallEnded(call_id=CALL)
    assert not told(calls, "queue/sales")[1:]  # answered calls are not abandoned


def test_cancel_ring_cancels_the_leg_and_the_next_agent_gets_the_call() -> None:
    calls = acd_calls()
    queued(calls)
    leg, invite = ring(calls, "anna", "sip:1001@127.0.0.1")
    calls.answer(CALL, leg, invite, 180)
    calls.take(CALL)
    calls.tell(CALL, CancelRing(call_id=CALL, agent="anna", reason="no_answer"))
    cancel = next(as_request(m.request) for m in calls.take(CALL)
                  if isinstance(m, SendRequest))
    assert cancel.method == "CANCEL" and calls.state(CALL).phase == "queued"
    calls.answer(CALL, leg, invite, 487)
    leg2, invite2 = ring(calls, "bruno", "sip:1002@127.0.0.1")
    assert leg2 != leg
    calls.answer(CALL, leg2, invite2, 200, tag="bruno", body=SDP_PHONE)
    assert calls.state(CALL).phase == "connected"
    assert told(calls, "agent/bruno")[-1] == Answered(call_id=CALL)
    assert CallEnded(call_id=CALL) not in told(calls, "agent/anna")


def test_a_declining_phone_is_the_agent_rejecting_and_the_call_stays_queued() -> None:
    calls = acd_calls()
    queued(calls)
    leg, invite = ring(calls, "anna", "sip:1001@127.0.0.1")
    calls.answer(CALL, leg, invite, 486)
    assert told(calls, "agent/anna") == [Reject(call_id=CALL)]
    assert calls.state(CALL).phase == "queued"
    assert 486 not in statuses(calls.take(CALL))  # the caller never hears the agent's phone


def test_the_ring_timer_only_drops_the_agent_leg() -> None:
    calls = acd_calls()
    queued(calls)
    leg, invite = ring(calls, "anna", "sip:1001@127.0.0.1")
    calls.answer(CALL, leg, invite, 180)
    calls.take(CALL)
    calls.tell(CALL, NoAnswer(leg=leg))
    [cancel] = [as_request(m.request) for m in calls.take(CALL) if isinstance(m, SendRequest)]
    assert cancel.method == "CANCEL" and calls.state(CALL).phase == "queued"
    assert CALL not in calls.stopped


def test_the_caller_hanging_up_while_queued_abandons_and_frees_a_ringing_agent() -> None:
    calls = acd_calls()
    queued(calls)
    leg, invite = ring(calls, "anna", "sip:1001@127.0.0.1")
    calls.answer(CALL, leg, invite, 180)
    calls.take(CALL)
    calls.tell(CALL, CancelReceived(call_id=CALL, leg="a", tx="tx-a"))
    assert 487 in statuses(calls.sent[CALL])
    assert told(calls, "queue/sales")[-1] == Abandon(call_id=CALL)
    calls.answer(CALL, leg, invite, 487)
    assert calls.state(CALL).phase == "ended"
    assert told(calls, "agent/anna")[-1] == CallEnded(call_id=CALL)


def test_an_overflow_to_a_queue_re_enqueues_with_the_original_wait() -> None:
    calls = acd_calls()
    queued(calls)
    since = calls.state(CALL).waiting_since
    assert since is not None
    calls.tell(CALL, Overflow(call_id=CALL, queue="sales", reason="max_wait", kind="queue",
                              target="support", waiting_since=since))
    [enq] = told(calls, "queue/support")
    assert isinstance(enq, Enqueue) and enq.waiting_since == since
    assert calls.state(CALL).queue == "support" and calls.state(CALL).phase == "queued"
    # a stale overflow from the old queue is ignored
    calls.tell(CALL, Overflow(call_id=CALL, queue="sales", reason="max_wait", kind="queue",
                              target="sales", waiting_since=since))
    assert calls.state(CALL).queue == "support"


def test_an_overflow_to_voicemail_ends_the_call_until_media_exists() -> None:
    calls = acd_calls()
    queued(calls)
    calls.tell(CALL, Overflow(call_id=CALL, queue="sales", reason="max_wait", kind="voicemail",
                              target="box", waiting_since=0.0))
    assert 480 in statuses(calls.take(CALL))
    assert calls.state(CALL).cause == "overflow_voicemail"


def test_a_ring_for_a_call_already_gone_frees_the_agent() -> None:
    calls = acd_calls()
    calls.tell("00000000000000ff", RingPhone(call_id="00000000000000ff", agent="anna",
                                             phone_uri="sip:1001@127.0.0.1", ring_timeout_s=20))
    assert told(calls, "agent/anna") == [CallEnded(call_id="00000000000000ff")]
    assert "00000000000000ff" in calls.stopped


def test_ring_all_the_first_phone_to_answer_wins_and_the_other_is_cancelled() -> None:
    calls = acd_calls()
    queued(calls)
    leg_a, invite_a = ring(calls, "anna", "sip:1001@127.0.0.1")
    leg_b, invite_b = ring(calls, "bruno", "sip:1002@127.0.0.1")
    calls.answer(CALL, leg_a, invite_a, 180)
    calls.answer(CALL, leg_b, invite_b, 180, tag="bruno")
    calls.take(CALL)
    calls.answer(CALL, leg_b, invite_b, 200, tag="bruno", body=SDP_PHONE)
    sent = [as_request(m.request) for m in calls.take(CALL) if isinstance(m, SendRequest)]
    cancels = [r for r in sent if r.method == "CANCEL"]
    assert len(cancels) == 1 and cancels[0].call_id == invite_a.call_id
    answered = next(e for e in calls.journal[CALL] if isinstance(e, CallAnswered))
    assert answered.agent == "bruno"
    calls.answer(CALL, leg_a, invite_a, 487)
    assert calls.state(CALL).phase == "connected"
