"""Queued callbacks: the caller hangs up and keeps its place; the call is placed back when an
agent is free (anchored media only).

A caller asks for it in a scheme (a ``callback`` node: :class:`ivr.messages.OfferCallback`,
the scheme then says goodbye and hangs up) or while it waits in a queue by pressing
:data:`CALLBACK_KEY`. The call actor then stays in its queue without a caller: the queue keeps
the entry (no more announcements or max-wait overflow, ``queue.callback_requested``) and the
matcher offers it like any other waiting call. The offered agent's phone is rung from an
endpoint of its own; when the agent answers (``call.answered``: the call is answered once, by
that agent, after its whole wait), the customer's number is dialled through the trunk from a
third endpoint, and once it answers the two are bridged and recorded (customer left, agent
right). A customer who does not answer ends the call (the agent is hung up; the cause says
why). Every step is journaled.
"""

from __future__ import annotations

from dataclasses import replace

from actors.call.anchor import (
    close_endpoint,
    open_endpoint,
    play_to_caller,
    set_remote,
    tell_media,
)
from actors.call.ending import hang_up
from actors.call.legs import ack_for, sdp_of
from actors.call.messages import CallbackRequested, Leg
from actors.call.turn import Turn
from actors.queue.messages import RequestCallback
from media.messages import Bridge, Record
from sip.errors import OfferAnswerError, SdpError
from sip.message import Response
from sip.offer_answer import negotiate_answer
from sip.sdp import parse_sdp

#: pressed while waiting in a queue: "call me back instead"
CALLBACK_KEY = "*"
GOODBYE = "tts:We will call you back as soon as an agent is free. Goodbye."
#: the customer leg's target: dialled through the call's outbound trunk
TRUNK_TARGET = "trunk:"


def request_in_queue(t: Turn) -> None:
    """The waiting caller pressed the callback key: keep the place, say goodbye, hang up."""
    if t.s.callback or not t.s.queue:
        return
    _register(t, t.s.queue, t.s.caller)
    if play_to_caller(t, GOODBYE):
        t.update(announcing=GOODBYE)  # its end (PlayDone) hangs the caller up
    else:
        release_caller(t)


def after_scheme(t: Turn, queue: str, number: str) -> None:
    """A scheme's callback node was accepted: wait in ``queue`` without the caller."""
    from actors.call.acd import enqueue

    enqueue(t, queue)
    _register(t, queue, number)


def _register(t: Turn, queue: str, number: str) -> None:
    t.update(callback=number or t.s.caller)
    t.tell(f"queue/{queue}", RequestCallback(call_id=t.call_id, number=t.s.callback))
    t.journal(CallbackRequested(call_id=t.call_id, queue=queue, number=t.s.callback,
                                at=t.now))


def release_caller(t: Turn) -> None:
    """Hang the caller up (its place stays in the queue) and free its endpoint."""
    caller = t.s.legs.get("a")
    if caller is not None:
        close_endpoint(t, hang_up(t, caller))


def on_goodbye_played(t: Turn) -> None:
    if t.s.callback:
        release_caller(t)


# ---------------------------------------------------------------- placing the call back


def agent_answered(t: Turn, agent: Leg) -> None:
    """The agent took the callback: dial the customer from a new endpoint."""
    name = t.free_leg_name()
    t.put(Leg(name=name, role="uac", target_uri=f"{TRUNK_TARGET}{t.s.callback}"))
    t.update(bridge=(name, agent.name))
    open_endpoint(t, name)


def dial_customer(t: Turn, leg: Leg) -> None:
    """The customer leg's endpoint is open: INVITE the number through the trunk."""
    from actors.call.ending import end_call
    from actors.call.setup import call_out
    from telephony.routing import RoutingError, outbound_trunk, trunk_peer, trunk_request_uri

    number = leg.target_uri[len(TRUNK_TARGET):]
    try:
        trunk = outbound_trunk(t.settings.config, t.s.out_trunk or None)
    except RoutingError:
        end_call(t, cause="callback_no_trunk", status=503)
        return
    uri = trunk_request_uri(trunk, number)
    call_out(t, leg, request_uri=uri, to_uri=uri, peer=trunk_peer(trunk), body=leg.local_sdp)


def is_customer(t: Turn, leg: Leg) -> bool:
    return bool(t.s.callback) and leg.target_uri.startswith(TRUNK_TARGET)


def customer_answered(t: Turn, leg: Leg, resp: Response) -> None:
    """The customer picked up: bridge it with the agent and record both."""
    from actors.call.ending import end_call

    t.send(leg, ack_for(leg, local=t.local, call_id=t.call_id, n=t.next_n()))
    try:
        audio = negotiate_answer(parse_sdp(leg.local_sdp), parse_sdp(sdp_of(resp)))
    except (SdpError, OfferAnswerError):
        end_call(t, cause="no_common_codec", status=488)
        return
    set_remote(t, leg.endpoint, audio)
    agent = t.s.legs.get(t.s.bridge[1]) if len(t.s.bridge) == 2 else None
    if agent is None or not agent.endpoint:
        end_call(t, cause="callback_agent_gone", status=200)
        return
    tell_media(t, Bridge(a=leg.endpoint, b=agent.endpoint))
    tell_media(t, Record(call_id=t.call_id, left=leg.endpoint, right=agent.endpoint,
                         agent=agent.agent, queue=t.s.queue))
    t.put(replace(t.leg(leg.name), status="confirmed"))
