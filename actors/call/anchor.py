"""Anchored media: the caller and the agent talk to endpoints of the media pool.

In ``media = "anchored"`` mode (the default) a caller routed to a queue or an IVR scheme is
answered at once with SDP pointing at a caller endpoint (``media/<call_id>``). In a scheme it
hears the prompts from the sound library and its digits (RFC 4733 or in-band) come back from
the endpoint (:mod:`actors.call.ivr_driver`); in a queue it hears the queue's music on hold,
interrupted by position announcements, and the agent phone is offered an agent endpoint.
When the agent answers, hold music stops, the two endpoints are bridged and the call is
recorded in stereo (caller left, agent right). Every endpoint is
closed when the call ends (closing finishes the recording; :class:`RecordingSaved` comes
back and is journaled as ``call.recorded``). A re-INVITE on an anchored leg (hold, resume)
is answered from its endpoint; a leg re-offered someone else's media (transfer, overflow to
a trunk) loses its endpoint and talks to that peer directly.

Endpoints are opened through the SIP port (:class:`OpenMedia`: ``media.open`` answers only
asks); every other media request is a plain tell. ``agent:`` and ``external:`` routes keep
end-to-end media (the relay path), as does every call in ``media = "relay"`` mode.
"""

from __future__ import annotations

from dataclasses import replace

from actors.call.ending import end_call
from actors.call.legs import ack_for, dialog_of, response, sdp_of, with_dialog
from actors.call.messages import CallRecorded, Leg, VoicemailDone
from actors.call.turn import Turn
from media.messages import (
    Bridge,
    CloseEndpoint,
    Direction,
    DtmfDetected,
    Play,
    PlayDone,
    Record,
    RecordingSaved,
    SetRemote,
    StopPlay,
)
from sip.errors import OfferAnswerError, SdpError
from sip.message import Request, Response
from sip.offer_answer import NegotiatedAudio, build_answer, build_offer, negotiate_answer
from sip.sdp import parse_sdp, serialize_sdp
from telephony.messages import SIP_PORT, Locate, MediaFailed, MediaOpened, OpenMedia

#: played as the voicemail recording starts (the prompt before it says "after the tone")
VOICEMAIL_BEEP = "tone:1000/500"
#: the session version of every description we make (we never re-offer on an anchored leg)
_VERSION = 1


def media_address(call_id: str) -> str:
    return f"media/{call_id}"


def anchoring(t: Turn) -> bool:
    """Whether this call's media is anchored: the caller's endpoint is open or on its way."""
    caller = t.s.legs.get("a")
    return caller is not None and (bool(caller.endpoint) or "a" in t.s.opening)


def _session_id(t: Turn) -> int:
    return int(t.now * 1000) & 0x7FFFFFFF


def open_endpoint(t: Turn, leg: str) -> None:
    t.update(opening=(*t.s.opening, leg))
    t.tell(SIP_PORT, OpenMedia(call_id=t.call_id, leg=leg))


def open_caller_media(t: Turn) -> bool:
    """A caller still unanswered enters a queue or a scheme: ask for its endpoint.
    False: the call stays relay (relay mode, no offer to answer, or asked already)."""
    caller = t.s.legs.get("a")
    if (t.s.media != "anchored" or caller is None or not caller.sdp or caller.endpoint
            or caller.status not in ("trying", "early") or "a" in t.s.opening):
        return False
    open_endpoint(t, "a")
    return True


def ring_agent_anchored(t: Turn, name: str, agent: str, phone_uri: str, *,
                        acd: bool = True) -> None:
    """An agent leg of an anchored call: its endpoint first, then the phone is located."""
    t.put(Leg(name=name, role="uac", agent=agent, acd=acd, target_uri=phone_uri))
    open_endpoint(t, name)


def tell_media(t: Turn,
               msg: SetRemote | Play | StopPlay | Bridge | Record | CloseEndpoint) -> None:
    t.tell(media_address(t.call_id), msg)


_DIRECTIONS: dict[str, Direction] = {"sendrecv": "sendrecv", "sendonly": "sendonly",
                                      "recvonly": "recvonly", "inactive": "inactive"}


def set_remote(t: Turn, endpoint: str, audio: NegotiatedAudio) -> None:
    event = audio.telephone_event
    tell_media(t, SetRemote(endpoint=endpoint, host=audio.remote_address, port=audio.remote_port,
                       payload_type=audio.codec.payload_type,
                       telephone_event_pt=event.payload_type if event else None,
                       ptime_ms=audio.ptime,
                       direction=_DIRECTIONS.get(audio.direction, "inactive"),
                       rtcp_port=audio.rtcp_port))


def close_endpoint(t: Turn, leg: Leg) -> Leg:
    """Close ``leg``'s endpoint: the leg is done, or its peer is re-offered someone else's
    media (a transfer, a trunk after an overflow) and talks to it directly from now on."""
    if not leg.endpoint:
        return leg
    # a leg handed over by another call (attended transfer) keeps that call's endpoint
    t.tell(media_address(leg.moved_from or t.call_id), CloseEndpoint(endpoint=leg.endpoint))
    return t.put(replace(t.leg(leg.name), endpoint="", local_sdp=b""))


# ---------------------------------------------------------------- endpoints opened


def on_media_opened(t: Turn, msg: MediaOpened) -> None:
    leg = t.s.legs.get(msg.leg)
    t.update(opening=tuple(n for n in t.s.opening if n != msg.leg))
    wanted = (leg is not None and not leg.endpoint and leg.status in ("trying", "early")
              and t.s.phase not in ("ending", "ended", "idle"))
    if leg is None or not wanted:
        t.tell(media_address(msg.call_id), CloseEndpoint(endpoint=msg.endpoint))
        return
    leg = t.put(replace(leg, endpoint=msg.endpoint))
    if leg.name == "a":
        _answer_caller(t, leg, msg)
    else:
        _offer_agent(t, leg, msg)


def on_media_failed(t: Turn, msg: MediaFailed) -> None:
    t.update(opening=tuple(n for n in t.s.opening if n != msg.leg))
    leg = t.s.legs.get(msg.leg)
    if leg is None or leg.status not in ("trying", "early"):
        return
    if leg.name == "a":
        end_call(t, cause="media_unavailable", status=500, caller_status=500)
        return
    if leg.supervisor:
        from actors.call.supervise import supervisor_leg_failed

        supervisor_leg_failed(t, leg, 500)
        return
    from actors.call.acd import ring_given_up

    leg = t.put(replace(leg, status="ended", final_status=500))
    ring_given_up(t, leg, 500)


def _answer_caller(t: Turn, caller: Leg, opened: MediaOpened) -> None:
    try:
        answer, audio = build_answer(parse_sdp(caller.sdp), address=opened.host,
                                     port=opened.port, session_id=_session_id(t),
                                     session_version=_VERSION)
    except (SdpError, OfferAnswerError):
        close_endpoint(t, caller)
        end_call(t, cause="no_common_codec", status=488, caller_status=488)
        return
    body = serialize_sdp(answer)
    invite = t.request(caller.invite)
    ok = response(invite, 200, leg=caller, local=t.local, body=body)
    t.respond(caller, caller.tx, ok)
    dialog = dialog_of(caller)
    dialog.response_sent(invite, ok)
    caller = t.put(with_dialog(caller, dialog, status="confirmed", local_sdp=body))
    set_remote(t, caller.endpoint, audio)
    if t.s.phase == "ivr":
        from actors.call.ivr_driver import begin_scheme

        begin_scheme(t)
        return
    if t.s.answered_at is None:
        play_hold_music(t)
    bridge_if_ready(t)


def hold_music_of(t: Turn) -> str:
    return next((q.moh for q in t.settings.config.queues if q.name == t.s.queue), "default")


def play_hold_music(t: Turn) -> None:
    caller = t.s.legs.get("a")
    if caller is not None and caller.endpoint:
        tell_media(t, Play(endpoint=caller.endpoint, prompt=hold_music_of(t), loop=True))


def play_to_caller(t: Turn, prompt: str) -> bool:
    """Play ``prompt`` (a library name, a file or ``tts:`` text) to the anchored caller."""
    caller = t.s.legs.get("a")
    if caller is None or not caller.endpoint:
        return False
    tell_media(t, Play(endpoint=caller.endpoint, prompt=prompt))
    return True


def stop_caller_prompt(t: Turn) -> None:
    caller = t.s.legs.get("a")
    if caller is not None and caller.endpoint:
        tell_media(t, StopPlay(endpoint=caller.endpoint))


def _offer_agent(t: Turn, leg: Leg, opened: MediaOpened) -> None:
    offer = build_offer(address=opened.host, port=opened.port, session_id=_session_id(t),
                        session_version=_VERSION)
    leg = t.put(replace(leg, local_sdp=serialize_sdp(offer)))
    from actors.call.callback import TRUNK_TARGET, dial_customer

    if leg.target_uri.startswith(TRUNK_TARGET):
        dial_customer(t, leg)  # a callback: the customer, through the trunk
        return
    t.tell(SIP_PORT, Locate(call_id=t.call_id, leg=leg.name, aor=leg.target_uri))


# ---------------------------------------------------------------- the agent answers


def agent_answered(t: Turn, leg: Leg, resp: Response) -> None:
    """The agent phone's 2xx to our offer: ACK it, point its endpoint at the phone, talk."""
    from actors.call.setup import connected

    t.send(leg, ack_for(leg, local=t.local, call_id=t.call_id, n=t.next_n()))
    try:
        audio = negotiate_answer(parse_sdp(leg.local_sdp), parse_sdp(sdp_of(resp)))
    except (SdpError, OfferAnswerError):
        from actors.call.ending import hang_up

        hang_up(t, leg)
        end_call(t, cause="no_common_codec", status=488, by="", caller_status=488)
        return
    set_remote(t, leg.endpoint, audio)
    if t.s.callback:
        from actors.call.callback import agent_answered as callback_answered

        connected(t, leg)
        callback_answered(t, leg)
        return
    connected(t, leg)
    bridge_if_ready(t)


def bridge_if_ready(t: Turn) -> None:
    """Both endpoints of the talking pair exist: stop hold music, bridge and record."""
    if len(t.s.bridge) != 2:
        return
    caller, agent = (t.s.legs.get(n) for n in t.s.bridge)
    if caller is None or agent is None or not caller.endpoint or not agent.endpoint:
        return
    if caller.status != "confirmed":
        return
    tell_media(t, StopPlay(endpoint=caller.endpoint))
    tell_media(t, Bridge(a=caller.endpoint, b=agent.endpoint))
    tell_media(t, Record(call_id=t.call_id, left=caller.endpoint, right=agent.endpoint,
                    agent=agent.agent, queue=t.s.queue))


# ---------------------------------------------------------------- in the dialog


def on_anchored_reinvite(t: Turn, leg: Leg, tx: str, request: Request) -> None:
    """A re-INVITE on an anchored leg (hold, resume, a new address) is answered here, from
    the leg's endpoint: the other leg never sees it."""
    from actors.call.indialog import hold_events

    ours = parse_sdp(leg.local_sdp)
    version = ours.origin.session_version + 1
    offer = sdp_of(request)
    connection = ours.connection
    try:
        if not offer or connection is None or not ours.media:
            raise OfferAnswerError("no offer to answer")  # offerless: we re-offer as before
        answer, audio = build_answer(parse_sdp(offer), address=connection.address,
                                     port=ours.media[0].port,
                                     session_id=int(ours.origin.session_id),
                                     session_version=version)
    except (SdpError, OfferAnswerError, ValueError):
        answer, audio = replace(ours, origin=replace(ours.origin, session_version=version)), None
    if offer and audio is None:
        status, body = 488, b""
    else:
        status, body = 200, serialize_sdp(answer)
    reply = response(request, status, leg=leg, local=t.local, body=body)
    t.respond(leg, tx, reply)
    dialog = dialog_of(leg)
    dialog.response_sent(request, reply)
    leg = t.put(with_dialog(leg, dialog, local_sdp=body or leg.local_sdp,
                            sdp=offer or leg.sdp))
    if audio is not None:
        hold_events(t, leg, offer)
        set_remote(t, leg.endpoint, audio)


def on_recording_saved(t: Turn, msg: RecordingSaved) -> None:
    t.journal(CallRecorded(call_id=msg.call_id, path=msg.path, seconds=msg.seconds,
                           format=msg.format, at=t.now))


# ---------------------------------------------------------------- what the endpoint hears


def announcement(position: int, ewt_s: float) -> str:
    """The position announcement, spoken (``tts:``): the library renders and caches it."""
    minutes = max(1, round(ewt_s / 60.0))
    wait = "less than a minute" if ewt_s < 60 else (
        "one minute" if minutes == 1 else f"{minutes} minutes")
    return (f"tts:You are number {position} in the queue. "
            f"Your estimated waiting time is {wait}.")


def announce(t: Turn, position: int, ewt_s: float) -> None:
    """Interrupt the hold music with the caller's position; the music resumes after it."""
    prompt = announcement(position, ewt_s)
    if play_to_caller(t, prompt):
        t.update(announcing=prompt)


def on_media_play_done(t: Turn, msg: PlayDone) -> None:
    caller = t.s.legs.get("a")
    if caller is None or not caller.endpoint or msg.endpoint != caller.endpoint:
        return
    if t.s.ivr is not None:
        from actors.call.ivr_driver import feed
        from ivr.messages import PlayDone as IvrPlayDone

        feed(t, IvrPlayDone(prompt=msg.prompt))
        return
    if t.s.announcing and msg.prompt == t.s.announcing:
        t.update(announcing="")
        if t.s.callback:
            from actors.call.callback import on_goodbye_played

            on_goodbye_played(t)
            return
        from actors.call.acd import waiting

        if waiting(t) and not t.s.bridge:
            play_hold_music(t)


def on_media_dtmf(t: Turn, msg: DtmfDetected) -> None:
    """A digit from the caller's endpoint (RFC 4733 or in-band): the scheme hears it."""
    caller = t.s.legs.get("a")
    if caller is None or not caller.endpoint or msg.endpoint != caller.endpoint:
        return
    if t.s.ivr is not None:
        from actors.call.ivr_driver import feed
        from ivr.messages import Digit

        feed(t, Digit(digit=msg.digit))
        return
    from actors.call.acd import waiting
    from actors.call.callback import CALLBACK_KEY, request_in_queue

    if msg.digit == CALLBACK_KEY and waiting(t) and not t.s.bridge:
        request_in_queue(t)


def record_voicemail(t: Turn, mailbox: str, max_s: float) -> bool:
    """Record the caller alone for at most ``max_s`` (then :class:`VoicemailDone`)."""
    caller = t.s.legs.get("a")
    if caller is None or not caller.endpoint:
        return False
    tell_media(t, Record(call_id=t.call_id, left=caller.endpoint, right=caller.endpoint,
                    queue=f"voicemail:{mailbox}"))
    # The recording holds what the caller sends, not what it hears: the beep is not in it.
    play_to_caller(t, VOICEMAIL_BEEP)
    t.timer("voicemail", max_s, VoicemailDone(mailbox=mailbox))
    return True


def on_voicemail_done(t: Turn, msg: VoicemailDone) -> None:
    if t.s.phase not in ("ending", "ended", "idle"):
        end_call(t, cause="voicemail", status=200)
