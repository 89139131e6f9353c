"""Records of the call actor ``call/<id>`` (its persisted state), its journal events and the
messages call actors exchange among themselves.

The state is plain data all the way down: a restarted call actor gets back its legs, their
dialogs (the fields of :class:`sip.dialog.Dialog`), the INVITEs it must answer or cancel and
the transfer or re-INVITE it was in the middle of, and carries on.

Journal events (also published on topic ``calls``) are the CDR's source:
``call.created``, ``call.queued``, ``call.ringing``, ``call.answered``, ``call.held``,
``call.resumed``, ``call.transferred``, ``call.recorded`` (anchored media) and
``call.ended`` (with its cause).
"""

from __future__ import annotations

from dataclasses import field
from typing import Literal

from bus.message import Message, message
from ivr.messages import IvrState
from telephony.messages import Peer

CallPhase = Literal["idle", "routing", "ivr", "queued", "ringing", "connected", "ending", "ended"]
LegStatus = Literal["trying", "early", "confirmed", "cancelling", "ending", "ended"]
LegRole = Literal["uas", "uac"]
MediaMode = Literal["relay", "anchored"]
TransferKind = Literal["blind", "attended"]

CALLS_TOPIC = "calls"


@message("call.dialog")
class LegDialog(Message):
    """The fields of :class:`sip.dialog.Dialog` (RFC 3261 §12), as a record."""

    call_id: str
    local_tag: str
    remote_tag: str
    local_uri: str
    remote_uri: str
    remote_target: str
    local_contact: str
    route_set: tuple[str, ...] = ()
    local_seq: int = 0
    remote_seq: int | None = None
    invite_seq: int | None = None
    secure: bool = False
    state: Literal["early", "confirmed", "terminated"] = "early"
    local_invite_pending: bool = False
    remote_invite_pending: bool = False


@message("call.leg")
class Leg(Message):
    """One SIP dialog of the call: ``uas`` when the peer called us, ``uac`` when we called it.

    ``invite`` is the dialog-creating INVITE as received (uas: responses are built from it)
    or as sent (uac: CANCEL is built from it); ``tx`` its transaction key. ``sdp`` is the last
    session description the peer sent us; ``agent`` the login whose phone this leg rings.
    """

    name: str
    role: LegRole
    status: LegStatus = "trying"
    invite: bytes = b""
    tx: str = ""
    peer: Peer | None = None
    dialog: LegDialog | None = None
    provisional: bool = False
    cancel_pending: bool = False
    #: uac: the peer's 2xx is held un-ACKed until the other side's ACK brings the answer
    ack_deferred: bool = False
    sdp: bytes = b""
    #: anchored media: the media pool endpoint of this leg and the SDP we sent the peer
    endpoint: str = ""
    local_sdp: bytes = b""
    #: the AOR an anchored agent leg locates once its endpoint is open
    target_uri: str = ""
    agent: str = ""
    #: rung for the ACD: the agent actor hears Ring / Answered / CallEnded for this leg
    acd: bool = False
    final_status: int = 0
    #: ``<call_id>.<leg>`` this leg had in the call it came from (attended transfer): the
    #: peer's requests still carry that call's tag, and ``moved_from`` forwards them here
    alias: str = ""
    moved_from: str = ""
    #: a supervisor's leg (help requests): who, and how it is mixed in (listen, whisper,
    #: barge); it never ends the call
    supervisor: str = ""
    join: str = ""
    #: a parallel fork of leg ``fork_of`` (another registered contact of the same AOR, see
    #: :mod:`actors.call.forking`); "" for a leg rung on its own or the first of its forks
    fork_of: str = ""
    #: in-dialog requests we sent a peer we have credentials for, until their final
    #: response, so that a 401/407 can be answered (:mod:`actors.call.dialog_auth`)
    in_flight: tuple[bytes, ...] = ()


@message("call.relay")
class OfferRelay(Message):
    """A re-INVITE in flight: from leg ``source`` (server transaction ``tx``, ``request``) to
    leg ``target``. ``source == ""``: we started it ourselves to join two legs (after a
    transfer): ``then`` gets the offer ``target`` answers with, and the answer to that goes
    in the ACK to ``ack_to``."""

    source: str
    target: str
    tx: str = ""
    request: bytes = b""
    ack_to: str = ""
    #: we sent ``target`` an INVITE without SDP: re-offer its answer's offer to ``then``
    then: str = ""


@message("call.transfer")
class Transfer(Message):
    """A transfer in progress: ``by`` (the transferor's leg) asked to connect ``keep`` (the
    leg that stays) with ``target`` (a number, or for attended transfers the replaced call)."""

    kind: TransferKind
    by: str
    keep: str
    target: str
    new_leg: str = ""
    replaces_call: str = ""


@message("call.state")
class CallState(Message):
    call_id: str
    phase: CallPhase = "idle"
    route: str = ""
    caller: str = ""
    dialled: str = ""
    source: str = ""
    out_trunk: str = ""
    media: MediaMode = "relay"
    legs: dict[str, Leg] = field(default_factory=dict)
    #: the two legs that talk to each other (the caller's first)
    bridge: tuple[str, ...] = ()
    relay: OfferRelay | None = None
    transfer: Transfer | None = None
    #: legs handed to another call (attended transfer), by ``<call_id>.<leg>`` as the port
    #: names them: their SIP events are forwarded to that call until it says they ended
    moved: dict[str, str] = field(default_factory=dict)
    held_by: str = ""
    #: branch counter: every request we send gets z9hG4bK<call>.<leg>.<seq>
    seq: int = 0
    created_at: float = 0.0
    answered_at: float | None = None
    cause: str = ""
    end_status: int = 0
    ended_by: str = ""
    #: legs waiting for a media endpoint, in the order they were asked for
    opening: tuple[str, ...] = ()
    #: the ACD queue the call waits in (or was answered from); "" for direct calls
    queue: str = ""
    #: when the caller started waiting in the ACD, kept across overflows
    waiting_since: float | None = None
    #: the IVR interpreter's state while the caller is in a scheme (``ivr:`` routes)
    ivr: IvrState | None = None
    #: anchored: the position announcement playing over the hold music ("" none)
    announcing: str = ""
    #: a queued callback: the number to call back, and (from a scheme) the queue to wait in
    callback: str = ""
    callback_queue: str = ""
    #: the outgoing leg whose provisional responses the unanswered caller hears (ringing
    #: once, early media from the first fork that sends SDP)
    early_from: str = ""
    #: ended: the endpoints closed whose quality reports have not come yet
    quality_pending: tuple[str, ...] = ()


# ---------------------------------------------------------------- timers


@message("call.voicemail_done")
class VoicemailDone(Message):
    """The voicemail's longest recording time is up."""

    mailbox: str


@message("call.no_answer")
class NoAnswer(Message):
    """Timer C / ring timeout of leg ``leg``."""

    leg: str


@message("call.linger_done")
class LingerDone(Message):
    """The transferor did not hang up after a successful transfer: release it."""

    leg: str


# ---------------------------------------------------------------- call to call


@message("call.replace")
class ReplaceLeg(Message):
    """Attended transfer (RFC 3891 Replaces): call ``by_call`` asks this call to hand over the
    leg whose dialog is ``sip_call_id``/our ``local_tag``, to be joined with its leg
    ``keep``."""

    by_call: str
    sip_call_id: str
    local_tag: str
    remote_tag: str


@message("call.handover")
class LegHandover(Message):
    """Answer to :class:`ReplaceLeg`: ``leg`` now belongs to the asking call; ``leg`` None
    means no such dialog here (the transfer fails with 481)."""

    from_call: str
    leg: Leg | None
    reason: str = ""


@message("call.moved_leg_ended")
class MovedLegEnded(Message):
    """The call that took over leg ``key`` (``<call_id>.<leg>``) is done with it."""

    key: str


# ---------------------------------------------------------------- journal events


@message("call.created")
class CallCreated(Message):
    call_id: str
    caller: str
    dialled: str
    source: str
    route: str
    at: float


@message("call.ringing")
class CallRinging(Message):
    call_id: str
    leg: str
    agent: str
    early_media: bool
    at: float


@message("call.queued")
class CallQueued(Message):
    """The queue took the call (again after an overflow): its place and estimated wait."""

    call_id: str
    queue: str
    position: int
    ewt_s: float
    at: float


@message("call.answered")
class CallAnswered(Message):
    call_id: str
    leg: str
    agent: str
    waited_s: float
    at: float
    queue: str = ""


@message("call.recorded")
class CallRecorded(Message):
    """The media pool saved the call's stereo recording (anchored media only)."""

    call_id: str
    path: str
    seconds: float
    format: str
    at: float


@message("call.callback_requested")
class CallbackRequested(Message):
    """The caller accepted a callback offer in a scheme: call ``number`` back for ``queue``."""

    call_id: str
    queue: str
    number: str
    at: float


@message("call.supervised")
class CallSupervised(Message):
    """A supervisor's phone joined the call (or changed mode) or left it (``mode`` "left")."""

    call_id: str
    supervisor: str
    agent: str
    mode: str
    at: float


@message("call.held")
class CallHeld(Message):
    call_id: str
    by_leg: str
    at: float


@message("call.resumed")
class CallResumed(Message):
    call_id: str
    by_leg: str
    at: float


@message("call.transferred")
class CallTransferred(Message):
    call_id: str
    kind: TransferKind
    by_leg: str
    target: str
    outcome: Literal["connected", "failed"]
    status: int
    at: float


@message("call.ended")
class CallEnded(Message):
    """The CDR's last line: ``cause`` is ``caller_hangup``, ``callee_hangup``,
    ``caller_cancel``, ``busy``, ``no_answer``, ``rejected``, ``not_registered``, ``failed``,
    ``ivr_unavailable``...; ``status`` the final SIP status the caller saw."""

    call_id: str
    cause: str
    status: int
    by_leg: str
    duration_s: float
    talk_s: float
    at: float


CALL_MESSAGES: tuple[type[Message], ...] = (
    LegDialog,
    Leg,
    OfferRelay,
    Transfer,
    CallState,
    NoAnswer,
    VoicemailDone,
    LingerDone,
    ReplaceLeg,
    LegHandover,
    MovedLegEnded,
    CallCreated,
    CallRinging,
    CallQueued,
    CallAnswered,
    CallRecorded,
    CallbackRequested,
    CallSupervised,
    CallHeld,
    CallResumed,
    CallTransferred,
    CallEnded,
)
