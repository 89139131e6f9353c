"""Dead legs and media quality: a leg the pool no longer hears ends the call; each closed
endpoint's quality is journaled before the ended call stops (or after a bounded wait)."""

from __future__ import annotations

from actors.call.media_health import QUALITY_WAIT_S, CallMediaQuality, QualityWaitOver
from actors.call.messages import CallEnded
from media.messages import CloseEndpoint, MediaQuality, MediaTimeout
from telephony.messages import SendRequest
from tests.actors.call.support import Calls, as_request
from tests.actors.call.test_call_acd import CALL, told
from tests.actors.call.test_call_setup import caller_request
from tests.actors.call.test_call_supervise import connected

MEDIA = f"media/{CALL}"


def talking() -> tuple[Calls, str]:
    """A queue call bridged to anna through the pool; returns the calls and anna's leg."""
    calls = connected()
    [agent_leg] = [leg.name for leg in calls.state(CALL).legs.values() if leg.agent == "anna"]
    return calls, agent_leg


def quality(leg: str, endpoint: str, mos: float) -> MediaQuality:
    return MediaQuality(call_id=CALL, endpoint=endpoint, leg=leg, duration_s=30.0,
                        packets_received=1500, packets_expected=1515, packets_lost=15,
                        loss_pct=1.0, jitter_mean_ms=2.0, jitter_max_ms=9.5, packets_sent=1500,
                        rtt_ms=12.5, r_factor=80.1, mos=mos)


def test_a_dead_agent_leg_ends_the_call_with_media_timeout() -> None:
    calls, agent_leg = talking()
    calls.tell(CALL, MediaTimeout(call_id=CALL, endpoint="ep-b", leg=agent_leg, silent_s=30.0))
    byes = [as_request(m.request) for m in calls.take(CALL) if isinstance(m, SendRequest)]
    assert sorted(r.method for r in byes) == ["BYE", "BYE"]  # both legs hung up
    assert calls.state(CALL).cause == "media_timeout"


def test_a_timeout_from_an_endpoint_the_call_no_longer_has_changes_nothing() -> None:
    calls, _ = talking()
    calls.tell(CALL, MediaTimeout(call_id=CALL, endpoint="ep-old", leg="x", silent_s=30.0))
    assert not calls.take(CALL) and calls.state(CALL).phase == "connected"


def _ended(calls: Calls, agent_leg: str) -> None:
    calls.peer_request(CALL, "a", caller_request("BYE", 2))
    bye = next(as_request(m.request) for m in calls.take(CALL) if isinstance(m, SendRequest))
    calls.answer(CALL, agent_leg, bye, 200)
    assert isinstance(calls.journal[CALL][-1], CallEnded)
    closed = {m.endpoint for m in told(calls, MEDIA) if isinstance(m, CloseEndpoint)}
    assert closed == {"ep-a", "ep-b"}


def test_each_leg_quality_is_journaled_and_the_call_stops_once_all_came() -> None:
    calls, agent_leg = talking()
    _ended(calls, agent_leg)
    assert CALL not in calls.stopped  # waits for the endpoints' reports
    assert calls.timers[CALL]["quality"] == QualityWaitOver()
    calls.tell(CALL, quality("a", "ep-a", 4.3))
    assert CALL not in calls.stopped
    calls.tell(CALL, quality(agent_leg, "ep-b", 3.1))
    assert CALL in calls.stopped
    reports = [e for e in calls.journal[CALL] if isinstance(e, CallMediaQuality)]
    assert [(r.leg, r.agent, r.mos, r.loss_pct, r.rtt_ms) for r in reports] == [
        ("a", "", 4.3, 1.0, 12.5), (agent_leg, "anna", 3.1, 1.0, 12.5)]


def test_an_ended_call_stops_after_a_bounded_wait_for_missing_reports() -> None:
    calls, agent_leg = talking()
    _ended(calls, agent_leg)
    calls.tell(CALL, quality("a", "ep-a", 4.3))
    assert QUALITY_WAIT_S <= 5
    calls.tell(CALL, calls.timers[CALL]["quality"])  # the worker of ep-b died meanwhile
    assert CALL in calls.stopped
