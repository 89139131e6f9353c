"""The call in an IVR scheme (``ivr:<name>`` routes): driving the pure interpreter.

The interpreter's actions become the call's effects (see :mod:`ivr`). With anchored media
(the default) the caller is answered from a media pool endpoint (:mod:`actors.call.anchor`)
and the scheme starts once it is: a ``Play`` is played by the endpoint from the sound library
(``tts:`` text is spoken and cached there), its ``media.play_done`` feeds ``PlayDone``, and
digits come from the endpoint (RFC 4733 events, or in-band tones for peers without them) as
well as from SIP INFO. A hand-off to a queue keeps the endpoint (hold music, bridge and
recording on answer), as does a transfer to an agent; a number outside is called offerless
and the caller is re-INVITEd to it (its endpoint closes).

In relay mode there is no endpoint, which shapes three choices:

* the caller's 200 carries a placeholder answer (its first codec, our address, the discard
  port 9): nothing is played, and when the scheme hands the call on (queue, agent, number)
  the far end is called without an offer and its offer is re-INVITEd to the caller, so
  media ends up end to end;
* a ``Play`` "plays" for a time proportional to its text (``prompt_s_per_char``), then feeds
  ``PlayDone``; digits come from SIP INFO (``application/dtmf-relay`` ``Signal=``, or
  ``application/dtmf``) only.

A voicemail is a recording of the caller's endpoint (both channels) registered like any
recording, with queue ``voicemail:<mailbox>``; the call ends after ``max_s`` or when the
caller hangs up (relay mode: no endpoint, the call ends with ``voicemail_unavailable``).
HTTP requests go to the IVR port of the process (:mod:`ivr.port`), which performs them and
tells the outcome back; the interpreter's ``Log`` lines go there too, into the call's debug
log ``<ivr log dir>/<scheme>/debug_<timestamp>-<callid>.log``. ``OfferCallback`` is
turned into a queued callback (:mod:`actors.call.callback`) when the scheme hangs up.
"""

from __future__ import annotations

from collections.abc import Sequence

from actors.call.anchor import (
    anchoring,
    open_caller_media,
    play_to_caller,
    record_voicemail,
    ring_agent_anchored,
    stop_caller_prompt,
)
from actors.call.ending import end_call
from actors.call.legs import dialog_of, response, with_dialog
from actors.call.messages import CallbackRequested
from actors.call.turn import Turn
from ivr import messages as im
from ivr.interpreter import step
from ivr.messages import IvrEvent, IvrState
from ivr.port import IVR_PORT
from sip.message import Request
from sip.sdp import connection_address

PLAY_TIMER = "ivr-play"
MIN_PROMPT_S = 0.2
MAX_PROMPT_S = 15.0
_CODECS = {0: "PCMU/8000", 8: "PCMA/8000", 9: "G722/8000", 18: "G729/8000"}


def placeholder_answer(offer: bytes, host: str) -> bytes:
    """An SDP answer accepting the offer's first audio codec at our address, port 9.

    RFC 3264 §6: the answer keeps the offer's one audio stream; port 9 (discard) receives
    nothing until a re-INVITE points the caller at the party it ends up talking to."""
    payloads = ["0"]
    for line in offer.decode("utf-8", "replace").splitlines():
        if line.startswith("m=audio "):
            fields = line.split()
            payloads = fields[3:4] or ["0"]
            if "101" in fields[4:]:
                payloads.append("101")
            break
    kind, address = connection_address(host)
    lines = ["v=0", f"o=contactor 1 1 IN {kind} {address}", "s=contactor",
             f"c=IN {kind} {address}",
             "t=0 0", f"m=audio 9 RTP/AVP {' '.join(payloads)}"]
    first = int(payloads[0]) if payloads[0].isdigit() else -1
    if first in _CODECS:
        lines.append(f"a=rtpmap:{first} {_CODECS[first]}")
    if "101" in payloads:
        lines.extend(["a=rtpmap:101 telephone-event/8000", "a=fmtp:101 0-16"])
    lines.append("a=sendrecv")
    return ("\r\n".join(lines) + "\r\n").encode()


def start_ivr(t: Turn, name: str) -> None:
    from actors.call.setup import reject

    registry = t.settings.ivr
    if registry is None or name not in registry.names():
        reject(t, 480, "ivr_unavailable")
        return
    t.go("ivr")
    if open_caller_media(t):
        return  # answered from its endpoint once it is open, then begin_scheme
    caller = t.leg("a")
    request = t.request(caller.invite)
    ok = response(request, 200, leg=caller, local=t.local,
                  body=placeholder_answer(caller.sdp, t.local.host))
    t.respond(caller, caller.tx, ok)
    dialog = dialog_of(caller)
    dialog.response_sent(request, ok)
    t.put(with_dialog(caller, dialog, status="confirmed"))
    begin_scheme(t)


def begin_scheme(t: Turn) -> None:
    """The caller is answered: the scheme of its route starts (on its newest version)."""
    registry = t.settings.ivr
    name = t.s.route.partition(":")[2]
    if registry is None or name not in registry.names():
        end_call(t, cause="ivr_unavailable", status=200)
        return
    state, actions = registry.start_call(
        name, {"caller": t.s.caller, "dialled": t.s.dialled, "call_id": t.call_id}, t.now)
    _perform(t, state, actions)


def feed(t: Turn, event: IvrEvent) -> None:
    """One event for the running scheme (ignored once it is done or the call left it)."""
    state = t.s.ivr
    registry = t.settings.ivr
    if state is None or registry is None or state.phase == "done" or t.s.phase != "ivr":
        return
    new, actions = step(registry.scheme_for(state), state, event, t.now)
    _perform(t, new, actions)


def on_ivr_event(t: Turn, event: IvrEvent) -> None:
    feed(t, event)


def digits_of(request: Request) -> str:
    """DTMF digits in an INFO body: ``Signal=5`` (application/dtmf-relay) or ``5``."""
    ctype = request.content_type
    mime = ctype.mime if ctype is not None else ""
    text = request.body.decode("ascii", "replace")
    if mime == "application/dtmf-relay":
        for line in text.splitlines():
            key, _, value = line.partition("=")
            if key.strip().lower() == "signal":
                return "".join(c for c in value.strip().upper() if c in im.DTMF_DIGITS)
        return ""
    if mime == "application/dtmf":
        return "".join(c for c in text.strip().upper() if c in im.DTMF_DIGITS)
    return ""


def on_info(t: Turn, request: Request) -> None:
    for digit in digits_of(request):
        feed(t, im.Digit(digit=digit))


def _prompt_s(t: Turn, prompt: str) -> float:
    text = prompt[4:] if prompt.startswith("tts:") else prompt
    return min(MAX_PROMPT_S, max(MIN_PROMPT_S, len(text) * t.settings.prompt_s_per_char))


def _perform(t: Turn, state: IvrState, actions: Sequence[object]) -> None:
    pending = list(actions)
    lines: list[im.Log] = []
    t.update(ivr=state)
    while pending:
        action = pending.pop(0)
        if isinstance(action, im.Log):
            lines.append(action)
        elif isinstance(action, im.Play):
            if not play_to_caller(t, action.prompt):
                t.timer(PLAY_TIMER, _prompt_s(t, action.prompt),
                        im.PlayDone(prompt=action.prompt))
        elif isinstance(action, im.StopPlay):
            stop_caller_prompt(t)
            t.cancel_timer(PLAY_TIMER)
        elif isinstance(action, im.StartTimer):
            t.timer(f"ivr:{action.key}", action.after_s, im.Timeout(key=action.key))
        elif isinstance(action, im.CancelTimer):
            t.cancel_timer(f"ivr:{action.key}")
        elif isinstance(action, im.HttpRequest):
            t.tell(IVR_PORT, im.RunHttp(call_id=t.call_id, request=action))
        elif isinstance(action, im.Enqueue):
            _leave(t, state)
            from actors.call.acd import enqueue, known_queue

            if known_queue(t, action.queue):
                enqueue(t, action.queue, priority=action.priority, skills=action.skills or None)
            else:
                end_call(t, cause="no_route", status=200)
        elif isinstance(action, im.TransferAgent):
            _leave(t, state)
            _to_agent(t, action.login)
        elif isinstance(action, im.TransferExternal):
            _leave(t, state)
            from actors.call.setup import dial_external

            dial_external(t, t.free_leg_name(), action.number, t.s.out_trunk)
        elif isinstance(action, im.RecordVoicemail):
            _leave(t, state)
            if not record_voicemail(t, action.mailbox, action.max_s):
                end_call(t, cause="voicemail_unavailable", status=200)
        elif isinstance(action, im.Hangup):
            _leave(t, state)
            if t.s.callback_queue and anchoring(t):
                from actors.call.callback import after_scheme, release_caller

                after_scheme(t, t.s.callback_queue, t.s.callback)
                release_caller(t)  # the caller goes; its place in the queue stays
            else:
                end_call(t, cause="ivr_hangup", status=200)
        elif isinstance(action, im.OfferCallback):
            if anchoring(t) and any(q.name == action.queue for q in t.settings.config.queues):
                # registered when the scheme hangs up (after its goodbye)
                t.update(callback=action.number or t.s.caller, callback_queue=action.queue)
            else:
                t.journal(CallbackRequested(call_id=t.call_id, queue=action.queue,
                                            number=action.number, at=t.now))
    if lines:
        t.tell(IVR_PORT, im.DebugLines(call_id=t.call_id, scheme=state.scheme,
                                       lines=tuple(lines), done=state.phase == "done"))
    if state.phase == "done" and t.s.ivr is not None:  # done without a hand-off
        _leave(t, state)
        end_call(t, cause=f"ivr_{state.outcome or 'done'}", status=200)


def _to_agent(t: Turn, login: str) -> None:
    from actors.call.setup import reject, ring_agent

    agent = next((a for a in t.settings.config.agents if a.login == login), None)
    if agent is None:
        reject(t, 404, "no_route")
    elif anchoring(t):
        ring_agent_anchored(t, t.free_leg_name(), login, agent.phone, acd=False)
    else:
        ring_agent(t, t.free_leg_name(), login)


def _leave(t: Turn, state: IvrState) -> None:
    """The scheme is over: drop its timers and release the version it ran on."""
    if t.s.ivr is None:
        return
    t.cancel_timer(PLAY_TIMER)
    if state.timer:
        t.cancel_timer(f"ivr:{state.timer}")
    registry = t.settings.ivr
    if registry is not None:
        registry.release(state.scheme, state.version)
    t.update(ivr=None)


def caller_left(t: Turn) -> None:
    """The caller hung up during the scheme: the interpreter hears it, the scheme ends."""
    state = t.s.ivr
    registry = t.settings.ivr
    if state is None or registry is None:
        return
    if state.phase != "done":
        state, actions = step(registry.scheme_for(state), state, im.CallerHangup(), t.now)
        lines = tuple(a for a in actions if isinstance(a, im.Log))
        t.tell(IVR_PORT, im.DebugLines(call_id=t.call_id, scheme=state.scheme, lines=lines,
                                       done=True))
    _leave(t, state)
