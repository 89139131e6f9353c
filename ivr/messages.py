"""The interpreter's narrow interface: the events a call actor feeds in, the actions it gets
back, and the per-call state it keeps.

All three are bus records (``bus.message``): frozen, slotted, keyword-only, msgpack-able. The
state rides inside the call actor's snapshot, the timeout event is what the actor's host timer
delivers, and the HTTP result may come back from another task as a plain tell.
"""

from __future__ import annotations

from dataclasses import field
from typing import Any, Literal

from bus.message import Message, message

Phase = Literal["play", "input", "http", "done"]
#: what ended the IVR part of the call ("" while it runs)
Outcome = Literal["", "queue", "agent", "external", "voicemail", "hangup", "caller-hangup",
                  "error"]
DTMF_DIGITS = "0123456789*#ABCD"


# ---------------------------------------------------------------- state


@message("ivr.state")
class IvrState(Message):
    """Where one caller is in one scheme version. Plain fields only: the call actor persists it.

    ``phase``: ``play`` (a prompt of a play/voicemail/hangup node is playing), ``input``
    (a menu/collect/callback node plays ``prompts`` or, once they are done, waits for digits
    under ``timer``), ``http`` (waiting for ``http_id``), ``done`` (see ``outcome``).
    """

    scheme: str
    version: str
    node: str
    phase: Phase
    prompts: tuple[str, ...] = ()  # still to play; the first one is playing now
    barge_in: bool = False  # a digit stops the playing prompt
    attempt: int = 0  # retries used in the current input node
    digits: str = ""  # collected so far in the current collect node
    typeahead: str = ""  # digits pressed before an input node asked for them
    timer: str = ""  # key of the one timer running, "" if none
    http_id: str = ""  # id of the HTTP request awaited
    seq: int = 0  # counter making timer keys and request ids unique within the call
    vars: dict[str, str] = field(default_factory=dict)
    outcome: Outcome = ""


# ---------------------------------------------------------------- events (call actor -> IVR)


@message("ivr.play_done")
class PlayDone(Message):
    """The prompt finished playing. ``prompt`` (as in the Play action) lets the interpreter
    ignore the late completion of a prompt it already stopped; "" matches any."""

    prompt: str = ""


@message("ivr.digit")
class Digit(Message):
    digit: str  # one of DTMF_DIGITS


@message("ivr.timeout")
class Timeout(Message):
    """A timer started by a StartTimer action expired (keys of cancelled timers are ignored)."""

    key: str


@message("ivr.http_result")
class HttpResult(Message):
    id: str
    status: int
    json: Any = None  # the decoded JSON body, None if the body was not JSON


@message("ivr.http_failed")
class HttpFailed(Message):
    id: str
    reason: str  # "timeout", "connection refused: ..."


@message("ivr.caller_hangup")
class CallerHangup(Message):
    """The caller hung up: the interpreter stops and says so in the log."""


IvrEvent = PlayDone | Digit | Timeout | HttpResult | HttpFailed | CallerHangup


# ---------------------------------------------------------------- actions (IVR -> call actor)


@message("ivr.play")
class Play(Message):
    """Play a sound-library prompt, or text to speak when it starts with ``tts:``."""

    prompt: str
    barge_in: bool


@message("ivr.stop_play")
class StopPlay(Message):
    pass


@message("ivr.start_timer")
class StartTimer(Message):
    """Feed ``Timeout(key=key)`` back after ``after_s`` seconds."""

    key: str
    after_s: float


@message("ivr.cancel_timer")
class CancelTimer(Message):
    key: str


@message("ivr.http_request")
class HttpRequest(Message):
    """Perform the request and feed back HttpResult or HttpFailed with the same ``id``."""

    id: str
    method: str
    url: str
    body: str | None  # JSON text when set
    timeout_s: float
    headers: dict[str, str] = field(default_factory=dict)


@message("ivr.enqueue")
class Enqueue(Message):
    """Hand the call to a queue; the IVR is done."""

    queue: str
    priority: int
    skills: dict[str, int] = field(default_factory=dict)


@message("ivr.transfer_agent")
class TransferAgent(Message):
    login: str


@message("ivr.transfer_external")
class TransferExternal(Message):
    number: str


@message("ivr.record_voicemail")
class RecordVoicemail(Message):
    """Record the caller (media pool) into ``mailbox`` for at most ``max_s``, then hang up."""

    mailbox: str
    max_s: float


@message("ivr.offer_callback")
class OfferCallback(Message):
    """The caller accepted the callback offer: register a callback to ``number`` for
    ``queue``. The scheme goes on (typically a goodbye prompt and a hangup)."""

    queue: str
    number: str


@message("ivr.hangup")
class Hangup(Message):
    pass


@message("ivr.log")
class Log(Message):
    """A line for the per-call debug log (``ivr.debug_log.DebugLog``)."""

    kind: str  # start, enter, play, digit, choice, retry, set, branch, http, exit...
    node: str
    text: str


# ---------------------------------------------------------------- call actor -> IVR I/O port


@message("ivr.run_http")
class RunHttp(Message):
    """Perform ``request`` for call ``call_id``; the answer (HttpResult or HttpFailed with the
    request's id) is told to ``call/<call_id>``."""

    call_id: str
    request: HttpRequest


@message("ivr.debug_lines")
class DebugLines(Message):
    """Lines for the call's debug log (``ivr.debug_log``); ``done``: the scheme is over."""

    call_id: str
    scheme: str
    lines: tuple[Log, ...] = ()
    done: bool = False


IvrAction = (Play | StopPlay | StartTimer | CancelTimer | HttpRequest | Enqueue | TransferAgent
             | TransferExternal | RecordVoicemail | OfferCallback | Hangup | Log)

#: for ``bus.catalogue.ROOMS``: ("ivr.messages", "IVR_MESSAGES")
IVR_MESSAGES: tuple[type[Message], ...] = (
    IvrState, PlayDone, Digit, Timeout, HttpResult, HttpFailed, CallerHangup, Play, StopPlay,
    StartTimer, CancelTimer, HttpRequest, Enqueue, TransferAgent, TransferExternal,
    RecordVoicemail, OfferCallback, Hangup, Log, RunHttp, DebugLines,
)
