"""The telephony port's bus contract: SIP events it tells call actors, SIP sends it accepts.

The SIP listener (transports + transaction layer + registrar) is a port of the ``telephony``
process, addressed ``sip/telephony``. Call actors ``call/<id>`` live in the same process, so
these messages never leave it in normal operation; they are still typed records so that a
call's journal, dead letters and snapshots say exactly what happened.

SIP messages travel as their wire bytes: the call actor parses them with the sans-IO core
(``sip.parser.parse_datagram``) and serialises what it builds, so nothing here depends on
in-memory objects surviving a hop.

Who sends what:

* port -> ``call/<id>``: :class:`InviteReceived` (a new call, routed), :class:`SipRequestIn`
  (in-dialog request or ACK), :class:`SipResponseIn`, :class:`CancelReceived`,
  :class:`SipFailure` (timeout or transport error), :class:`Located` (answer to Locate);
* ``call/<id>`` -> port: :class:`SendRequest`, :class:`SendResponse`, :class:`Locate`,
  :class:`OpenMedia` (answered by :class:`MediaOpened` or :class:`MediaFailed`: the media
  pool answers ``media.open`` only to asks, which a pure actor cannot make, so the port asks
  on its behalf). Every other media request is a plain tell from the call to ``media/<id>``.
"""

from __future__ import annotations

from typing import Literal

from bus.message import Message, message

#: the address of the SIP port in the telephony process
SIP_PORT = "sip/telephony"

FailureKind = Literal["timeout", "transport", "no_ack"]


@message("sip.peer")
class Peer(Message):
    """Where a message came from or goes to (the transport's view: IP literal and port)."""

    transport: str  # "UDP", "TCP", "TLS"
    host: str
    port: int


# ---------------------------------------------------------------- port -> call actor


@message("sip.invite_received")
class InviteReceived(Message):
    """A dialog-creating INVITE, already answered 100 Trying and routed by the port.

    ``route`` is the route table's target (``"agent:anna"``, ``"external:+3314..."``,
    ``"queue:sales"``, ``"ivr:main"``); ``caller``/``dialled`` are normalised to E.164 when
    the call came through a trunk; ``source`` is ``"trunk:<name>"`` or ``"agent:<login>"``.
    """

    call_id: str
    tx: str  # server transaction key: answer through it
    request: bytes
    peer: Peer
    route: str
    caller: str
    dialled: str
    source: str
    out_trunk: str = ""  # external routes: the trunk to dial through ("": the first)


@message("sip.request_in")
class SipRequestIn(Message):
    """An in-dialog request (or an ACK) for leg ``leg``; ``tx`` is None for ACK."""

    call_id: str
    leg: str
    tx: str | None
    request: bytes
    peer: Peer


@message("sip.response_in")
class SipResponseIn(Message):
    """A response (1xx except 100, 2xx, 3xx-6xx) to a request leg ``leg`` sent."""

    call_id: str
    leg: str
    tx: str
    response: bytes


@message("sip.cancel_received")
class CancelReceived(Message):
    """The peer of leg ``leg`` cancelled its INVITE; the port already answered 200 to CANCEL."""

    call_id: str
    leg: str
    tx: str  # the INVITE's server transaction


@message("sip.failure")
class SipFailure(Message):
    """A request of leg ``leg`` got no answer (Timer B/F), its transport broke, or the ACK
    for our 2xx never came (64*T1): treat as 408 / end the leg."""

    call_id: str
    leg: str
    tx: str
    kind: FailureKind
    method: str


@message("sip.contact")
class Contact(Message):
    """One registered contact of an address of record and where to reach it."""

    uri: str
    peer: Peer
    q: float = 1.0
    registered_at: float = 0.0


@message("sip.locate")
class Locate(Message):
    """Ask the registrar for the contacts of ``aor`` (answer: :class:`Located`, a tell)."""

    call_id: str
    leg: str
    aor: str


@message("sip.located")
class Located(Message):
    """The bindings of ``aor``, best first (highest q, then most recent); empty: not
    registered."""

    call_id: str
    leg: str
    aor: str
    contacts: tuple[Contact, ...]


# ---------------------------------------------------------------- call actor -> port


@message("sip.send_request")
class SendRequest(Message):
    """Send a request of leg ``leg`` (a client transaction, or stateless for ACK).

    ``peer`` None: the port sends to the next hop of the request (first Route, else the
    Request-URI, RFC 3263 without DNS SRV)."""

    call_id: str
    leg: str
    request: bytes
    peer: Peer | None = None


@message("sip.send_response")
class SendResponse(Message):
    """Answer server transaction ``tx`` of leg ``leg`` (a 2xx to INVITE is retransmitted by
    the port until the ACK comes, RFC 3261 §13.3.1.4)."""

    call_id: str
    leg: str
    tx: str
    response: bytes


@message("sip.open_media")
class OpenMedia(Message):
    """Open a media endpoint for leg ``leg`` (the port asks ``media/<call_id>``)."""

    call_id: str
    leg: str
    codecs: tuple[str, ...] = ("PCMU", "PCMA")


@message("sip.media_opened")
class MediaOpened(Message):
    call_id: str
    leg: str
    endpoint: str
    host: str
    port: int


@message("sip.media_failed")
class MediaFailed(Message):
    call_id: str
    leg: str
    reason: str


TELEPHONY_MESSAGES: tuple[type[Message], ...] = (
    Peer,
    InviteReceived,
    SipRequestIn,
    SipResponseIn,
    CancelReceived,
    SipFailure,
    Contact,
    Locate,
    Located,
    SendRequest,
    SendResponse,
    OpenMedia,
    MediaOpened,
    MediaFailed,
)
