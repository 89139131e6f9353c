"""SDP parsing/serialization (RFC 4566) and offer/answer (RFC 3264)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sip.errors import OfferAnswerError, SdpError
from sip.offer_answer import (
    PCMA,
    PCMU,
    TELEPHONE_EVENT,
    build_answer,
    build_offer,
    is_hold,
    negotiate_answer,
    with_direction,
)
from sip.sdp import parse_sdp, serialize_sdp

OFFER = (
    b"v=0\r\n"
    b"o=alice 2890844526 2890844526 IN IP4 host.atlanta.example.com\r\n"
    b"s=-\r\n"
    b"c=IN IP4 192.0.2.101\r\n"
    b"t=0 0\r\n"
    b"m=audio 49172 RTP/AVP 18 8 0 97\r\n"
    b"a=rtpmap:18 G729/8000\r\n"
    b"a=rtpmap:97 telephone-event/8000\r\n"
    b"a=fmtp:97 0-15\r\n"
    b"a=ptime:30\r\n"
    b"m=video 51372 RTP/AVP 31\r\n"
    b"a=rtpmap:31 H261/90000\r\n"
)


def test_parse_structure_and_helpers() -> None:
    sdp = parse_sdp(OFFER)
    assert sdp.origin.username == "alice" and sdp.origin.session_version == 2890844526
    assert sdp.connection is not None and sdp.connection.address == "192.0.2.101"
    audio, video = sdp.media
    assert (audio.media, audio.port, audio.proto) == ("audio", 49172, "RTP/AVP")
    assert audio.formats == ("18", "8", "0", "97")
    assert audio.rtpmaps[97].encoding == "telephone-event" and audio.fmtps[97] == "0-15"
    assert audio.ptime == 30 and audio.direction() == "sendrecv"
    assert video.rtpmaps[31].clock_rate == 90000
    assert serialize_sdp(sdp) == OFFER
    assert parse_sdp(OFFER.replace(b"\r\n", b"\n")) == sdp


def test_rfc_line_order_is_restored_on_output() -> None:
    text = (
        "v=0\no=- 1 1 IN IP4 h\ns=x\nt=0 0\ni=info\nc=IN IP4 h\nb=AS:64\na=recvonly\n"
        "m=audio 4000/2 RTP/AVP 0\nb=AS:32\nc=IN IP6 ::1\ni=media info\na=sendonly\n"
    )
    sdp = parse_sdp(text)
    assert sdp.direction == "recvonly" and sdp.media[0].port_count == 2
    assert sdp.media[0].direction(sdp.direction) == "sendonly"
    out = serialize_sdp(sdp).decode().split("\r\n")
    assert out[:8] == ["v=0", "o=- 1 1 IN IP4 h", "s=x", "i=info", "c=IN IP4 h", "b=AS:64",
                       "t=0 0", "a=recvonly"]  # fmt: skip
    assert out[8:12] == ["m=audio 4000/2 RTP/AVP 0", "i=media info", "c=IN IP6 ::1", "b=AS:32"]
    assert parse_sdp(serialize_sdp(sdp)) == sdp


@pytest.mark.parametrize(
    "text",
    [
        "", "v=1\n", "v=0\no=- 1 1 IN IP4 h\n", "v=0\ns=x\n", "v=0\no=- x 1 IN IP4 h\ns=x\n",
        "v=0\no=- 1 1 IN IP4 h\ns=x\nm=audio port RTP/AVP 0\n",
        "v=0\no=- 1 1 IN IP4 h\ns=x\nm=audio 70000 RTP/AVP 0\n",
        "v=0\no=- 1 1 IN IP4 h\ns=x\nc=IN IP4\n", "v=0\no=- 1 1 IN IP4 h\ns=x\nX=y\n",
        "v=0\no=- 1 1 IN IP4 h\ns=x\nq=unknown\n", "v=0\no=- 1 1 IN IP4 h\ns=x\ns=again\n",
    ],
)  # fmt: skip
def test_invalid_descriptions(text: str) -> None:
    with pytest.raises(SdpError):
        parse_sdp(text)


@settings(max_examples=200, deadline=1000)
@given(st.binary(max_size=512))
def test_sdp_fuzz_only_raises_sdp_error(data: bytes) -> None:
    try:
        sdp = parse_sdp(b"v=0\r\no=- 1 1 IN IP4 h\r\ns=-\r\n" + data)
    except SdpError:
        return
    for media in sdp.media:
        try:
            media.rtpmaps  # noqa: B018
        except SdpError:
            pass
        _ = (media.fmtps, media.ptime, media.direction())
    parse_sdp(serialize_sdp(sdp))


def test_answer_picks_first_common_codec_in_offerer_order_and_rejects_video() -> None:
    answer, media = build_answer(
        parse_sdp(OFFER), address="198.51.100.7", port=30000, session_id=1, session_version=1
    )
    assert media.codec.payload_type == 8 and media.codec.name == "PCMA"  # G729 unsupported
    assert media.telephone_event is not None and media.telephone_event.payload_type == 97
    assert (media.remote_address, media.remote_port, media.ptime) == ("192.0.2.101", 49172, 30)
    assert media.direction == "sendrecv" and media.we_send and media.we_receive
    audio, video = answer.media
    assert audio.formats == ("8", "97") and audio.port == 30000 and audio.fmtps[97] == "0-15"
    assert (video.media, video.port, video.formats) == ("video", 0, ("31",))
    assert answer.connection is not None and answer.connection.address == "198.51.100.7"
    # The offerer computes the same result from our answer.
    ours = negotiate_answer(parse_sdp(OFFER), parse_sdp(serialize_sdp(answer)))
    assert ours.codec.payload_type == 8 and ours.remote_port == 30000
    assert media.rtcp_port == 0 and ours.rtcp_port == 0  # no a=rtcp: RTP port + 1


@pytest.mark.parametrize(("line", "port"), [
    (b"a=rtcp:53020\r\n", 53020), (b"a=rtcp:53020 IN IP4 126.16.64.4\r\n", 53020),
    (b"a=rtcp:x\r\n", 0), (b"a=rtcp:70000\r\n", 0)])
def test_the_rtcp_port_of_rfc_3605_is_taken_from_the_offer(line: bytes, port: int) -> None:
    offer = OFFER.replace(b"a=ptime:30\r\n", b"a=ptime:30\r\n" + line)
    _, media = build_answer(parse_sdp(offer), address="198.51.100.7", port=30000,
                            session_id=1, session_version=1)
    assert media.rtcp_port == port


@pytest.mark.parametrize(
    ("offered", "hold", "answered", "offerer_view"),
    [
        ("sendrecv", False, "sendrecv", "sendrecv"),
        ("sendonly", False, "recvonly", "sendonly"),
        ("recvonly", False, "sendonly", "recvonly"),
        ("inactive", False, "inactive", "inactive"),
        ("sendrecv", True, "sendonly", "recvonly"),
        ("sendonly", True, "inactive", "inactive"),
    ],
)
def test_answer_direction_mirrors_offer(
    offered: str, hold: bool, answered: str, offerer_view: str
) -> None:
    offer = build_offer(address="192.0.2.1", port=4000, session_id=5, session_version=1,
                        direction=offered)  # fmt: skip
    answer, media = build_answer(
        offer, address="192.0.2.2", port=5000, session_id=6, session_version=1, hold=hold
    )
    assert media.direction == answered and answer.media[0].direction() == answered
    assert negotiate_answer(offer, answer).direction == offerer_view


def test_rfc2543_hold_with_null_connection() -> None:
    offer = parse_sdp(OFFER.replace(b"c=IN IP4 192.0.2.101", b"c=IN IP4 0.0.0.0"))
    assert is_hold(offer)
    _, media = build_answer(offer, address="192.0.2.2", port=5000, session_id=1, session_version=1)
    assert media.direction == "recvonly"


def test_hold_and_resume_offers_bump_version() -> None:
    offer = build_offer(address="192.0.2.1", port=4000, session_id=5, session_version=1)
    assert not is_hold(offer)
    held = with_direction(offer, "sendonly", version=2)
    assert held.origin.session_version == 2 and held.media[0].direction() == "sendonly"
    assert is_hold(held)
    resumed = with_direction(held, "sendrecv", version=3)
    assert not is_hold(resumed) and resumed.media[0].attributes.count(("sendrecv", None)) == 1


def test_offer_lists_pcmu_pcma_and_telephone_event() -> None:
    offer = build_offer(address="2001:db8::5", port=4000, session_id=9, session_version=1)
    text = serialize_sdp(offer).decode()
    assert "c=IN IP6 2001:db8::5" in text and "m=audio 4000 RTP/AVP 0 8 101" in text
    assert "a=rtpmap:101 telephone-event/8000" in text and "a=fmtp:101 0-16" in text
    assert "a=ptime:20" in text and "a=sendrecv" in text
    assert [c.name for c in (PCMU, PCMA, TELEPHONE_EVENT)] == ["PCMU", "PCMA", "telephone-event"]


def test_unanswerable_offers_raise_for_488() -> None:
    g729_only = parse_sdp(OFFER.replace(b"RTP/AVP 18 8 0 97", b"RTP/AVP 18"))
    with pytest.raises(OfferAnswerError):
        build_answer(g729_only, address="h", port=1, session_id=1, session_version=1)
    srtp = parse_sdp(OFFER.replace(b"RTP/AVP 18 8 0 97", b"RTP/SAVP 0"))
    with pytest.raises(OfferAnswerError):
        build_answer(srtp, address="h", port=1, session_id=1, session_version=1)
    dynamic_pcmu = parse_sdp(
        OFFER.replace(b"RTP/AVP 18 8 0 97", b"RTP/AVP 96").replace(
            b"a=rtpmap:18 G729/8000", b"a=rtpmap:96 PCMU/8000"
        )
    )
    _, media = build_answer(dynamic_pcmu, address="h", port=1, session_id=1, session_version=1)
    assert media.codec.payload_type == 96 and media.codec.name == "PCMU"
