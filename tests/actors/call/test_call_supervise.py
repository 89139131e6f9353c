"""A supervisor joins an anchored, connected call (help requests): its own phone is rung from
a media endpoint and, once answered, mixed in listen, whisper or barge mode; a new mode re-mixes
it, leaving hangs it up, and its failures or BYE never end the call."""

from __future__ import annotations

from pathlib import Path

from actors.agent.messages import RingPhone, SupervisorJoin, SupervisorLeave
from actors.call.behaviour import CallBehaviour
from actors.call.legs import LocalSip
from actors.call.messages import CallSupervised
from actors.call.turn import CallSettings
from conf.load import parse_config
from media.messages import CloseEndpoint, Join
from sip.sdp import parse_sdp
from telephony.messages import Locate, Located, OpenMedia, SendRequest
from tests.actors.call.support import CONFIG, SDP_PHONE, Calls, as_request
from tests.actors.call.test_call_acd import CALL, QUEUES, told
from tests.actors.call.test_call_anchored import opened, queued_and_answered
from tests.actors.call.test_call_setup import caller_request

MEDIA = f"media/{CALL}"
LOCAL = LocalSip(host="127.0.0.1", port=5060, domain="127.0.0.1")
SUPERVISOR = """
[[user]]
login = "sophie"
name = "Sophie"
roles = ["supervisor"]
password = "s"
extension = "1901"
"""


def connected() -> Calls:
    config = parse_config(CONFIG + QUEUES + SUPERVISOR, source=Path("test.toml"))
    calls = Calls(behaviour=CallBehaviour(CallSettings(config=config, media="anchored",
                                                       local=LOCAL)))
    queued_and_answered(calls)
    calls.take(CALL)
    calls.peer_request(CALL, "a", caller_request("ACK", 1), tx=None)
    calls.tell(CALL, RingPhone(call_id=CALL, agent="anna", phone_uri="sip:1001@127.0.0.1",
                               ring_timeout_s=20))
    [open_b] = [m for m in calls.take(CALL) if isinstance(m, OpenMedia)]
    opened(calls, open_b.leg, "ep-b", 30002)
    invite = calls.locate(CALL, open_b.leg)
    calls.answer(CALL, open_b.leg, invite, 200, body=SDP_PHONE)
    calls.take(CALL)
    assert calls.state(CALL).phase == "connected"
    return calls


def supervisor_rung(calls: Calls, mode: str = "listen") -> tuple[str, object]:
    calls.tell(CALL, SupervisorJoin(call_id=CALL, agent="anna", supervisor="sophie",
                                    mode=mode))  # type: ignore[arg-type]
    [open_s] = [m for m in calls.take(CALL) if isinstance(m, OpenMedia)]
    opened(calls, open_s.leg, "ep-s", 30004)
    locate = next(m for m in calls.sent[CALL] if isinstance(m, Locate))
    assert locate.aor == "sip:1901@127.0.0.1"
    invite = calls.locate(CALL, open_s.leg)
    assert parse_sdp(invite.body).media[0].port == 30004
    return open_s.leg, invite


def supervised(calls: Calls) -> list[str]:
    return [e.mode for e in calls.journal[CALL] if isinstance(e, CallSupervised)]


def test_the_supervisor_is_mixed_in_once_its_phone_answers_and_can_change_mode() -> None:
    calls = connected()
    leg, invite = supervisor_rung(calls, "listen")
    assert not [m for m in told(calls, MEDIA) if isinstance(m, Join)]  # not before answer
    calls.answer(CALL, leg, invite, 200, body=SDP_PHONE, tag="sup")  # type: ignore[arg-type]
    [join] = [m for m in told(calls, MEDIA) if isinstance(m, Join)]
    assert join == Join(call_id=CALL, supervisor="ep-s", caller="ep-a", agent="ep-b",
                        mode="listen")
    calls.tell(CALL, SupervisorJoin(call_id=CALL, agent="anna", supervisor="sophie",
                                    mode="barge"))
    assert [m.mode for m in told(calls, MEDIA) if isinstance(m, Join)] == ["listen", "barge"]
    calls.take(CALL)
    calls.tell(CALL, SupervisorLeave(call_id=CALL, supervisor="sophie"))
    [bye] = [as_request(m.request) for m in calls.take(CALL) if isinstance(m, SendRequest)]
    assert bye.method == "BYE"
    assert CloseEndpoint(endpoint="ep-s") in told(calls, MEDIA)
    assert supervised(calls) == ["listen", "barge", "left"]
    assert calls.state(CALL).phase == "connected"  # the call goes on


def test_a_supervisor_phone_that_is_not_registered_or_declines_leaves_the_call_alone() -> None:
    calls = connected()
    calls.tell(CALL, SupervisorJoin(call_id=CALL, agent="anna", supervisor="sophie",
                                    mode="whisper"))
    [open_s] = [m for m in calls.take(CALL) if isinstance(m, OpenMedia)]
    opened(calls, open_s.leg, "ep-s", 30004)
    calls.tell(CALL, Located(call_id=CALL, leg=open_s.leg, aor="sip:1901@127.0.0.1",
                             contacts=()))
    assert CloseEndpoint(endpoint="ep-s") in told(calls, MEDIA)
    assert supervised(calls) == ["failed: 480"]
    assert calls.state(CALL).phase == "connected"
    leg, invite = supervisor_rung(calls, "whisper")
    calls.answer(CALL, leg, invite, 486)  # type: ignore[arg-type]
    assert supervised(calls) == ["failed: 480", "failed: 486"]
    assert calls.state(CALL).phase == "connected"


def test_the_supervisor_hanging_up_ends_only_its_leg_and_the_call_end_hangs_it_up() -> None:
    calls = connected()
    leg, invite = supervisor_rung(calls)
    calls.answer(CALL, leg, invite, 200, body=SDP_PHONE, tag="sup")  # type: ignore[arg-type]
    calls.take(CALL)
    calls.peer_request(CALL, "a", caller_request("BYE", 2))
    byes = [as_request(m.request) for m in calls.take(CALL) if isinstance(m, SendRequest)]
    assert sorted(b.method for b in byes) == ["BYE", "BYE"]  # the agent and the supervisor


def test_no_join_when_the_call_is_not_connected_in_the_pool() -> None:
    config = parse_config(CONFIG + QUEUES + SUPERVISOR, source=Path("test.toml"))
    calls = Calls(behaviour=CallBehaviour(CallSettings(config=config, media="anchored",
                                                       local=LOCAL)))
    queued_and_answered(calls)
    calls.take(CALL)
    calls.tell(CALL, SupervisorJoin(call_id=CALL, agent="anna", supervisor="sophie",
                                    mode="listen"))
    assert not [m for m in calls.take(CALL) if isinstance(m, OpenMedia)]
    assert supervised(calls) == ["refused: the call is not connected in the pool"]
