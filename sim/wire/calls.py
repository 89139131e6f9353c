"""One call of a simulated endpoint: its dialog, its INVITE transaction and its media offer/answer.

Plain data plus the SDP steps (:mod:`sip.offer_answer`) a user agent needs: offer, answer an
offer, read the answer to ours. The user agent (:mod:`sim.wire.ua`) owns the calls.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Literal

from sip.builders import new_call_id, new_tag
from sip.dialog import Dialog, Pending2xx
from sip.errors import OfferAnswerError, SdpError
from sip.headers import Headers
from sip.message import Request, Response
from sip.offer_answer import (
    PCMU,
    TELEPHONE_EVENT,
    NegotiatedAudio,
    build_answer,
    build_offer,
    negotiate_answer,
)
from sip.sdp import SessionDescription, parse_sdp, serialize_sdp
from sip.transaction import Target
from sip.uri import SipUri, parse_uri

Role = Literal["uac", "uas"]
CallState = Literal["calling", "early", "confirmed", "ended"]
#: what simulated endpoints offer and accept: G.711 u-law and RFC 4733 events
CODECS = (PCMU, TELEPHONE_EVENT)
#: the discard port: a center answering with it receives no RTP (its IVR takes SIP INFO)
DISCARD_PORT = 9

_session_ids = itertools.count(1000)


class WireMediaError(ValueError):
    """An SDP body a simulated endpoint cannot use; the message names the call and step."""


@dataclass(slots=True, kw_only=True)
class Call:
    """A call as one endpoint sees it (one dialog; forking is not simulated)."""

    call_id: str
    role: Role
    user: str  # the local user: a phone's extension, a caller's number
    invite: Request  # ours (uac) or theirs (uas)
    tx: str  # the INVITE transaction
    peer: Target  # where requests go outside the dialog (uac) / the INVITE came from (uas)
    rtp_host: str
    rtp_port: int
    state: CallState = "calling"
    dialog: Dialog | None = None
    #: our pending offer: made in our INVITE, our 2xx (offer-less INVITE) or a re-INVITE 2xx
    offer: SessionDescription | None = None
    media: NegotiatedAudio | None = None
    provisional: bool = False
    cancel_pending: bool = False
    cancelled: bool = False
    final_status: int = 0
    pending_2xx: Pending2xx | None = None
    pending_2xx_tx: str = ""
    session_id: int = field(default_factory=lambda: next(_session_ids))
    session_version: int = 0
    #: in-dialog client transactions we sent -> method (responses are matched by key)
    requests: dict[str, str] = field(default_factory=dict)

    @property
    def ended(self) -> bool:
        return self.state == "ended"

    @property
    def media_is_placeholder(self) -> bool:
        """The far end answered with the discard port: no RTP goes there."""
        return self.media is not None and self.media.remote_port == DISCARD_PORT

    def make_offer(self) -> bytes:
        self.session_version += 1
        self.offer = build_offer(address=self.rtp_host, port=self.rtp_port,
                                 session_id=self.session_id,
                                 session_version=self.session_version, codecs=CODECS,
                                 username="sim")  # fmt: skip
        return serialize_sdp(self.offer)

    def answer_offer(self, body: bytes) -> bytes:
        """Our answer to an offer in ``body``; the negotiated media is kept."""
        try:
            offer = parse_sdp(body)
            self.session_version += 1
            answer, self.media = build_answer(
                offer, address=self.rtp_host, port=self.rtp_port, session_id=self.session_id,
                session_version=self.session_version, codecs=CODECS, username="sim")
        except (SdpError, OfferAnswerError) as exc:
            raise WireMediaError(f"call {self.call_id}: cannot answer the offer: {exc}") from exc
        self.offer = None
        return serialize_sdp(answer)

    def take_answer(self, body: bytes) -> None:
        """The answer to our pending offer (in a 2xx or an ACK)."""
        if self.offer is None or not body:
            return
        try:
            self.media = negotiate_answer(self.offer, parse_sdp(body))
        except (SdpError, OfferAnswerError) as exc:
            raise WireMediaError(f"call {self.call_id}: unusable answer: {exc}") from exc
        self.offer = None


def body_of(message: Request | Response) -> bytes:
    """The SDP body, or empty when the message carries none."""
    ctype = message.content_type
    if not message.body or (ctype is not None and ctype.mime != "application/sdp"):
        return b""
    return message.body


def target_of(uri_text: str, fallback: Target) -> Target:
    """Where a request to ``uri_text`` goes (UDP; host and port of the URI)."""
    try:
        uri = parse_uri(uri_text)
    except ValueError:
        return fallback
    if not isinstance(uri, SipUri):
        return fallback
    return Target(transport="UDP", host=uri.address, port=uri.port or 5060)


def new_call(*, via: str, user: str, host: str, contact: str, number: str, target: Target,
             rtp_host: str, rtp_port: int, user_agent: str) -> Call:  # fmt: skip
    """A call we place: its INVITE to ``number`` at ``target``, offering our RTP address."""
    call_id = new_call_id(host)
    to_uri = f"sip:{number}@{target.host}:{target.port}"
    call = Call(call_id=call_id, role="uac", user=user, peer=target, rtp_host=rtp_host,
                rtp_port=rtp_port, tx="", invite=Request(method="INVITE", uri=parse_uri(to_uri)))
    fields = [("Via", via), ("Max-Forwards", "70"),
              ("From", f"<sip:{user}@{host}>;tag={new_tag()}"), ("To", f"<{to_uri}>"),
              ("Call-ID", call_id), ("CSeq", "1 INVITE"), ("Contact", f"<{contact}>"),
              ("User-Agent", user_agent), ("Content-Type", "application/sdp")]  # fmt: skip
    call.invite = Request(method="INVITE", uri=parse_uri(to_uri), headers=Headers(fields),
                          body=call.make_offer())
    return call
