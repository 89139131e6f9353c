"""Requests inside established dialogs: ACK, BYE, re-INVITE (hold/resume), OPTIONS/INFO.

A re-INVITE from one leg is relayed to the leg it talks to (SDP passed through); the
answer comes back as our 2xx. When an offer comes in a 2xx instead (the re-INVITE had no
SDP), that leg's ACK is held until the other side's ACK brings the answer (RFC 3264 §5).
Hold is read from the offer (``a=sendonly``/``inactive`` or c=0.0.0.0): ``call.held`` and
``call.resumed`` go to the journal.
"""

from __future__ import annotations

from actors.agent.messages import Hold as AgentHold
from actors.agent.messages import Unhold as AgentUnhold
from actors.call.dialog_auth import forget, send_in_dialog
from actors.call.ending import end_call, leg_ended, maybe_done
from actors.call.legs import (
    ALLOW,
    ack_for,
    dialog_of,
    response,
    sdp_of,
    with_dialog,
)
from actors.call.messages import CallHeld, CallResumed, Leg, OfferRelay
from actors.call.turn import Turn
from bus.message import evolve
from sip.builders import make_response
from sip.errors import SdpError
from sip.message import Request, Response
from sip.offer_answer import is_hold
from sip.sdp import parse_sdp
from telephony.messages import SipFailure, SipRequestIn

ANSWERED_HERE = frozenset({"OPTIONS", "INFO", "NOTIFY", "UPDATE"})


def answer(t: Turn, leg: Leg, tx: str, request: Request, status: int, *, body: bytes = b"",
           extra: tuple[tuple[str, str], ...] = ()) -> None:
    t.respond(leg, tx, response(request, status, leg=leg, local=t.local, body=body,
                                extra=extra))


def on_request(t: Turn, leg: Leg, msg: SipRequestIn) -> None:
    request = t.request(msg.request)
    if request.method == "ACK":
        on_ack(t, leg, request)
        return
    tx = msg.tx or ""
    dialog = dialog_of(leg)
    rejection = dialog.receive_request(request)
    if rejection is not None:
        answer(t, leg, tx, request, rejection.status, extra=rejection.headers)
        return
    leg = t.put(with_dialog(leg, dialog))
    method = request.method
    if method == "BYE":
        on_bye(t, leg, tx, request)
    elif method == "INVITE":
        on_reinvite(t, leg, tx, request)
    elif method == "REFER":
        from actors.call.transfer import on_refer

        on_refer(t, leg, tx, request)
    elif method in ANSWERED_HERE:
        answer(t, leg, tx, request, 200)
        if method == "INFO" and leg.name == "a" and t.s.ivr is not None:
            from actors.call.ivr_driver import on_info

            on_info(t, request)  # DTMF for the IVR (SIP INFO: no RTP endpoint yet)
    else:
        answer(t, leg, tx, request, 501, extra=(("Allow", ALLOW),))


def on_ack(t: Turn, leg: Leg, ack: Request) -> None:
    if leg.dialog is None:
        return
    dialog = dialog_of(leg)
    dialog.receive_request(ack)
    leg = t.put(with_dialog(leg, dialog, sdp=sdp_of(ack) or leg.sdp))
    partner = t.partner(leg.name)
    if partner is not None and partner.ack_deferred:
        # The answer to the offer ``partner`` made in its 2xx: ACK it now, carrying that answer.
        t.send(partner, ack_for(partner, local=t.local, call_id=t.call_id, n=t.next_n(),
                                body=sdp_of(ack)))
        t.put(evolve(partner, ack_deferred=False))


def on_bye(t: Turn, leg: Leg, tx: str, bye: Request) -> None:
    answer(t, leg, tx, bye, 200)
    leg = leg_ended(t, leg)
    if leg.name == "a" and t.s.callback and t.s.phase in ("ivr", "queued", "ringing"):
        from actors.call.anchor import close_endpoint

        if t.s.phase == "ivr":  # accepted in the scheme, gone before its goodbye ended
            from actors.call.callback import after_scheme
            from actors.call.ivr_driver import caller_left

            caller_left(t)
            after_scheme(t, t.s.callback_queue, t.s.callback)
        close_endpoint(t, leg)  # a queued callback: its place stays without the caller
        return
    if leg.name == "a" and not t.s.bridge and t.s.phase in ("ivr", "queued", "ringing"):
        # The caller, answered by the IVR, leaves before anyone took the call.
        from actors.call.ivr_driver import caller_left

        caller_left(t)
        end_call(t, cause="caller_hangup", status=200, by="a")
        return
    if leg.name not in t.s.bridge:
        # A leg that no longer takes part (a transferor after its transfer): only it ends.
        t.cancel_timer(f"linger:{leg.name}")
        maybe_done(t)
        return
    cause = "caller_hangup" if leg.name == "a" else "callee_hangup"
    end_call(t, cause=cause, status=200, by=leg.name)


def hold_events(t: Turn, leg: Leg, sdp: bytes) -> None:
    if not sdp:
        return
    try:
        holding = is_hold(parse_sdp(sdp))
    except SdpError:
        return
    if holding and t.s.held_by != leg.name:
        t.update(held_by=leg.name)
        t.journal(CallHeld(call_id=t.call_id, by_leg=leg.name, at=t.now))
        _tell_agents(t, AgentHold(call_id=t.call_id))
    elif not holding and t.s.held_by == leg.name:
        t.update(held_by="")
        t.journal(CallResumed(call_id=t.call_id, by_leg=leg.name, at=t.now))
        _tell_agents(t, AgentUnhold(call_id=t.call_id))


def _tell_agents(t: Turn, msg: AgentHold | AgentUnhold) -> None:
    """The ACD agent on the call tracks hold time (``agent.hold`` / ``agent.unhold``)."""
    for other in t.s.legs.values():
        if other.agent and other.acd and other.status == "confirmed":
            t.tell(f"agent/{other.agent}", msg)


def on_reinvite(t: Turn, leg: Leg, tx: str, request: Request) -> None:
    if leg.endpoint:
        from actors.call.anchor import on_anchored_reinvite

        on_anchored_reinvite(t, leg, tx, request)  # anchored media: answered from its endpoint
        return
    partner = t.partner(leg.name)
    if t.s.relay is not None:
        answer(t, leg, tx, request, 491)  # one offer/answer exchange at a time (§14.2)
        _close_remote_invite(t, leg, request, 491)
        return
    if partner is None or partner.status != "confirmed":
        # Nobody to relay to (a transferor's leg after its transfer): refuse the change.
        answer(t, leg, tx, request, 488)
        _close_remote_invite(t, leg, request, 488)
        return
    sdp = sdp_of(request)
    hold_events(t, leg, sdp)
    send_in_dialog(t, partner, "INVITE", body=sdp)
    t.update(relay=OfferRelay(source=leg.name, target=partner.name, tx=tx,
                              request=t.dump(request)))


def _close_remote_invite(t: Turn, leg: Leg, request: Request, status: int) -> None:
    dialog = dialog_of(leg)
    dialog.response_sent(request, make_response(request, status))
    t.put(with_dialog(leg, dialog))


def on_reinvite_response(t: Turn, leg: Leg, resp: Response) -> None:
    """A response to a re-INVITE we sent on ``leg`` (relaying, or joining after a transfer)."""
    if resp.status < 200:
        return
    relay = t.s.relay
    if leg.dialog is not None:
        dialog = dialog_of(leg)
        invite_seq = dialog.invite_seq
        if invite_seq is None or resp.cseq.seq == invite_seq:
            dialog.local_invite_pending = False
            if resp.is_success and resp.contacts:
                dialog.remote_target = str(resp.contacts[0].uri)
        leg = t.put(with_dialog(leg, dialog, sdp=sdp_of(resp) or leg.sdp))
    if relay is None or relay.target != leg.name:
        if resp.is_success:  # a stray 2xx (retransmission of one we handled): ACK it
            t.send(leg, ack_for(leg, local=t.local, call_id=t.call_id, n=t.next_n()))
        return
    if not resp.is_success:
        _relay_failed(t, relay, resp.status)
        return
    body = sdp_of(resp)
    if relay.source:
        source = t.leg(relay.source)
        offered = bool(sdp_of(t.request(relay.request)))
        if offered:
            t.send(leg, ack_for(leg, local=t.local, call_id=t.call_id, n=t.next_n()))
        else:
            t.put(evolve(leg, ack_deferred=True))
        original = t.request(relay.request)
        ok = response(original, 200, leg=source, local=t.local, body=body)
        t.respond(source, relay.tx, ok)
        dialog = dialog_of(source)
        dialog.response_sent(original, ok)
        t.put(with_dialog(source, dialog))
        t.update(relay=None)
        return
    from actors.call.transfer import join_step

    join_step(t, relay, leg, body)


def _relay_failed(t: Turn, relay: OfferRelay, status: int) -> None:
    t.update(relay=None)
    if relay.source:
        source = t.leg(relay.source)
        original = t.request(relay.request)
        failure = response(original, status if status < 700 else 500, leg=source, local=t.local)
        t.respond(source, relay.tx, failure)
        dialog = dialog_of(source)
        dialog.response_sent(original, failure)
        t.put(with_dialog(source, dialog))
        if status in (408, 481):
            end_call(t, cause="failed", status=status, by=relay.target)
        return
    from actors.call.transfer import join_failed

    join_failed(t, status)


def on_failure(t: Turn, leg: Leg, msg: SipFailure) -> None:
    """No answer or a broken transport for one of our requests (or no ACK for our 2xx)."""
    from actors.call.setup import on_invite_response

    leg = forget(t, leg, msg.tx)
    if msg.kind == "no_ack":
        end_call(t, cause="no_ack", status=408, by=leg.name)
        return
    if msg.method == "INVITE" and msg.tx == leg.tx and leg.role == "uac":
        if leg.status in ("trying", "early", "cancelling"):
            on_invite_response(t, leg, _timeout_response(t, leg))
        return
    if msg.method == "INVITE":
        relay = t.s.relay
        if relay is not None and relay.target == leg.name:
            _relay_failed(t, relay, 408)
        return
    if msg.method == "BYE" or leg.status == "ending":
        leg_ended(t, leg)
        maybe_done(t)


def _timeout_response(t: Turn, leg: Leg) -> Response:
    """A 408 as if the peer had sent it (§8.1.3.1: a timeout is treated as 408)."""
    return make_response(t.request(leg.invite), 408)
