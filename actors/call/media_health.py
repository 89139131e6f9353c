"""What the media pool says about a call's legs: dead legs and the quality of each leg.

A leg whose phone stopped sending RTP and RTCP (pulled cable, crashed softphone, NAT binding
gone) while it should be sending is reported by its worker (:class:`MediaTimeout`): nobody
hears anybody any more, so the call ends with cause ``media_timeout`` instead of holding an
agent until someone notices. A supervisor's leg going silent ends only that leg.

Each endpoint reports its receive quality when it closes (:class:`MediaQuality`); the call
journals it as ``call.media_quality`` (one per leg: packets, loss, jitter, round trip, the
E-model's MOS), which the CDR keeps (``report_call.quality``, and ``mos``: the worst leg).
Endpoints close as the call ends, so the ended call lingers up to :data:`QUALITY_WAIT_S` for
those reports before it stops.
"""

from __future__ import annotations

from actors.call.ending import maybe_done
from actors.call.turn import Turn
from bus.message import Message, message
from media.messages import MediaQuality, MediaTimeout

#: how long an ended call waits for the quality reports of the endpoints it closed
QUALITY_WAIT_S = 2.0


@message("call.media_quality")
class CallMediaQuality(Message):
    """Receive quality of one leg of the call (what the pool heard from that phone or trunk)."""

    call_id: str
    leg: str
    agent: str
    duration_s: float
    packets_received: int
    packets_lost: int
    loss_pct: float
    jitter_mean_ms: float
    jitter_max_ms: float
    rtt_ms: float | None
    peer_loss_pct: float | None
    r_factor: float
    mos: float
    at: float


@message("call.quality_wait_over")
class QualityWaitOver(Message):
    """The ended call stops even though some quality reports did not come."""


MEDIA_HEALTH_MESSAGES: tuple[type[Message], ...] = (CallMediaQuality, QualityWaitOver)


def on_media_timeout(t: Turn, msg: MediaTimeout) -> None:
    from actors.call.ending import end_call

    leg = next((leg for leg in t.s.legs.values() if leg.endpoint == msg.endpoint), None)
    if leg is None or t.s.phase in ("ending", "ended", "idle"):
        return  # an endpoint closed meanwhile, or a call already going down
    if leg.supervisor:
        from actors.agent.messages import SupervisorLeave
        from actors.call.supervise import on_supervisor_leave

        on_supervisor_leave(t, SupervisorLeave(call_id=t.call_id, supervisor=leg.supervisor))
        return
    end_call(t, cause="media_timeout", status=200)


def on_media_quality(t: Turn, msg: MediaQuality) -> None:
    leg = t.s.legs.get(msg.leg)
    t.journal(CallMediaQuality(
        call_id=t.call_id, leg=msg.leg, agent=leg.agent if leg is not None else "",
        duration_s=msg.duration_s, packets_received=msg.packets_received,
        packets_lost=msg.packets_lost, loss_pct=msg.loss_pct, jitter_mean_ms=msg.jitter_mean_ms,
        jitter_max_ms=msg.jitter_max_ms, rtt_ms=msg.rtt_ms, peer_loss_pct=msg.peer_loss_pct,
        r_factor=msg.r_factor, mos=msg.mos, at=t.now))
    waiting = tuple(e for e in t.s.quality_pending if e != msg.endpoint)
    if waiting != t.s.quality_pending:
        t.update(quality_pending=waiting)
        if not waiting:
            t.cancel_timer("quality")
            maybe_done(t)


def on_quality_wait_over(t: Turn, msg: QualityWaitOver) -> None:
    t.update(quality_pending=())
    maybe_done(t)
