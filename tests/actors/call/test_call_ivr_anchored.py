"""An IVR call with anchored media (the default): the caller is answered from its media pool
endpoint, prompts are played by the endpoint, digits come back from it (RFC 4733 or in-band),
and the hand-off keeps the endpoint: hold music and announcements in the queue, a bridged and
recorded agent leg, a voicemail recorded from the caller's endpoint."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from actors.call.anchor import announcement
from actors.call.behaviour import CallBehaviour
from actors.call.ivr_driver import PLAY_TIMER
from actors.call.legs import LocalSip
from actors.call.messages import CallEnded, VoicemailDone
from actors.call.turn import CallSettings
from actors.queue.messages import Announce, Enqueue
from conf.load import parse_config
from ivr.messages import DebugLines, HttpFailed, HttpResult, RunHttp
from ivr.port import IVR_PORT
from ivr.registry import SchemeRegistry
from media.messages import (
    Bridge,
    DtmfDetected,
    Play,
    PlayDone,
    Record,
    StopPlay,
)
from sip.sdp import parse_sdp
from telephony.messages import Locate, MediaOpened, OpenMedia, SendRequest
from tests.actors.call.support import CONFIG, SDP_PHONE, Calls, as_request, statuses
from tests.actors.call.test_call_acd import QUEUES, told
from tests.actors.call.test_call_ivr import SCHEME

CALL = "00000000000000c7"
MEDIA = f"media/{CALL}"
WELCOME = "tts:Hi."
MENU = "tts:Press 1 for sales, 2 for anna, 3 to hang up."
VOICEMAIL = """
name: closed
start: leave
nodes:
  leave:
    type: voicemail
    prompt: "tts:Leave a message."
    mailbox: sales
    max_s: 30
"""


def _calls(tmp_path: Path, scheme: str, name: str) -> Calls:
    path = tmp_path / f"{name}.yaml"
    path.write_text(scheme)
    registry = SchemeRegistry(queues=["sales", "support"], agents=["anna", "bruno"])
    registry.load(name, path, 0.0)
    config = parse_config(CONFIG + QUEUES, source=Path("test.toml"))
    settings = CallSettings(config=config, ivr=registry, media="anchored",
                            local=LocalSip(host="127.0.0.1", port=5060, domain="127.0.0.1"))
    return Calls(behaviour=CallBehaviour(settings))


@pytest.fixture
def calls(tmp_path: Path) -> Calls:
    return _calls(tmp_path, SCHEME, "front")


def media_done(calls: Calls, prompt: str, endpoint: str = "ep-a") -> None:
    calls.tell(CALL, PlayDone(call_id=CALL, endpoint=endpoint, prompt=prompt))


def digit(calls: Calls, key: str, method: str = "rfc4733") -> None:
    calls.tell(CALL, DtmfDetected(call_id=CALL, endpoint="ep-a", digit=key,
                                  method=method))  # type: ignore[arg-type]


def answered_in_scheme(calls: Calls, route: str = "ivr:front") -> None:
    calls.invite(CALL, route=route)
    sent = calls.take(CALL)
    assert not statuses(sent)  # nothing answered before the endpoint exists
    [open_a] = [m for m in sent if isinstance(m, OpenMedia)]
    assert open_a.leg == "a" and calls.state(CALL).phase == "ivr"
    calls.tell(CALL, MediaOpened(call_id=CALL, leg="a", endpoint="ep-a", host="127.0.0.5",
                                 port=30000))
    [ok] = calls.responses(CALL)
    answer = parse_sdp(ok.body)
    assert ok.status == 200 and answer.media[0].port == 30000


def in_menu(calls: Calls) -> None:
    answered_in_scheme(calls)
    assert Play(endpoint="ep-a", prompt=WELCOME) in told(calls, MEDIA)
    assert PLAY_TIMER not in calls.timers.get(CALL, {})  # the endpoint plays it, no timer
    media_done(calls, WELCOME)
    assert told(calls, MEDIA)[-1] == Play(endpoint="ep-a", prompt=MENU)
    media_done(calls, MENU)
    ivr = calls.state(CALL).ivr
    assert ivr is not None and ivr.node == "menu" and ivr.timer


@pytest.mark.parametrize("method", ["rfc4733", "inband"])
def test_a_digit_from_the_endpoint_walks_the_menu_to_the_queue_with_hold_music(
        calls: Calls, method: str) -> None:
    in_menu(calls)
    digit(calls, "1", method)
    [enq] = [m for (to, m) in calls.told if to == "queue/sales"]
    assert isinstance(enq, Enqueue) and enq.priority == 5
    assert told(calls, MEDIA)[-1] == Play(endpoint="ep-a", prompt="default", loop=True)
    state = calls.state(CALL)
    assert state.phase == "queued" and state.ivr is None


def test_a_digit_during_a_barge_in_prompt_stops_it_at_the_endpoint(tmp_path: Path) -> None:
    calls = _calls(tmp_path, SCHEME.replace("      3: bye\n", "      3: bye\n    barge_in: true\n"),
                   "front")
    answered_in_scheme(calls)
    media_done(calls, WELCOME)
    digit(calls, "1")
    media = told(calls, MEDIA)
    assert StopPlay(endpoint="ep-a") in media
    assert media[-1] == Play(endpoint="ep-a", prompt="default", loop=True)


def test_position_announcements_interrupt_the_hold_music_which_then_resumes(
        calls: Calls) -> None:
    in_menu(calls)
    digit(calls, "1")
    calls.tell(CALL, Announce(call_id=CALL, queue="sales", position=3, ewt_s=125.0))
    spoken = announcement(3, 125.0)
    assert "number 3" in spoken and "2 minutes" in spoken
    assert told(calls, MEDIA)[-1] == Play(endpoint="ep-a", prompt=spoken)
    media_done(calls, "default")  # the music it replaced: nothing to do
    assert told(calls, MEDIA)[-1] == Play(endpoint="ep-a", prompt=spoken)
    media_done(calls, spoken)
    assert told(calls, MEDIA)[-1] == Play(endpoint="ep-a", prompt="default", loop=True)
    assert calls.state(CALL).announcing == ""


def test_a_transfer_to_an_agent_gets_its_own_endpoint_bridged_and_recorded(
        calls: Calls) -> None:
    in_menu(calls)
    digit(calls, "2")
    [open_b] = [m for m in calls.take(CALL) if isinstance(m, OpenMedia)]
    calls.tell(CALL, MediaOpened(call_id=CALL, leg=open_b.leg, endpoint="ep-b",
                                 host="127.0.0.5", port=30002))
    locate = next(m for m in calls.sent[CALL] if isinstance(m, Locate))
    assert locate.aor.startswith("sip:")
    invite = calls.locate(CALL, open_b.leg)
    assert parse_sdp(invite.body).media[0].port == 30002  # our endpoint's offer
    calls.answer(CALL, open_b.leg, invite, 200, body=SDP_PHONE)
    media = told(calls, MEDIA)
    assert Bridge(a="ep-a", b="ep-b") in media
    record = next(m for m in media if isinstance(m, Record))
    assert (record.left, record.right, record.agent) == ("ep-a", "ep-b", "anna")
    assert calls.state(CALL).phase == "connected"


def test_a_late_play_done_from_another_endpoint_changes_nothing(calls: Calls) -> None:
    answered_in_scheme(calls)
    media_done(calls, WELCOME, endpoint="ep-other")
    ivr = calls.state(CALL).ivr
    assert ivr is not None and ivr.node == "welcome"


def test_a_voicemail_records_the_callers_endpoint_then_hangs_up(tmp_path: Path) -> None:
    calls = _calls(tmp_path, VOICEMAIL, "closed")
    answered_in_scheme(calls, route="ivr:closed")
    media_done(calls, "tts:Leave a message.")
    record = next(m for m in told(calls, MEDIA) if isinstance(m, Record))
    assert (record.left, record.right, record.queue) == ("ep-a", "ep-a", "voicemail:sales")
    beep = [m for m in told(calls, MEDIA) if isinstance(m, Play) and m.prompt.startswith("tone:")]
    assert [(m.endpoint, m.prompt) for m in beep] == [("ep-a", "tone:1000/500")]
    timer = calls.timers[CALL]["voicemail"]
    assert timer == VoicemailDone(mailbox="sales")
    calls.take(CALL)
    calls.tell(CALL, timer)
    bye = next(as_request(m.request) for m in calls.take(CALL) if isinstance(m, SendRequest))
    assert bye.method == "BYE"
    calls.answer(CALL, "a", bye, 200, tag="ctag")
    ended = calls.journal[CALL][-1]
    assert isinstance(ended, CallEnded) and ended.cause == "voicemail"


def test_relay_mode_keeps_the_placeholder_answer(tmp_path: Path) -> None:
    calls = _calls(tmp_path, SCHEME, "front")
    relay = Calls(behaviour=CallBehaviour(replace(calls.behaviour.settings, media="relay")))
    relay.invite(CALL, route="ivr:front")
    [ok] = [r for r in relay.responses(CALL) if r.status == 200]
    assert parse_sdp(ok.body).media[0].port == 9


LOOKUP = """
name: lookup
start: crm
nodes:
  crm:
    type: http
    method: GET
    url: "http://127.0.0.1:9/crm/${caller}"
    timeout_s: 2
    save:
      customer: name
    next: hello
    fallback: bye
  hello:
    type: play
    prompt: "tts:Hello ${customer}."
    next: bye
  bye:
    type: hangup
"""


def test_an_http_node_asks_the_ivr_port_and_its_answer_sets_variables(tmp_path: Path) -> None:
    calls = _calls(tmp_path, LOOKUP, "lookup")
    answered_in_scheme(calls, route="ivr:lookup")
    [run] = [m for (to, m) in calls.told if to == IVR_PORT and isinstance(m, RunHttp)]
    assert run.call_id == CALL and run.request.url.startswith("http://127.0.0.1:9/crm/")
    calls.tell(CALL, HttpResult(id=run.request.id, status=200, json={"name": "Zoe"}))
    assert told(calls, MEDIA)[-1] == Play(endpoint="ep-a", prompt="tts:Hello Zoe.")
    debug = [m for (to, m) in calls.told if to == IVR_PORT and isinstance(m, DebugLines)]
    kinds = [line.kind for d in debug for line in d.lines]
    assert kinds[0] == "start" and "http" in kinds and not any(d.done for d in debug)


def test_a_failed_http_request_takes_the_fallback_and_the_log_is_closed(
        tmp_path: Path) -> None:
    calls = _calls(tmp_path, LOOKUP, "lookup")
    answered_in_scheme(calls, route="ivr:lookup")
    [run] = [m for (to, m) in calls.told if to == IVR_PORT and isinstance(m, RunHttp)]
    calls.tell(CALL, HttpFailed(id=run.request.id, reason="timeout after 2s"))
    bye = next(as_request(m.request) for m in calls.take(CALL) if isinstance(m, SendRequest))
    assert bye.method == "BYE"
    debug = [m for (to, m) in calls.told if to == IVR_PORT and isinstance(m, DebugLines)]
    assert debug[-1].done and debug[-1].scheme == "lookup"
    assert any("timeout after 2s" in line.text for d in debug for line in d.lines)
