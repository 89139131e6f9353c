"""Setting a call up: the caller's INVITE, routing, ringing the far end, answer or failure.

``queue:`` routes go through the ACD (:mod:`actors.call.acd`): the legs it rings are
``acd`` legs, whose failure puts the call back in its queue instead of ending it.

Leg ``a`` is the caller (we are its UAS); ``b`` the agent phone or the trunk we call (we are
its UAC). Provisional responses from ``b`` are relayed to ``a`` (180, or 183 with early
media); its 2xx is ACKed and relayed as our 2xx to ``a``; its failure becomes ours. A CANCEL
from ``a`` cancels ``b``; a 2xx from ``b`` that crosses our CANCEL is ACKed and BYEd.
"""

from __future__ import annotations

from actors.agent.messages import Answered as AgentAnswered
from actors.agent.messages import Ring as AgentRing
from actors.call.ending import cancel_of, end_call, hang_up, leg_ended, maybe_done
from actors.call.forking import (
    MAX_FORKS,
    first_of,
    fork_failed,
    forks_of,
    group_name,
    new_fork,
    relays_provisional,
    still_ringing,
    won,
)
from actors.call.legs import (
    ack_for,
    contact_uri,
    dialog_of,
    dialog_record,
    new_invite,
    response,
    sdp_of,
    with_dialog,
)
from actors.call.messages import CallAnswered, CallCreated, CallRinging, Leg, NoAnswer
from actors.call.trunk_auth import answer_challenge
from actors.call.turn import Turn
from bus.message import evolve
from sip.builders import reason_phrase
from sip.dialog import Dialog
from sip.message import Response
from sip.transaction_layer import client_key
from telephony.ids import leg_tag
from telephony.messages import (
    SIP_PORT,
    CancelReceived,
    InviteReceived,
    Locate,
    Located,
    Peer,
)
from telephony.routing import RoutingError, outbound_trunk, trunk_peer, trunk_request_uri

#: failure status of the far end -> (status the caller gets, end cause)
_BUSY = frozenset({486, 600})
_NO_ANSWER = frozenset({408, 480})
_NOT_FOUND = frozenset({404, 484, 604})


def failure_for_caller(status: int) -> tuple[int, str]:
    """What the caller hears when the far end failed with ``status``, and the CDR cause.

    Challenges and redirects belong to the far hop (a B2BUA never relays them); 503 becomes
    500 so the caller's proxy does not mark *us* unavailable (RFC 3261 §16.7)."""
    cause = ("busy" if status in _BUSY else "rejected" if status == 603
             else "no_answer" if status in _NO_ANSWER else "not_found" if status in _NOT_FOUND
             else "failed")  # fmt: skip
    if status in (401, 407) or 300 <= status < 400:
        return 480, cause
    if status == 503:
        return 500, cause
    return status, cause


# ---------------------------------------------------------------- the caller's INVITE


def on_invite(t: Turn, msg: InviteReceived) -> None:
    if t.s.phase != "idle":
        return  # a second INVITE for this call id: the port never routes one here
    request = t.request(msg.request)
    local_contact = contact_uri(t.local, msg.peer.transport)
    dialog = Dialog.from_uas(request, local_tag=leg_tag(t.call_id, "a"),
                             local_contact=local_contact)
    t.put(Leg(name="a", role="uas", invite=msg.request, tx=msg.tx, peer=msg.peer,
              dialog=dialog_record(dialog), sdp=sdp_of(request)))
    t.update(route=msg.route, caller=msg.caller, dialled=msg.dialled, source=msg.source,
             out_trunk=msg.out_trunk, created_at=t.now, media=t.settings.media)
    t.go("invite")
    t.journal(CallCreated(call_id=t.call_id, caller=msg.caller, dialled=msg.dialled,
                          source=msg.source, route=msg.route, at=t.now))
    kind, _, name = msg.route.partition(":")
    if kind == "agent":
        ring_agent(t, "b", name)
    elif kind == "external":
        dial_external(t, "b", name, msg.out_trunk)
    elif kind == "ivr":
        from actors.call.ivr_driver import start_ivr

        start_ivr(t, name)  # 480 ivr_unavailable when the scheme is not loaded
    elif kind == "queue":
        from actors.call.acd import enqueue, known_queue

        if known_queue(t, name):
            enqueue(t, name)  # see actors.call.acd: ringback until an agent answers
        else:
            reject(t, 404, "no_route")
    else:
        reject(t, 404, "no_route")


def reject(t: Turn, status: int, cause: str) -> None:
    end_call(t, cause=cause, status=status, caller_status=status)


def ring_agent(t: Turn, name: str, login: str, *, acd: bool = False) -> None:
    agent = next((a for a in t.settings.config.agents if a.login == login), None)
    if agent is None:
        reject(t, 404, "no_route")
        return
    t.put(Leg(name=name, role="uac", agent=login, acd=acd))
    t.tell(SIP_PORT, Locate(call_id=t.call_id, leg=name, aor=agent.phone))


def dial_external(t: Turn, name: str, number: str, trunk_name: str, body: bytes | None = None
                  ) -> None:
    try:
        trunk = outbound_trunk(t.settings.config, trunk_name or None)
    except RoutingError:
        reject(t, 503, "no_trunk")
        return
    leg = t.put(Leg(name=name, role="uac"))
    call_out(t, leg, request_uri=trunk_request_uri(trunk, number),
             to_uri=trunk_request_uri(trunk, number), peer=trunk_peer(trunk), body=body)


def on_located(t: Turn, msg: Located) -> None:
    leg = t.s.legs.get(msg.leg)
    if leg is None or leg.invite or leg.status != "trying":
        return
    if not msg.contacts:
        if leg.supervisor:
            from actors.call.supervise import supervisor_leg_failed

            supervisor_leg_failed(t, leg, 480)
            return
        leg_ended(t, leg, final_status=480)
        if leg.acd:
            from actors.call.acd import ring_given_up

            ring_given_up(t, leg, 480)
            return
        on_leg_failed(t, t.leg(leg.name), 480, cause="not_registered")
        return
    transfer = t.s.transfer
    # A transfer target gets no offer: it makes one, which the leg that stays answers.
    body = b"" if transfer is not None and transfer.new_leg == leg.name else None
    best, *others = msg.contacts[:MAX_FORKS]
    call_out(t, leg, request_uri=best.uri, to_uri=msg.aor, peer=best.peer, body=body)
    for n, contact in enumerate(others, start=2):  # parallel forking: every contact rings
        fork = new_fork(t, t.leg(leg.name), n)
        call_out(t, fork, request_uri=contact.uri, to_uri=msg.aor, peer=contact.peer,
                 body=body)


def call_out(t: Turn, leg: Leg, *, request_uri: str, to_uri: str, peer: Peer,
             body: bytes | None) -> None:
    """Send the dialog-creating INVITE of ``leg``; ``body`` None: offer the caller's SDP."""
    caller = t.s.legs.get("a")
    if body is None and leg.local_sdp:
        body = leg.local_sdp  # anchored media: our endpoint's offer
    if body is None and caller is not None and caller.status == "confirmed":
        body = b""  # its offer was answered already (IVR): the far end offers, see _join
    offer = (caller.sdp if caller is not None else b"") if body is None else body
    max_forwards = 70
    if caller is not None and caller.invite:
        received = t.request(caller.invite).max_forwards
        max_forwards = 70 if received is None else max(received - 1, 0)
    request = new_invite(local=t.local, call_id=t.call_id, leg=leg.name, n=t.next_n(),
                         request_uri=request_uri, to_uri=to_uri, caller=t.s.caller,
                         transport=peer.transport, body=offer, max_forwards=max_forwards)
    leg = t.put(evolve(leg, invite=t.dump(request), tx=client_key(request), peer=peer,
                        status="trying"))
    t.send(leg, request, peer)
    if not leg.fork_of:  # one timer for an offer and its forks (actors.call.forking)
        t.timer(f"ring:{leg.name}", t.settings.ring_timeout_s, NoAnswer(leg=leg.name))
    if t.s.phase in ("routing", "ivr", "queued"):
        t.go("ring")


# ---------------------------------------------------------------- answers to our INVITE


def on_invite_response(t: Turn, leg: Leg, resp: Response) -> None:
    """A response to the dialog-creating INVITE of outgoing leg ``leg``."""
    if resp.status < 200:
        _provisional(t, leg, resp)
    elif resp.status < 300:
        if leg.status in ("confirmed", "ending") and leg.dialog is not None \
                and leg.dialog.remote_tag == resp.to.tag:
            return  # a retransmission: its ACK is cached in the port, or held on purpose
        _answered(t, leg, resp)
    elif not answer_challenge(t, leg, resp):  # a trunk's 401/407: resent with credentials
        _failed(t, leg, resp.status)


def _early_dialog(t: Turn, leg: Leg, resp: Response) -> Leg:
    if leg.dialog is not None or resp.to.tag is None:
        return leg
    invite = t.request(leg.invite)
    dialog = Dialog.from_uac(invite, resp, local_contact=contact_uri(t.local, leg.peer.transport
                                                                     if leg.peer else "UDP"))
    return with_dialog(leg, dialog, status="early")


def _provisional(t: Turn, leg: Leg, resp: Response) -> None:
    first = not any(fork.provisional for fork in forks_of(t, leg))  # one ring per offer
    leg = _early_dialog(t, leg, resp)
    sdp = sdp_of(resp)
    leg = t.put(evolve(leg, provisional=True, sdp=sdp or leg.sdp))
    if leg.cancel_pending:
        t.send(leg, cancel_of(t, leg), leg.peer)
        t.put(evolve(leg, cancel_pending=False))
        return
    if leg.status == "cancelling" or t.s.phase != "ringing":
        return
    offer = first_of(t, leg)
    transfer = t.s.transfer
    if transfer is not None and transfer.new_leg == offer.name:
        return  # transfer targets ring silently; the transferor hears of the outcome only
    caller = t.s.legs.get("a")
    if caller is not None and caller.status in ("trying", "early") \
            and relays_provisional(t, leg, caller, sdp):
        status = resp.status if resp.status in (180, 181, 182, 183) else 180
        body = sdp if sdp else b""
        if status == 183 and not body:
            status = 180
        t.respond(caller, caller.tx, response(t.request(caller.invite), status, leg=caller,
                                              local=t.local, body=body))
        t.put(evolve(caller, status="early"))
        if t.s.early_from != leg.name:
            t.update(early_from=leg.name)
    if first:
        t.journal(CallRinging(call_id=t.call_id, leg=leg.name, agent=leg.agent,
                              early_media=bool(sdp), at=t.now))
        if leg.agent and offer.acd:
            t.tell(f"agent/{leg.agent}", AgentRing(call_id=t.call_id))


def _confirm(t: Turn, leg: Leg, resp: Response) -> Leg:
    """Our dialog with ``leg`` after its 2xx (a forked 2xx with a new tag replaces it)."""
    invite = t.request(leg.invite)
    if leg.dialog is None or leg.dialog.remote_tag != resp.to.tag:
        transport = leg.peer.transport if leg.peer else "UDP"
        dialog = Dialog.from_uac(invite, resp, local_contact=contact_uri(t.local, transport))
    else:
        dialog = dialog_of(leg)
        dialog.receive_response(invite, resp)
    return with_dialog(leg, dialog, status="confirmed", sdp=sdp_of(resp) or leg.sdp)


def _answered(t: Turn, leg: Leg, resp: Response) -> None:
    t.cancel_timer(f"ring:{group_name(leg)}")
    unwanted = leg.status in ("cancelling", "ended") or t.s.phase in ("ending", "ended")
    leg = t.put(_confirm(t, leg, resp))
    if unwanted:
        # Our CANCEL crossed its 2xx (or the call is over, or another fork won): the dialog
        # exists, so ACK it and end it with BYE (RFC 3261 §9.1, §13.2.2.4, §15).
        t.send(leg, ack_for(leg, local=t.local, call_id=t.call_id, n=t.next_n()))
        hang_up(t, leg)
        maybe_done(t)
        return
    leg = won(t, leg)  # the first 2xx of its forks: the others are cancelled
    transfer = t.s.transfer
    if transfer is not None and transfer.new_leg == leg.name:
        from actors.call.transfer import target_answered

        target_answered(t, leg)
        return
    if leg.target_uri.startswith("trunk:") and t.s.callback:
        from actors.call.callback import customer_answered

        customer_answered(t, leg, resp)
        return
    if leg.supervisor:
        from actors.call.supervise import supervisor_answered

        supervisor_answered(t, leg, resp)
        return
    if leg.endpoint:
        from actors.call.anchor import agent_answered

        agent_answered(t, leg, resp)
        return
    caller = t.s.legs.get("a")
    joining = (caller is not None and caller.status == "confirmed" and not t.s.bridge
               and t.s.phase == "ringing" and bool(leg.sdp))
    if caller is None or (caller.status not in ("trying", "early") and not joining):
        t.send(leg, ack_for(leg, local=t.local, call_id=t.call_id, n=t.next_n()))
        hang_up(t, leg)
        return
    if joining:
        _join(t, leg)
        return
    if caller.sdp:
        t.send(leg, ack_for(leg, local=t.local, call_id=t.call_id, n=t.next_n()))
    else:
        # The caller made no offer: ours came in this 2xx; its answer arrives in the
        # caller's ACK and goes to ``leg`` in ours (RFC 3264 §5, delayed offer).
        leg = t.put(evolve(leg, ack_deferred=True))
    ok = response(t.request(caller.invite), 200, leg=caller, local=t.local, body=leg.sdp)
    t.respond(caller, caller.tx, ok)
    dialog = dialog_of(caller)
    dialog.response_sent(t.request(caller.invite), ok)
    t.put(with_dialog(caller, dialog, status="confirmed"))
    _connected(t, leg)


def _join(t: Turn, leg: Leg) -> None:
    """The far end answered our offer-less INVITE of a caller we answered already (after an
    IVR): re-INVITE the caller with its offer; the caller's answer goes in our ACK to it."""
    from actors.call.transfer import offer_to

    leg = t.put(evolve(leg, ack_deferred=True))
    offer_to(t, "a", leg.sdp, ack_to=leg.name)
    _connected(t, leg)


def connected(t: Turn, leg: Leg) -> None:
    """``leg`` answered and talks to the caller: the call is connected (journaled)."""
    _connected(t, leg)


def _connected(t: Turn, leg: Leg) -> None:
    t.update(bridge=("a", leg.name), answered_at=t.now)
    t.go("answer")
    for other in list(t.s.legs.values()):  # ring-all: the other phones stop ringing
        if other.role == "uac" and other.name != leg.name and other.status in ("trying",
                                                                              "early"):
            t.put(evolve(hang_up(t, other), acd=False))
    t.journal(CallAnswered(call_id=t.call_id, leg=leg.name, agent=leg.agent,
                           waited_s=max(0.0, t.now - (t.s.waiting_since or t.s.created_at)),
                           at=t.now,
                           queue=t.s.queue))
    if leg.agent and leg.acd:
        t.tell(f"agent/{leg.agent}", AgentAnswered(call_id=t.call_id))


def _failed(t: Turn, leg: Leg, status: int) -> None:
    was = leg.status
    leg = leg_ended(t, leg, final_status=status)
    if not still_ringing(t, leg):
        t.cancel_timer(f"ring:{group_name(leg)}")
    if was in ("cancelling", "ended") or t.s.phase in ("ending", "ended"):
        maybe_done(t)
        return
    outcome = fork_failed(t, leg, status)
    if outcome is None:
        return  # other forks still ring
    leg, status = outcome  # the offer's first leg, and the best status of all its forks
    if leg.supervisor:
        from actors.call.supervise import supervisor_leg_failed

        supervisor_leg_failed(t, leg, status)
        return
    transfer = t.s.transfer
    if transfer is not None and transfer.new_leg == leg.name:
        from actors.call.transfer import transfer_failed

        transfer_failed(t, status)
        return
    if leg.acd:
        from actors.call.acd import ring_given_up

        ring_given_up(t, leg, status)
        return
    on_leg_failed(t, leg, status)


def on_leg_failed(t: Turn, leg: Leg, status: int, *, cause: str | None = None) -> None:
    """The far end of the call could not be reached: the caller hears why."""
    caller_status, default_cause = failure_for_caller(status)
    end_call(t, cause=cause or default_cause, status=caller_status, by=leg.name,
             caller_status=caller_status)


# ---------------------------------------------------------------- caller gone, no answer


def on_cancel(t: Turn, msg: CancelReceived) -> None:
    caller = t.s.legs.get(msg.leg)
    if caller is None or caller.role != "uas" or caller.status not in ("trying", "early"):
        return  # answered already: the CANCEL has no effect (RFC 3261 §9.2)
    end_call(t, cause="caller_cancel", status=487, caller_status=487)


def on_no_answer(t: Turn, msg: NoAnswer) -> None:
    leg = t.s.legs.get(msg.leg)
    if leg is None or not still_ringing(t, leg):
        return  # (hanging ``leg`` up below stops its forks too: see ``hang_up``)
    if leg.supervisor:
        from actors.call.supervise import supervisor_leg_failed

        supervisor_leg_failed(t, leg, 408)
        return
    transfer = t.s.transfer
    if transfer is not None and transfer.new_leg == leg.name:
        from actors.call.transfer import transfer_failed

        hang_up(t, leg)
        transfer_failed(t, 408)
        return
    if leg.acd:  # the agent actor times the ring out (CancelRing); this is a backstop
        from actors.call.acd import back_to_queue

        t.put(evolve(hang_up(t, leg), acd=False))
        back_to_queue(t)
        return
    end_call(t, cause="no_answer", status=480, caller_status=480)


def status_line(status: int) -> str:
    return f"SIP/2.0 {status} {reason_phrase(status)}"
