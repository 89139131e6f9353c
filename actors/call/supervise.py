"""A supervisor joins a connected call: the HRM's listen, whisper and barge.

The agent actor accepts a help request and tells the call :class:`SupervisorJoin`. The call
(anchored media only: the two parties must be endpoints of the media pool) rings the
supervisor's own phone (``[[user]] phone``, or its agent phone) from a new endpoint, and once
it answers asks the pool to mix it in (:class:`media.messages.Join`): *listen* hears both
parties, *whisper* also speaks to the agent only, *barge* speaks to both. A new mode for the
same supervisor re-mixes the answered leg; :class:`SupervisorLeave` hangs it up. A
supervisor's leg never ends the call: its failure, no-answer or BYE ends only that leg, and
the call's end hangs it up with the others. Every step is journaled as ``call.supervised``.
"""

from __future__ import annotations

from actors.agent.messages import SupervisorJoin, SupervisorLeave
from actors.call.anchor import close_endpoint, media_address, open_endpoint, set_remote
from actors.call.ending import hang_up
from actors.call.forking import still_ringing
from actors.call.legs import ack_for, sdp_of
from actors.call.messages import CallSupervised, Leg
from actors.call.turn import Turn
from bus.message import evolve
from media.messages import Join
from sip.errors import OfferAnswerError, SdpError
from sip.message import Response
from sip.offer_answer import negotiate_answer
from sip.sdp import parse_sdp

MODES = ("listen", "whisper", "barge")


def supervisor_phone(t: Turn, login: str) -> str:
    user = next((u for u in t.settings.config.users if u.login == login), None)
    if user is not None and user.phone:
        return user.phone
    agent = next((a for a in t.settings.config.agents if a.login == login), None)
    return agent.phone if agent is not None else ""


def _leg_of(t: Turn, supervisor: str) -> Leg | None:
    """The supervisor's answered leg, or the one that owns its offer while it rings (its
    forks ring for it: :mod:`actors.call.forking`)."""
    return next((leg for leg in t.s.legs.values() if leg.supervisor == supervisor
                 and (leg.status == "confirmed" or (not leg.fork_of and still_ringing(t, leg)))),
                None)  # fmt: skip


def _talking_pair(t: Turn) -> tuple[Leg, Leg] | None:
    if t.s.phase != "connected" or len(t.s.bridge) != 2:
        return None
    caller, agent = (t.s.legs.get(n) for n in t.s.bridge)
    if caller is None or agent is None or not caller.endpoint or not agent.endpoint:
        return None
    return caller, agent


def _journal(t: Turn, leg: Leg, mode: str) -> None:
    agent = next((t.s.legs[n].agent for n in t.s.bridge[1:] if n in t.s.legs), "")
    t.journal(CallSupervised(call_id=t.call_id, supervisor=leg.supervisor, agent=agent,
                             mode=mode, at=t.now))


def on_supervisor_join(t: Turn, msg: SupervisorJoin) -> None:
    if msg.mode not in MODES:
        return
    leg = _leg_of(t, msg.supervisor)
    if leg is not None:
        leg = t.put(evolve(leg, join=msg.mode))
        if leg.status == "confirmed":
            _mix(t, leg)
        return
    phone = supervisor_phone(t, msg.supervisor)
    if _talking_pair(t) is None or not phone:
        why = "no phone configured" if not phone else "the call is not connected in the pool"
        t.journal(CallSupervised(call_id=t.call_id, supervisor=msg.supervisor,
                                 agent=msg.agent, mode=f"refused: {why}", at=t.now))
        return
    name = t.free_leg_name()
    t.put(Leg(name=name, role="uac", target_uri=phone, supervisor=msg.supervisor,
              join=msg.mode))
    open_endpoint(t, name)


def on_supervisor_leave(t: Turn, msg: SupervisorLeave) -> None:
    leg = _leg_of(t, msg.supervisor)
    if leg is None:
        return
    leg = close_endpoint(t, hang_up(t, leg))
    _journal(t, leg, "left")


def supervisor_answered(t: Turn, leg: Leg, resp: Response) -> None:
    """The supervisor's phone answered our endpoint's offer: ACK it and mix it in."""
    t.send(leg, ack_for(leg, local=t.local, call_id=t.call_id, n=t.next_n()))
    try:
        audio = negotiate_answer(parse_sdp(leg.local_sdp), parse_sdp(sdp_of(resp)))
    except (SdpError, OfferAnswerError):
        close_endpoint(t, hang_up(t, leg))
        return
    set_remote(t, leg.endpoint, audio)
    if _talking_pair(t) is None:  # the call moved on while the phone rang
        close_endpoint(t, hang_up(t, leg))
        return
    _mix(t, leg)


def _mix(t: Turn, leg: Leg) -> None:
    pair = _talking_pair(t)
    if pair is None:
        return
    caller, agent = pair
    t.tell(media_address(t.call_id), Join(call_id=t.call_id, supervisor=leg.endpoint,
                                           caller=caller.endpoint, agent=agent.endpoint,
                                           mode=leg.join))  # type: ignore[arg-type]
    _journal(t, leg, leg.join)


def supervisor_leg_failed(t: Turn, leg: Leg, status: int) -> None:
    """Busy, not registered, no answer: only the supervisor's leg ends."""
    if leg.status != "confirmed":
        leg = hang_up(t, leg)  # a CANCEL if it (or a fork of it) was INVITEd, else just over
    close_endpoint(t, leg)
    _journal(t, leg, f"failed: {status}")
