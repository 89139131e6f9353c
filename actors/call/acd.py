"""The call in the ACD: waiting in a queue, ringing the agents the queue picks, overflowing.

The protocol is the one :class:`sim.actors.CallerBehaviour` speaks at message level: the call
tells ``queue/<name>`` :class:`Enqueue` (the queue replies :class:`Queued`); the agent the
matcher picked sends :class:`RingPhone`, and this actor INVITEs the phone the agent logged in
with (located through the registrar like ``agent:`` routes) as a new leg; the phone's 180 and
200 go to ``agent/<login>`` as ``agent.ring`` / ``agent.answered``; :class:`CancelRing` (the
agent rejected or did not answer in time: the agent actor decides that) CANCELs the leg.

Media: in anchored mode (the default, :mod:`actors.call.anchor`) the caller is answered with
a media pool endpoint, hears music on hold and its position (:class:`Announce`), and the agent
phone is offered an endpoint of its own; the two are bridged and recorded on answer. In relay
mode the caller is *not* answered while queued: it gets 180 as soon as it is queued (ringback
from its own network) and the agent phone's 200 with its SDP answer is relayed as the caller's
200, so media stays end to end; announcements are not played.
"""

from __future__ import annotations

from actors.agent.messages import CallEnded as AgentCallEnded
from actors.agent.messages import CancelRing, Reject, RingPhone
from actors.call.anchor import (
    anchoring,
    announce,
    close_endpoint,
    open_caller_media,
    play_hold_music,
    ring_agent_anchored,
)
from actors.call.ending import end_call, hang_up
from actors.call.forking import still_ringing
from actors.call.legs import response
from actors.call.messages import CallQueued, Leg
from actors.call.turn import Turn
from actors.queue.messages import Announce, Enqueue, Overflow, Queued
from bus.message import evolve
from telephony.messages import SIP_PORT, Locate

#: a phone that declines (busy here, decline) is the agent rejecting the offer
_DECLINED = frozenset({486, 600, 603})


def known_queue(t: Turn, name: str) -> bool:
    return any(q.name == name for q in t.settings.config.queues)


def enqueue(t: Turn, name: str, waiting_since: float | None = None, *,
            priority: int | None = None, skills: dict[str, int] | None = None) -> None:
    """Put the call in ``queue/<name>``; the caller hears ringback until an agent answers
    (after an IVR the caller is answered already: it hears what the IVR left it with)."""
    since = t.now if waiting_since is None else waiting_since
    t.update(queue=name, waiting_since=since)
    t.tell(f"queue/{name}", Enqueue(call_id=t.call_id, caller=t.s.caller, waiting_since=since,
                                    priority=priority, skills=skills))
    caller = t.s.legs.get("a")
    if not open_caller_media(t) and caller is not None and caller.endpoint \
            and caller.status == "confirmed" and t.s.phase == "ivr":
        play_hold_music(t)  # answered by a scheme already: music instead of its prompts
    if caller is not None and caller.status == "trying":
        t.respond(caller, caller.tx, response(t.request(caller.invite), 180, leg=caller,
                                              local=t.local))
        t.put(evolve(caller, status="early"))
    if t.s.phase in ("routing", "ivr"):
        t.go("queue")
    elif t.s.phase == "ringing" and not _ringing_legs(t):
        t.go("requeue")


def waiting(t: Turn) -> bool:
    """Still in the ACD: queued or ringing an agent, not answered, not ending."""
    return bool(t.s.queue) and t.s.answered_at is None and t.s.phase in ("queued", "ringing")


def _ringing_legs(t: Turn) -> list[Leg]:
    return [leg for leg in t.s.legs.values()
            if leg.role == "uac" and leg.status in ("trying", "early")]


def _acd_leg(t: Turn, agent: str) -> Leg | None:
    """The leg that owns ``agent``'s offer while one of its forks still rings (the offer
    passes to the fork that answers: :mod:`actors.call.forking`)."""
    return next((leg for leg in t.s.legs.values() if leg.acd and leg.agent == agent
                 and still_ringing(t, leg)), None)  # fmt: skip


def back_to_queue(t: Turn) -> None:
    """No agent leg rings any more: the call waits in its queue again (ringback goes on)."""
    if t.s.phase == "ringing" and t.s.queue and not _ringing_legs(t):
        t.go("requeue")


def ring_given_up(t: Turn, leg: Leg, status: int) -> None:
    """An agent's leg failed (not registered, busy, timer): the call stays queued.

    The agent actor times the ring out itself (not_ready ``no_answer``); a phone that
    declines is reported as the agent rejecting the offer, so the next agent is tried now."""
    if status in _DECLINED:
        t.tell(f"agent/{leg.agent}", Reject(call_id=t.call_id))
    close_endpoint(t, t.leg(leg.name))
    t.put(evolve(t.leg(leg.name), acd=False))  # its agent has moved on: no CallEnded later
    back_to_queue(t)


# ---------------------------------------------------------------- from the ACD actors


def on_queued(t: Turn, msg: Queued) -> None:
    if not waiting(t) or msg.queue != t.s.queue:
        return
    t.journal(CallQueued(call_id=t.call_id, queue=msg.queue, position=msg.position,
                         ewt_s=msg.ewt_s, at=t.now))


def on_announce(t: Turn, msg: Announce) -> None:
    """Play the caller's position over the hold music (anchored media; relay: no endpoint)."""
    caller = t.s.legs.get("a")
    if (waiting(t) and msg.queue == t.s.queue and caller is not None and caller.endpoint
            and caller.status == "confirmed" and not t.s.announcing):
        announce(t, msg.position, msg.ewt_s)


def on_ring_phone(t: Turn, msg: RingPhone) -> None:
    if not waiting(t):
        # Answered by another agent, or gone (a fresh actor woken by the offer): free the
        # agent now instead of letting its ring time out as a no-answer.
        t.tell(f"agent/{msg.agent}", AgentCallEnded(call_id=t.call_id))
        return
    if _acd_leg(t, msg.agent) is not None:
        return  # a duplicate
    name = t.free_leg_name()
    if anchoring(t) or t.s.callback:  # a callback has no caller: its agent gets an endpoint
        ring_agent_anchored(t, name, msg.agent, msg.phone_uri)
        return
    t.put(Leg(name=name, role="uac", agent=msg.agent, acd=True))
    t.tell(SIP_PORT, Locate(call_id=t.call_id, leg=name, aor=msg.phone_uri))


def on_cancel_ring(t: Turn, msg: CancelRing) -> None:
    leg = _acd_leg(t, msg.agent)
    if leg is None:
        return
    leg = close_endpoint(t, hang_up(t, leg))
    t.put(evolve(leg, acd=False))
    back_to_queue(t)


def on_overflow(t: Turn, msg: Overflow) -> None:
    if not waiting(t) or msg.queue != t.s.queue:
        return
    for leg in _ringing_legs(t):
        t.put(evolve(hang_up(t, leg), acd=False))
    if msg.kind == "queue" and known_queue(t, msg.target):
        if t.s.phase == "ringing":
            t.go("requeue")
        enqueue(t, msg.target, msg.waiting_since)
        return
    if msg.kind == "external" and msg.target:
        from actors.call.setup import dial_external

        if t.s.phase == "ringing":
            t.go("requeue")
        t.update(queue="")  # out of the ACD: a direct call to the number now
        dial_external(t, t.free_leg_name(), msg.target, t.s.out_trunk)
        return
    # voicemail and callbacks need the media pool to record or prompt: not served yet
    t.update(queue="")
    end_call(t, cause=f"overflow_{msg.kind}", status=480, caller_status=480)
