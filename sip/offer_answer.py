"""SDP offer/answer for one audio stream (RFC 3264, RFC 4733 telephone-event).

Codecs are matched by encoding name and clock rate (static payload types
without rtpmap use the RFC 3551 table); the answer reuses the offerer's
payload type numbers, keeps one m= line per offered line (rejected ones with
port 0) and mirrors direction attributes so hold/resume work either way.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from sip.errors import OfferAnswerError, SdpError
from sip.sdp import (
    DIRECTIONS,
    Connection,
    MediaDescription,
    Origin,
    SessionDescription,
    connection_address,
)


@dataclass(frozen=True, slots=True, kw_only=True)
class Codec:
    payload_type: int
    name: str
    clock_rate: int = 8000
    channels: int = 1
    fmtp: str | None = None

    def same_format(self, other: Codec) -> bool:
        return (
            self.name.lower() == other.name.lower()
            and self.clock_rate == other.clock_rate
            and self.channels == other.channels
        )

    @property
    def is_telephone_event(self) -> bool:
        return self.name.lower() == "telephone-event"


PCMU = Codec(payload_type=0, name="PCMU")
PCMA = Codec(payload_type=8, name="PCMA")
TELEPHONE_EVENT = Codec(payload_type=101, name="telephone-event", fmtp="0-16")
DEFAULT_CODECS = (PCMU, PCMA, TELEPHONE_EVENT)
# RFC 3551 static audio payload types that may appear without a=rtpmap.
STATIC_AUDIO = {
    0: ("PCMU", 8000), 3: ("GSM", 8000), 4: ("G723", 8000), 5: ("DVI4", 8000),
    6: ("DVI4", 16000), 7: ("LPC", 8000), 8: ("PCMA", 8000), 9: ("G722", 8000),
    10: ("L16", 44100), 12: ("QCELP", 8000), 13: ("CN", 8000), 15: ("G728", 8000),
    18: ("G729", 8000),
}  # fmt: skip
_AUDIO_PROFILES = frozenset({"RTP/AVP", "RTP/AVPF"})


@dataclass(frozen=True, slots=True, kw_only=True)
class NegotiatedAudio:
    """What the media engine needs after offer/answer.

    ``direction`` is from our point of view: "sendonly" means we send but
    the peer does not (e.g. the peer put us on hold).
    """

    remote_address: str
    remote_port: int
    codec: Codec
    telephone_event: Codec | None
    ptime: int
    direction: str
    #: the peer's RTCP port from ``a=rtcp`` (RFC 3605); 0: the RTP port + 1
    rtcp_port: int = 0

    @property
    def we_send(self) -> bool:
        return self.direction in ("sendrecv", "sendonly")

    @property
    def we_receive(self) -> bool:
        return self.direction in ("sendrecv", "recvonly")


def _flags(direction: str) -> tuple[bool, bool]:
    return direction in ("sendrecv", "sendonly"), direction in ("sendrecv", "recvonly")


def _direction_of(send: bool, recv: bool) -> str:
    return {(True, True): "sendrecv", (True, False): "sendonly",
            (False, True): "recvonly", (False, False): "inactive"}[(send, recv)]  # fmt: skip


def offered_codecs(media: MediaDescription) -> list[Codec]:
    """The m= line's formats as codecs, in the offerer's preference order."""
    rtpmaps = media.rtpmaps
    fmtps = media.fmtps
    codecs: list[Codec] = []
    for fmt in media.formats:
        if not fmt.isascii() or not fmt.isdigit() or int(fmt) > 127:
            continue
        pt = int(fmt)
        if pt in rtpmaps:
            rtp = rtpmaps[pt]
            codecs.append(
                Codec(payload_type=pt, name=rtp.encoding, clock_rate=rtp.clock_rate,
                      channels=rtp.channels, fmtp=fmtps.get(pt))
            )  # fmt: skip
        elif pt in STATIC_AUDIO:
            name, rate = STATIC_AUDIO[pt]
            codecs.append(Codec(payload_type=pt, name=name, clock_rate=rate))
    return codecs


def _audio_media(port: int, codecs: list[Codec], direction: str, ptime: int) -> MediaDescription:
    attributes: list[tuple[str, str | None]] = []
    for codec in codecs:
        channels = f"/{codec.channels}" if codec.channels != 1 else ""
        attributes.append(
            ("rtpmap", f"{codec.payload_type} {codec.name}/{codec.clock_rate}{channels}")
        )
        if codec.fmtp:
            attributes.append(("fmtp", f"{codec.payload_type} {codec.fmtp}"))
    attributes.extend((("ptime", str(ptime)), (direction, None)))
    return MediaDescription(
        media="audio", port=port, proto="RTP/AVP",
        formats=tuple(str(c.payload_type) for c in codecs), attributes=tuple(attributes),
    )  # fmt: skip


def _session(
    *, address: str, session_id: int, session_version: int, media: tuple[MediaDescription, ...],
    username: str,
) -> SessionDescription:  # fmt: skip
    kind, address = connection_address(address)
    return SessionDescription(
        origin=Origin(username=username, session_id=str(session_id),
                      session_version=session_version, address_type=kind, address=address),
        connection=Connection(address_type=kind, address=address),
        media=media,
    )  # fmt: skip


def build_offer(
    *, address: str, port: int, session_id: int, session_version: int,
    codecs: tuple[Codec, ...] = DEFAULT_CODECS, direction: str = "sendrecv", ptime: int = 20,
    username: str = "contactor",
) -> SessionDescription:  # fmt: skip
    """An offer with one audio stream; ``direction`` "sendonly" puts the peer on hold."""
    if direction not in DIRECTIONS:
        raise ValueError(f"unknown direction {direction!r}")
    media = _audio_media(port, list(codecs), direction, ptime)
    return _session(address=address, session_id=session_id, session_version=session_version,
                    media=(media,), username=username)  # fmt: skip


def _remote_endpoint(sdp: SessionDescription, media: MediaDescription) -> tuple[str, int]:
    connection = sdp.media_connection(media)
    if connection is None:
        raise OfferAnswerError("no c= line for the audio stream")
    return connection.address.split("/")[0], media.port


def _peer_direction(sdp: SessionDescription, media: MediaDescription) -> tuple[bool, bool]:
    send, recv = _flags(media.direction(sdp.direction))
    connection = sdp.media_connection(media)
    if connection is not None and connection.is_null:
        recv = False  # RFC 2543 hold: "do not send to me"
    return send, recv


def build_answer(
    offer: SessionDescription, *, address: str, port: int, session_id: int, session_version: int,
    codecs: tuple[Codec, ...] = DEFAULT_CODECS, hold: bool = False, ptime: int = 20,
    username: str = "contactor",
) -> tuple[SessionDescription, NegotiatedAudio]:  # fmt: skip
    """Answer ``offer``: accept the first usable audio stream, reject the rest.

    Raises :class:`OfferAnswerError` (answer 488) when no audio stream has a
    codec in common. ``hold`` makes us send-only (or inactive).
    """
    voice = [c for c in codecs if not c.is_telephone_event]
    events = [c for c in codecs if c.is_telephone_event]
    answer_media: list[MediaDescription] = []
    negotiated: NegotiatedAudio | None = None
    for media in offer.media:
        accepted: MediaDescription | None = None
        if (
            negotiated is None and media.media == "audio" and media.port != 0
            and media.proto.upper() in _AUDIO_PROFILES
        ):  # fmt: skip
            try:
                offered = offered_codecs(media)
            except SdpError as exc:
                raise OfferAnswerError(str(exc)) from exc
            chosen = next((o for o in offered if any(o.same_format(v) for v in voice)), None)
            event = next((o for o in offered if any(o.same_format(e) for e in events)), None)
            if chosen is not None:
                peer_send, peer_recv = _peer_direction(offer, media)
                send, recv = (True, not hold)
                ours = _direction_of(send and peer_recv, recv and peer_send)
                answered = [chosen] + ([event] if event else [])
                accepted = _audio_media(port, answered, ours, ptime)
                host, remote_port = _remote_endpoint(offer, media)
                negotiated = NegotiatedAudio(
                    remote_address=host, remote_port=remote_port, codec=chosen,
                    telephone_event=event, ptime=media.ptime or ptime, direction=ours,
                    rtcp_port=rtcp_port_of(media),
                )  # fmt: skip
        answer_media.append(accepted or replace(media, port=0, port_count=None, attributes=(),
                                                lines=(), connection=None))  # fmt: skip
    if negotiated is None:
        raise OfferAnswerError("no audio stream with a common codec (answer 488)")
    answer = _session(address=address, session_id=session_id, session_version=session_version,
                      media=tuple(answer_media), username=username)  # fmt: skip
    return answer, negotiated


def rtcp_port_of(media: MediaDescription) -> int:
    """``a=rtcp:<port> [IN IP4 <address>]`` (RFC 3605 §2.1), else 0; a malformed value is
    ignored (RTCP then goes to the RTP port + 1, as without the attribute)."""
    value = media.attribute("rtcp")
    token = value.split()[0] if value else ""
    return int(token) if token.isdigit() and 0 < int(token) < 65536 else 0


def negotiate_answer(offer: SessionDescription, answer: SessionDescription) -> NegotiatedAudio:
    """The media to use after our ``offer`` got ``answer`` (RFC 3264 §7)."""
    if len(answer.media) != len(offer.media):
        raise OfferAnswerError("answer has a different number of m= lines than the offer")
    for ours, theirs in zip(offer.media, answer.media, strict=True):
        if ours.media != "audio" or theirs.port == 0:
            continue
        mine = {c.payload_type: c for c in offered_codecs(ours)}
        answered = [c for c in offered_codecs(theirs) if c.payload_type in mine]
        voice = next((c for c in answered if not c.is_telephone_event), None)
        if voice is None:
            raise OfferAnswerError("answer selected no codec from the offer")
        event = next((c for c in answered if c.is_telephone_event), None)
        our_send, our_recv = _flags(ours.direction(offer.direction))
        peer_send, peer_recv = _peer_direction(answer, theirs)
        host, port = _remote_endpoint(answer, theirs)
        return NegotiatedAudio(
            remote_address=host, remote_port=port, codec=voice, telephone_event=event,
            ptime=theirs.ptime or ours.ptime or 20,
            direction=_direction_of(our_send and peer_recv, our_recv and peer_send),
            rtcp_port=rtcp_port_of(theirs),
        )  # fmt: skip
    raise OfferAnswerError("answer rejected every audio stream")


def with_direction(sdp: SessionDescription, direction: str, version: int) -> SessionDescription:
    """A new offer differing in audio direction (hold: "sendonly", resume: "sendrecv")."""
    media = tuple(m.with_direction(direction) if m.media == "audio" and m.port else m
                  for m in sdp.media)  # fmt: skip
    origin = replace(sdp.origin, session_version=version)
    return replace(sdp, origin=origin, media=media)


def is_hold(sdp: SessionDescription) -> bool:
    """Whether the description's author asks not to receive audio (it holds us)."""
    for media in sdp.media:
        if media.media == "audio" and media.port:
            return not _peer_direction(sdp, media)[1]
    return False
