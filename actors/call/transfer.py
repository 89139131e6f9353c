"""Transfers (RFC 3515 REFER, RFC 5589 call control): blind, and attended with Replaces.

Blind: the transferor (say leg ``b``, an agent) sends REFER naming a number. We accept
(202), report progress to it in NOTIFYs (``message/sipfrag``), call the target as a new leg
*without* SDP, take the offer from its 2xx to the leg that stays (``keep``) in a re-INVITE,
and give ``keep``'s answer to the target in its ACK. Then the transferor hears "200 OK" and
hangs up (or is released after ``linger_s``).

Attended: the transferor first called the target through us (a second call), then sends
REFER with ``Replaces`` naming that consultation dialog. Its tags are ours, so they name the
other call actor: we ask it to hand over its far leg (:class:`ReplaceLeg`); it sends the
leg's dialog (:class:`LegHandover`), hangs up the consultation and keeps forwarding the
leg's SIP events to us. We join the leg with ``keep`` by the same two re-INVITEs.
"""

from __future__ import annotations

from actors.call.dialog_auth import send_in_dialog
from actors.call.ending import end_call, hang_up, maybe_done
from actors.call.legs import ack_for
from actors.call.messages import (
    CallTransferred,
    Leg,
    LegHandover,
    LingerDone,
    MovedLegEnded,
    OfferRelay,
    ReplaceLeg,
    Transfer,
)
from actors.call.setup import dial_external, ring_agent, status_line
from actors.call.turn import Turn
from bus.message import evolve
from sip.errors import SipParseError
from sip.fields import parse_name_addr
from sip.grammar import parse_params
from sip.message import Request
from sip.uri import SipUri, TelUri
from telephony.ids import parse_tag
from telephony.routing import agent_by_extension

SIPFRAG = "message/sipfrag;version=2.0"


def notify(t: Turn, by: str, status: int, *, final: bool) -> None:
    """Tell the transferor how its REFER is doing (RFC 3515 §2.4.5)."""
    leg = t.s.legs.get(by)
    if leg is None or leg.status != "confirmed":
        return
    state = "terminated;reason=noresource" if final else "active;expires=60"
    send_in_dialog(t, leg, "NOTIFY", body=status_line(status).encode(), content_type=SIPFRAG,
                   extra=(("Event", "refer"), ("Subscription-State", state)))


def _refer_target(request: Request) -> tuple[str, str | None] | None:
    """(number or URI user, Replaces value) of a REFER's Refer-To, None if unusable."""
    raw = request.headers.get("Refer-To")
    if raw is None:
        return None
    try:
        uri = parse_name_addr(raw).uri
    except SipParseError:
        return None
    if isinstance(uri, TelUri):
        return uri.digits, None
    if not isinstance(uri, SipUri) or not uri.user:
        return None
    replaces = next((v for k, v in uri.headers if k.lower() == "replaces"), None)
    return uri.user, replaces


def on_refer(t: Turn, leg: Leg, tx: str, request: Request) -> None:
    from actors.call.indialog import answer

    keep = t.partner(leg.name)
    target = _refer_target(request)
    if target is None:
        answer(t, leg, tx, request, 400)
        return
    if t.s.phase != "connected" or keep is None:
        answer(t, leg, tx, request, 403)
        return
    if t.s.transfer is not None or t.s.relay is not None:
        answer(t, leg, tx, request, 491)
        return
    number, replaces = target
    answer(t, leg, tx, request, 202)
    notify(t, leg.name, 100, final=False)
    if replaces is not None:
        _attended(t, leg, keep, number, replaces)
    else:
        _blind(t, leg, keep, number)


def _blind(t: Turn, leg: Leg, keep: Leg, number: str) -> None:
    name = t.free_leg_name()
    t.update(transfer=Transfer(kind="blind", by=leg.name, keep=keep.name, target=number,
                               new_leg=name))
    config = t.settings.config
    route = config.route_for(number)
    kind, _, target = str(route.target).partition(":") if route is not None else ("", "", "")
    if route is None:
        agent = agent_by_extension(config, number)
        if agent is not None:
            kind, target = "agent", agent.login
    if kind == "agent":
        ring_agent(t, name, target)
    elif kind == "external":
        dial_external(t, name, target, route.trunk or "" if route else "", body=b"")
    else:
        transfer_failed(t, 404)


def _replaced_dialog(replaces: str) -> tuple[str, str, str, str] | None:
    """(SIP Call-ID, our tag, their tag, our call id) of a Replaces value naming our dialog.

    Which of to-tag/from-tag is ours depends on who built the header (RFC 3891 §3 vs
    transferors that copy their own view); ours is the one that parses as our tag."""
    sip_call_id, _, rest = replaces.partition(";")
    try:
        params, _ = parse_params(";" + rest, 0, "Replaces")
    except SipParseError:
        return None
    to_tag, from_tag = params.get("to-tag"), params.get("from-tag")
    for ours, theirs in ((to_tag, from_tag), (from_tag, to_tag)):
        owner = parse_tag(ours)
        if owner is not None and ours is not None:
            return sip_call_id.strip(), ours, theirs or "", owner[0]
    return None


def _attended(t: Turn, leg: Leg, keep: Leg, number: str, replaces: str) -> None:
    t.update(transfer=Transfer(kind="attended", by=leg.name, keep=keep.name, target=number))
    found = _replaced_dialog(replaces)
    if found is None or found[3] == t.call_id:
        transfer_failed(t, 481)  # not a dialog of ours (RFC 3891 §3: 481)
        return
    sip_call_id, ours, theirs, other_call = found
    t.update(transfer=Transfer(kind="attended", by=leg.name, keep=keep.name, target=number,
                               replaces_call=other_call))
    t.tell(f"call/{other_call}", ReplaceLeg(by_call=t.call_id, sip_call_id=sip_call_id,
                                            local_tag=ours, remote_tag=theirs))


# ---------------------------------------------------------------- the new leg answers


def target_answered(t: Turn, leg: Leg) -> None:
    """The blind transfer's target answered our offer-less INVITE with an offer."""
    transfer = t.s.transfer
    assert transfer is not None
    if not leg.sdp:
        t.send(leg, ack_for(leg, local=t.local, call_id=t.call_id, n=t.next_n()))
        hang_up(t, leg)
        transfer_failed(t, 488)
        return
    leg = t.put(evolve(leg, ack_deferred=True))
    offer_to(t, transfer.keep, leg.sdp, ack_to=leg.name)


def offer_to(t: Turn, name: str, sdp: bytes, *, ack_to: str) -> None:
    from actors.call.anchor import close_endpoint

    close_endpoint(t, t.leg(name))  # anchored media: the leg now talks to the offerer
    send_in_dialog(t, t.leg(name), "INVITE", body=sdp)
    t.update(relay=OfferRelay(source="", target=name, ack_to=ack_to))


def join_step(t: Turn, relay: OfferRelay, leg: Leg, body: bytes) -> None:
    """A 2xx to a re-INVITE we sent to join two legs."""
    if relay.then:
        # ``leg`` answered our offer-less re-INVITE with an offer: re-offer it to ``then``.
        t.put(evolve(leg, ack_deferred=True))
        offer_to(t, relay.then, body, ack_to=leg.name)
        return
    t.send(leg, ack_for(leg, local=t.local, call_id=t.call_id, n=t.next_n()))
    other = t.leg(relay.ack_to)
    t.send(other, ack_for(other, local=t.local, call_id=t.call_id, n=t.next_n(), body=body))
    t.put(evolve(other, ack_deferred=False))
    t.update(relay=None)
    _transfer_done(t)


def _transfer_done(t: Turn) -> None:
    transfer = t.s.transfer
    if transfer is None:
        return
    bridge = (transfer.keep, transfer.new_leg)
    if transfer.new_leg == "a":
        bridge = ("a", transfer.keep)
    t.update(transfer=None, bridge=bridge, held_by="")
    notify(t, transfer.by, 200, final=True)
    t.journal(CallTransferred(call_id=t.call_id, kind=transfer.kind, by_leg=transfer.by,
                              target=transfer.target, outcome="connected", status=200,
                              at=t.now))
    by = t.s.legs.get(transfer.by)
    if by is not None and by.status == "confirmed":
        t.timer(f"linger:{by.name}", t.settings.linger_s, LingerDone(leg=by.name))


def transfer_failed(t: Turn, status: int) -> None:
    transfer = t.s.transfer
    if transfer is None:
        return
    t.update(transfer=None)
    notify(t, transfer.by, status, final=True)
    t.journal(CallTransferred(call_id=t.call_id, kind=transfer.kind, by_leg=transfer.by,
                              target=transfer.target, outcome="failed", status=status,
                              at=t.now))
    new = t.s.legs.get(transfer.new_leg) if transfer.new_leg else None
    if new is not None and new.status in ("trying", "early", "confirmed"):
        hang_up(t, new)


def join_failed(t: Turn, status: int) -> None:
    """A leg refused the re-INVITE that joins it: the transfer failed; the call goes on."""
    transfer_failed(t, status)


def on_linger_done(t: Turn, msg: LingerDone) -> None:
    leg = t.s.legs.get(msg.leg)
    if leg is not None and leg.status == "confirmed" and leg.name not in t.s.bridge:
        hang_up(t, leg)


# ---------------------------------------------------------------- attended: between calls


def on_replace(t: Turn, msg: ReplaceLeg) -> None:
    """Another call's REFER replaces our dialog ``msg``: hand it our far leg."""
    consult = next(
        (leg for leg in t.s.legs.values() if leg.dialog is not None
         and leg.dialog.call_id == msg.sip_call_id and leg.dialog.local_tag == msg.local_tag
         and leg.status == "confirmed"),
        None,
    )  # fmt: skip
    far = t.partner(consult.name) if consult is not None else None
    back = f"call/{msg.by_call}"
    if consult is None or far is None or far.status != "confirmed" or t.s.relay is not None:
        t.tell(back, LegHandover(from_call=t.call_id, leg=None, reason="no such dialog"))
        return
    key = far.alias or f"{t.call_id}.{far.name}"
    t.tell(back, LegHandover(from_call=t.call_id, leg=far))
    legs = {name: leg for name, leg in t.s.legs.items() if name != far.name}
    t.update(legs=legs, moved={**t.s.moved, key: msg.by_call}, bridge=())
    end_call(t, cause="transferred", status=200, by="")


def on_handover(t: Turn, msg: LegHandover) -> None:
    transfer = t.s.transfer
    if transfer is None or transfer.kind != "attended" or transfer.replaces_call != msg.from_call:
        if msg.leg is not None:  # nobody wants it any more: hang it up ourselves
            name = t.free_leg_name()
            leg = t.put(_taken(msg, name))
            hang_up(t, leg)
        return
    if msg.leg is None:
        transfer_failed(t, 481)
        return
    name = t.free_leg_name()
    t.put(_taken(msg, name))
    t.update(transfer=evolve(transfer, new_leg=name))
    from actors.call.anchor import close_endpoint

    close_endpoint(t, t.leg(name))  # its offer goes to ``keep``: no longer anchored
    send_in_dialog(t, t.leg(name), "INVITE")
    t.update(relay=OfferRelay(source="", target=name, then=transfer.keep))


def _taken(msg: LegHandover, name: str) -> Leg:
    """The leg handed over, as a leg of this call: its forks stayed in the call it came from."""
    assert msg.leg is not None
    return evolve(msg.leg, name=name, alias=_key(msg), moved_from=msg.from_call, fork_of="")


def _key(msg: LegHandover) -> str:
    assert msg.leg is not None
    return msg.leg.alias or f"{msg.from_call}.{msg.leg.name}"


def on_moved_leg_ended(t: Turn, msg: MovedLegEnded) -> None:
    if msg.key in t.s.moved:
        t.update(moved={k: v for k, v in t.s.moved.items() if k != msg.key})
        maybe_done(t)
