"""The call actor ``call/<id>``: a back-to-back user agent as a pure ``decide``.

One actor per call, hosted in the ``telephony`` process next to the SIP port, so SIP events
reach it without a hop. It owns every dialog of the call (the caller's leg ``a``, the agent or
trunk leg ``b``, transfer targets ``c``...) as plain records in :class:`CallState`, asks the
port to send what it builds, and journals each step of the call (the CDR's source).

A message that names no call this actor knows (a stray request after the call ended woke a
fresh actor) is answered 481 and the actor stops at once.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from actors.agent.messages import CancelRing, RingPhone, SupervisorJoin, SupervisorLeave
from actors.call.acd import on_announce, on_cancel_ring, on_overflow, on_queued, on_ring_phone
from actors.call.anchor import (
    on_media_dtmf,
    on_media_failed,
    on_media_opened,
    on_media_play_done,
    on_recording_saved,
    on_voicemail_done,
)
from actors.call.dialog_auth import on_final_response
from actors.call.ending import leg_ended, maybe_done
from actors.call.indialog import on_failure, on_reinvite_response, on_request
from actors.call.ivr_driver import on_ivr_event
from actors.call.media_health import (
    QualityWaitOver,
    on_media_quality,
    on_media_timeout,
    on_quality_wait_over,
)
from actors.call.messages import (
    CallState,
    Leg,
    LegHandover,
    LingerDone,
    MovedLegEnded,
    NoAnswer,
    ReplaceLeg,
    VoicemailDone,
)
from actors.call.setup import on_cancel, on_invite, on_invite_response, on_located, on_no_answer
from actors.call.supervise import on_supervisor_join, on_supervisor_leave
from actors.call.transfer import on_handover, on_linger_done, on_moved_leg_ended, on_replace
from actors.call.turn import CallSettings, Turn
from actors.effects import Effect, Stop
from actors.queue.messages import Announce, Overflow, Queued
from bus.message import Message
from ivr.messages import HttpFailed, HttpResult
from ivr.messages import PlayDone as IvrPlayDone
from ivr.messages import Timeout as IvrTimeout
from media.messages import DtmfDetected, MediaQuality, MediaTimeout, RecordingSaved
from media.messages import PlayDone as MediaPlayDone
from sip.builders import make_response
from telephony.messages import (
    SIP_PORT,
    CancelReceived,
    InviteReceived,
    Located,
    MediaFailed,
    MediaOpened,
    SendResponse,
    SipFailure,
    SipRequestIn,
    SipResponseIn,
)

SipEvent = SipRequestIn | SipResponseIn | CancelReceived | SipFailure


def _find_leg(t: Turn, call_id: str, name: str) -> Leg | None:
    if call_id == t.call_id:
        return t.s.legs.get(name)
    key = f"{call_id}.{name}"
    return next((leg for leg in t.s.legs.values() if leg.alias == key), None)


def _stray(t: Turn, msg: SipEvent) -> None:
    """An event for a leg this call does not have: answer requests 481 (RFC 3261 §12.2.2)."""
    if isinstance(msg, SipRequestIn) and msg.tx is not None:
        request = t.request(msg.request)
        if request.method != "ACK":
            data = make_response(request, 481)
            t.tell(SIP_PORT, SendResponse(call_id=msg.call_id, leg=msg.leg, tx=msg.tx,
                                          response=t.dump(data)))


def _on_sip(t: Turn, msg: SipEvent) -> None:
    key = f"{msg.call_id}.{msg.leg}"
    forward = t.s.moved.get(key)
    if forward is not None:
        t.tell(f"call/{forward}", msg)
        return
    leg = _find_leg(t, msg.call_id, msg.leg)
    if leg is None:
        _stray(t, msg)
        return
    if isinstance(msg, SipRequestIn):
        on_request(t, leg, msg)
    elif isinstance(msg, SipResponseIn):
        _on_response(t, leg, msg)
    elif isinstance(msg, CancelReceived):
        on_cancel(t, msg)
    else:
        on_failure(t, leg, msg)


def _on_response(t: Turn, leg: Leg, msg: SipResponseIn) -> None:
    resp = t.response(msg.response)
    method = resp.cseq.method
    if method == "INVITE" and leg.role == "uac" and msg.tx == leg.tx:
        on_invite_response(t, leg, resp)
        return
    if resp.status >= 200 and leg.in_flight:
        if on_final_response(t, leg, msg.tx, resp):
            return  # a challenge answered: the request went out again with credentials
        leg = t.leg(leg.name)
    if method == "INVITE":
        on_reinvite_response(t, leg, resp)
    elif method == "BYE" and resp.status >= 200:
        leg_ended(t, leg)
        maybe_done(t)


_Handler = Callable[[Turn, Any], None]

_HANDLERS: dict[type[Message], _Handler] = {
    InviteReceived: on_invite,
    SipRequestIn: _on_sip,
    SipResponseIn: _on_sip,
    CancelReceived: _on_sip,
    SipFailure: _on_sip,
    Located: on_located,
    NoAnswer: on_no_answer,
    LingerDone: on_linger_done,
    ReplaceLeg: on_replace,
    LegHandover: on_handover,
    MovedLegEnded: on_moved_leg_ended,
    Queued: on_queued,
    Announce: on_announce,
    Overflow: on_overflow,
    RingPhone: on_ring_phone,
    CancelRing: on_cancel_ring,
    IvrPlayDone: on_ivr_event,
    IvrTimeout: on_ivr_event,
    HttpResult: on_ivr_event,
    HttpFailed: on_ivr_event,
    MediaOpened: on_media_opened,
    MediaFailed: on_media_failed,
    RecordingSaved: on_recording_saved,
    MediaPlayDone: on_media_play_done,
    DtmfDetected: on_media_dtmf,
    VoicemailDone: on_voicemail_done,
    MediaTimeout: on_media_timeout,
    MediaQuality: on_media_quality,
    QualityWaitOver: on_quality_wait_over,
    SupervisorJoin: on_supervisor_join,
    SupervisorLeave: on_supervisor_leave,
}


class CallBehaviour:
    kind = "call"

    def __init__(self, settings: CallSettings) -> None:
        self.settings = settings

    def initial(self, address: str) -> CallState:
        return CallState(call_id=address.partition("/")[2])

    def decide(
        self, state: CallState, msg: Message, now: float
    ) -> tuple[CallState, Sequence[Effect]]:
        handler = _HANDLERS.get(type(msg))
        if handler is None:
            # e.g. an ErrorReply from an agent that refused news of a call; one that woke a
            # call long gone must not keep a fresh actor alive
            return state, ((Stop(),) if state.phase == "idle" else ())
        t = Turn(self.settings, state, now)
        handler(t, msg)
        if t.s.phase == "idle":
            t.stop()  # woken by a message for a call that is gone: do not linger
        return t.result()
