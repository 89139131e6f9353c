"""The call actor running an IVR scheme: the caller answered at once, prompts as timers,
digits from SIP INFO, and the scheme's end handing the call to a queue, an agent or BYE."""

from __future__ import annotations

from pathlib import Path

import pytest

from actors.call.behaviour import CallBehaviour
from actors.call.ivr_driver import PLAY_TIMER, digits_of, placeholder_answer
from actors.call.legs import LocalSip
from actors.call.messages import CallAnswered, CallEnded
from actors.call.turn import CallSettings
from actors.queue.messages import Enqueue
from conf.load import parse_config
from ivr.messages import PlayDone, Timeout
from ivr.registry import SchemeRegistry
from sip.message import Request
from telephony.messages import SendRequest
from tests.actors.call.support import (
    CONFIG,
    SDP_CALLER,
    SDP_PHONE,
    Calls,
    as_request,
    request_text,
    statuses,
)
from tests.actors.call.test_call_acd import QUEUES

CALL = "00000000000000b1"
SCHEME = """
name: front
start: welcome
nodes:
  welcome:
    type: play
    prompt: "tts:Hi."
    next: menu
  menu:
    type: menu
    prompt: "tts:Press 1 for sales, 2 for anna, 3 to hang up."
    choices:
      1: to_sales
      2: to_anna
      3: bye
    timeout_s: 2
    retries: 0
    failure: bye
  to_sales:
    type: queue
    queue: sales
    priority: 5
  to_anna:
    type: transfer
    agent: anna
  bye:
    type: hangup
    prompt: "tts:Bye."
"""


@pytest.fixture
def calls(tmp_path: Path) -> Calls:
    path = tmp_path / "front.yaml"
    path.write_text(SCHEME)
    registry = SchemeRegistry(queues=["sales", "support"], agents=["anna", "bruno"])
    registry.load("front", path, 0.0)
    config = parse_config(CONFIG + QUEUES, source=Path("test.toml"))
    settings = CallSettings(config=config, ivr=registry,
                            local=LocalSip(host="127.0.0.1", port=5060, domain="127.0.0.1"))
    return Calls(behaviour=CallBehaviour(settings))


def info(digit: str, cseq: int) -> bytes:
    body = f"Signal={digit}\r\nDuration=160\r\n".encode()
    data = request_text("INFO", call_id="c1@carrier", from_tag="ctag", to_tag=f"{CALL}.a",
                        cseq=cseq, branch=f"z9hG4bKinfo{cseq}",
                        extra=["Content-Type: application/dtmf-relay"])
    return data.replace(b"Content-Length: 0\r\n\r\n",
                        f"Content-Length: {len(body)}\r\n\r\n".encode() + body)


def in_menu(calls: Calls) -> None:
    calls.invite(CALL, route="ivr:front")
    [ok] = [r for r in calls.responses(CALL) if r.status == 200]
    assert b"m=audio 9 RTP/AVP 0 " in ok.body or b"m=audio 9 RTP/AVP 0\r\n" in ok.body
    assert calls.state(CALL).phase == "ivr"
    assert isinstance(calls.timers[CALL][PLAY_TIMER], PlayDone)
    calls.tell(CALL, calls.timers[CALL].pop(PLAY_TIMER))  # "Hi." played
    calls.tell(CALL, calls.timers[CALL].pop(PLAY_TIMER))  # the menu prompt played
    ivr = calls.state(CALL).ivr
    assert ivr is not None and ivr.node == "menu"


def test_digit_1_by_sip_info_enqueues_with_the_schemes_priority(calls: Calls) -> None:
    in_menu(calls)
    calls.peer_request(CALL, "a", info("1", 2))
    assert statuses(calls.take(CALL)) == [200]
    [enq] = [m for (to, m) in calls.told if to == "queue/sales"]
    assert isinstance(enq, Enqueue) and enq.priority == 5
    assert calls.state(CALL).phase == "queued" and calls.state(CALL).ivr is None


def test_after_the_ivr_the_agent_phone_offers_and_the_caller_is_re_invited(
        calls: Calls) -> None:
    in_menu(calls)
    calls.peer_request(CALL, "a", info("2", 2))
    invite_b = calls.locate(CALL, "b")
    assert invite_b.body == b""  # the caller's offer was answered by the IVR already
    calls.answer(CALL, "b", invite_b, 200, body=SDP_PHONE)
    [reinvite] = [as_request(m.request) for m in calls.take(CALL)
                  if isinstance(m, SendRequest)]
    assert reinvite.method == "INVITE" and reinvite.body == SDP_PHONE
    assert calls.state(CALL).phase == "connected"
    answered = next(e for e in calls.journal[CALL] if isinstance(e, CallAnswered))
    assert answered.agent == "anna"
    calls.answer(CALL, "a", reinvite, 200, tag="ctag", body=SDP_CALLER,
                 contact="<sip:peer@192.0.2.10:5060>")
    acks = [as_request(m.request) for m in calls.take(CALL) if isinstance(m, SendRequest)]
    assert [a.method for a in acks] == ["ACK", "ACK"]
    assert {a.body for a in acks} == {b"", SDP_CALLER}  # the caller's answer to the phone


def test_the_menu_timing_out_hangs_up_after_the_goodbye(calls: Calls) -> None:
    in_menu(calls)
    state = calls.state(CALL).ivr
    assert state is not None and state.timer
    calls.tell(CALL, Timeout(key=state.timer))
    calls.tell(CALL, calls.timers[CALL].pop(PLAY_TIMER))  # "Bye." played
    bye = next(as_request(m.request) for m in calls.take(CALL) if isinstance(m, SendRequest))
    assert bye.method == "BYE"
    calls.answer(CALL, "a", bye, 200, tag="ctag")
    ended = calls.journal[CALL][-1]
    assert isinstance(ended, CallEnded) and ended.cause == "ivr_hangup"


def test_sip_info_digit_formats() -> None:
    def req(ctype: str, body: bytes) -> Request:
        data = request_text("INFO", call_id="x", from_tag="f", extra=[f"Content-Type: {ctype}"])
        data = data.replace(b"Content-Length: 0\r\n\r\n",
                            f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
        return as_request(data)

    assert digits_of(req("application/dtmf-relay", b"Signal=#\r\nDuration=100\r\n")) == "#"
    assert digits_of(req("application/dtmf", b"7")) == "7"
    assert digits_of(req("text/plain", b"7")) == ""


def test_the_placeholder_answer_keeps_the_offers_first_codec_and_events() -> None:
    sdp = placeholder_answer(SDP_CALLER.replace(b"RTP/AVP 0", b"RTP/AVP 8 0 101"), "10.0.0.1")
    assert b"m=audio 9 RTP/AVP 8 101\r\n" in sdp and b"a=rtpmap:8 PCMA/8000" in sdp
    assert b"c=IN IP4 10.0.0.1" in sdp
    assert placeholder_answer(b"", "h").count(b"m=audio") == 1

