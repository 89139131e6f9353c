"""Taking legs down and ending the call: BYE, CANCEL, final responses, the ``call.ended`` line.

A call ends when the last of its legs has: each leg is brought down the way its SIP state
demands (a final response for an unanswered incoming leg, CANCEL for an outgoing one that
rang, a CANCEL held until the first provisional for one that did not yet, BYE for a
confirmed one), and the call waits in ``ending`` until every answer or timeout is in.
"""

from __future__ import annotations

from actors.agent.messages import CallEnded as AgentCallEnded
from actors.call.dialog_auth import send_in_dialog
from actors.call.legs import cancel_for, response
from actors.call.messages import CallEnded, Leg, MovedLegEnded
from actors.call.turn import Turn
from actors.queue.messages import Abandon
from bus.message import evolve
from media.messages import CloseEndpoint
from sip.message import Request

LIVE = ("trying", "early", "confirmed", "cancelling", "ending")
ELSEWHERE = 'SIP;cause=200;text="Call completed elsewhere"'


def hang_up(t: Turn, leg: Leg, *, status: int = 487) -> Leg:
    """Start bringing ``leg`` down; ``status`` answers an incoming leg not yet answered.

    An outgoing leg rings for an offer that may have forks (:mod:`actors.call.forking`):
    whoever stops it ringing stops them all, so its forks still ringing are CANCELled too."""
    leg = _hang_up_one(t, leg, status)
    if leg.role == "uac":
        first = leg.fork_of or leg.name
        forks = [other for other in t.s.legs.values()
                 if other.name != leg.name and (other.name == first or other.fork_of == first)
                 and other.status in ("trying", "early")]  # fmt: skip
        for other in forks:
            _hang_up_one(t, other, status)
        if forks:
            t.cancel_timer(f"ring:{first}")  # the offer's one ring timer
    return leg


def _hang_up_one(t: Turn, leg: Leg, status: int) -> Leg:
    current = t.s.legs.get(leg.name)
    if current is not None and current.status in ("ended", "ending", "cancelling"):
        return current  # brought down already (``leg`` may be a record from before that)
    if leg.status in ("ended", "ending", "cancelling"):
        return leg
    if leg.role == "uas" and leg.status in ("trying", "early"):
        t.respond(leg, leg.tx, response(t.request(leg.invite), status, leg=leg,
                                        local=t.local))
        return t.put(evolve(leg, status="ended", final_status=status))
    if leg.role == "uac" and leg.status in ("trying", "early"):
        t.cancel_timer(f"ring:{leg.name}")
        if not leg.invite:  # still being located: nothing was sent
            return t.put(evolve(leg, status="ended"))
        if not leg.provisional:
            # §9.1: a CANCEL may only follow a provisional response
            return t.put(evolve(leg, cancel_pending=True, status="cancelling"))
        t.send(leg, cancel_of(t, leg), leg.peer)
        return t.put(evolve(leg, status="cancelling"))
    leg = send_in_dialog(t, leg, "BYE")
    return t.put(evolve(leg, status="ending"))


def cancel_of(t: Turn, leg: Leg) -> Request:
    """The CANCEL of ``leg``'s INVITE; a fork that lost to another one says so (RFC 3326:
    phones then do not show a missed call)."""
    cancel = cancel_for(t.request(leg.invite))
    first = leg.fork_of or leg.name
    if any(other.status == "confirmed" and (other.name == first or other.fork_of == first)
           for other in t.s.legs.values()):
        cancel = cancel.with_headers(cancel.headers.appended("Reason", ELSEWHERE))
    return cancel


def end_call(t: Turn, *, cause: str, status: int = 0, by: str = "",
             caller_status: int = 487) -> None:
    """Bring every live leg down and move to ``ending`` (``ended`` once they all are)."""
    if t.s.phase in ("ended", "idle"):
        return
    if not t.s.cause:
        t.update(cause=cause, end_status=status, ended_by=by)
    if t.s.queue and t.s.answered_at is None and t.s.phase in ("queued", "ringing"):
        t.tell(f"queue/{t.s.queue}", Abandon(call_id=t.call_id))  # the caller left waiting
    t.update(bridge=(), relay=None)
    for leg in list(t.s.legs.values()):
        if leg.status in LIVE and leg.name != by:
            hang_up(t, leg, status=caller_status)
    t.go("end")
    maybe_done(t)


def maybe_done(t: Turn) -> None:
    """In ``ending``: once no leg is live (and no moved leg is still in use), journal the end.

    A leg whose CANCEL still waits for its first provisional response does not hold the end
    up (see :func:`_unheard`): the call is journaled ended, its agent freed, and the actor
    stays in ``ended`` only to CANCEL that INVITE, or ACK and BYE its late 2xx, and for the
    quality reports of the endpoints it closed (at most ``QUALITY_WAIT_S``), then stops."""
    s = t.s
    if s.phase == "ended":
        if not any(leg.status in LIVE for leg in s.legs.values()) and not s.quality_pending:
            t.stop()
        return
    if s.phase != "ending" or s.moved:
        return
    if any(leg.status in LIVE and not _unheard(leg) for leg in s.legs.values()):
        return
    t.go("done")
    answered = s.answered_at
    talk = 0.0 if answered is None else max(0.0, t.now - answered)
    t.journal(CallEnded(call_id=s.call_id, cause=s.cause or "ended", status=s.end_status,
                        by_leg=s.ended_by, duration_s=max(0.0, t.now - s.created_at),
                        talk_s=talk, at=t.now))
    closed = []
    for leg in s.legs.values():
        if leg.endpoint:  # anchored media: closing the endpoints finishes the recording
            owner = leg.moved_from or s.call_id
            t.tell(f"media/{owner}", CloseEndpoint(endpoint=leg.endpoint))
            closed.append(leg.endpoint)
        if leg.agent and leg.acd:
            t.tell(f"agent/{leg.agent}", AgentCallEnded(call_id=s.call_id))
        if leg.moved_from and leg.alias:  # the call this leg came from may stop forwarding
            t.tell(f"call/{leg.moved_from}", MovedLegEnded(key=leg.alias))
    if closed:  # each closed endpoint reports its leg's quality (actors.call.media_health)
        from actors.call.media_health import QUALITY_WAIT_S, QualityWaitOver

        t.update(quality_pending=tuple(closed))
        t.timer("quality", QUALITY_WAIT_S, QualityWaitOver())
        return
    if not any(leg.status in LIVE for leg in s.legs.values()):
        t.stop()


def _unheard(leg: Leg) -> bool:
    """An INVITE we gave up on before any answer to it: its CANCEL must wait for a
    provisional response (§9.1) that a dead contact (a stale registration, a fork to a phone
    switched off) never sends, so only Timer B (64*T1) would end it."""
    return leg.status == "cancelling" and leg.cancel_pending


def leg_ended(t: Turn, leg: Leg, **changes: object) -> Leg:
    return t.put(evolve(leg, status="ended", **changes))
