import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from media.rtp import RtpError, RtpExtension, RtpPacket, build_rtp, parse_rtp, parse_rtp_batch

# V=2 P=0 X=0 CC=0 | M=1 PT=0 | seq 0x1234 | ts 0xdeadbeef | ssrc 0x01020304 | payload
PLAIN = bytes.fromhex("80 80 1234 deadbeef 01020304") + b"\xff\x7f"

# V=2 P=1 X=1 CC=2 | M=0 PT=96 | seq 1 | ts 2 | ssrc 3 | csrc 0x0a, 0x0b |
# ext profile 0xbede, 1 word 0x10 0xaa 0x00 0x00 | payload "hi" | 2 padding bytes (00 02)
FULL = bytes.fromhex("b2 60 0001 00000002 00000003 0000000a 0000000b bede0001 10aa0000 6869 0002")


def test_parse_plain_header_vector() -> None:
    p = parse_rtp(PLAIN)
    assert p == RtpPacket(
        payload_type=0,
        sequence=0x1234,
        timestamp=0xDEADBEEF,
        ssrc=0x01020304,
        payload=b"\xff\x7f",
        marker=True,
    )


def test_parse_full_header_vector() -> None:
    p = parse_rtp(FULL)
    assert p.payload_type == 96 and not p.marker
    assert (p.sequence, p.timestamp, p.ssrc) == (1, 2, 3)
    assert p.csrcs == (0x0A, 0x0B)
    assert p.extension == RtpExtension(profile=0xBEDE, data=bytes.fromhex("10aa0000"))
    assert p.payload == b"hi"
    assert p.padding == 2


def test_build_reproduces_vectors() -> None:
    assert parse_rtp(PLAIN).build() == PLAIN
    assert build_rtp(parse_rtp(FULL)) == FULL


@pytest.mark.parametrize(
    ("data", "field"),
    [
        (b"\x80\x00\x00", "too short"),
        (bytes.fromhex("40000000000000000000000000"), "version"),
        (bytes.fromhex("83000000 00000000 00000000 0000"), "CSRC"),
        (bytes.fromhex("90000000 00000000 00000000 bede"), "extension"),
        (bytes.fromhex("90000000 00000000 00000000 bede0002 00000000"), "extension length"),
        (bytes.fromhex("a0000000 00000000 00000000 aa00"), "padding count is 0"),
        (bytes.fromhex("a0000000 00000000 00000000 05"), "padding count 5"),
    ],
)
def test_malformed_packets_raise_naming_the_field(data: bytes, field: str) -> None:
    with pytest.raises(RtpError, match=field):
        parse_rtp(data)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"payload_type": 128}, "payload type"),
        ({"sequence": 65536}, "sequence"),
        ({"timestamp": -1}, "timestamp"),
        ({"ssrc": 1 << 32}, "SSRC"),
        ({"csrcs": tuple(range(16))}, "CSRC list"),
        ({"extension": RtpExtension(1, b"abc")}, "extension data"),
        ({"padding": 256}, "padding"),
    ],
)
def test_build_rejects_out_of_range_fields(kwargs: dict[str, object], field: str) -> None:
    base: dict[str, object] = {"payload_type": 0, "sequence": 0, "timestamp": 0, "ssrc": 0}
    base.update(kwargs)
    with pytest.raises(RtpError, match=field):
        RtpPacket(**base).build()  # type: ignore[arg-type]


packets = st.builds(
    RtpPacket,
    payload_type=st.integers(0, 127),
    sequence=st.integers(0, 0xFFFF),
    timestamp=st.integers(0, 0xFFFFFFFF),
    ssrc=st.integers(0, 0xFFFFFFFF),
    payload=st.binary(max_size=200),
    marker=st.booleans(),
    csrcs=st.lists(st.integers(0, 0xFFFFFFFF), max_size=15).map(tuple),
    extension=st.none()
    | st.builds(
        RtpExtension,
        profile=st.integers(0, 0xFFFF),
        data=st.binary(max_size=40).map(lambda b: b[: len(b) // 4 * 4]),
    ),
    padding=st.integers(0, 255),
)


@settings(max_examples=300, deadline=None)
@given(packets)
def test_build_parse_round_trip(packet: RtpPacket) -> None:
    assert parse_rtp(build_rtp(packet)) == packet


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=80))
def test_parse_never_raises_anything_but_rtp_error(data: bytes) -> None:
    try:
        packet = parse_rtp(data)
    except RtpError:
        return
    assert len(packet.payload) <= len(data) - 12


@settings(max_examples=100, deadline=None)
@given(st.lists(packets, max_size=20), st.lists(st.binary(max_size=30), max_size=5))
def test_batch_parse_matches_scalar_parse(good: list[RtpPacket], junk: list[bytes]) -> None:
    wire = [p.build() for p in good] + junk
    batch = parse_rtp_batch(wire)
    for i, data in enumerate(wire):
        try:
            p = parse_rtp(data)
        except RtpError:
            assert not batch.valid[i]
            continue
        assert batch.valid[i]
        assert batch.payload_type[i] == p.payload_type
        assert batch.sequence[i] == p.sequence
        assert batch.timestamp[i] == p.timestamp
        assert batch.ssrc[i] == p.ssrc
        assert bool(batch.marker[i]) == p.marker
        start = batch.payload_offset[i]
        assert batch.buffer[start : start + batch.payload_length[i]].tobytes() == p.payload


def test_batch_payload_block_cuts_and_fills() -> None:
    wire = [
        RtpPacket(payload_type=0, sequence=1, timestamp=0, ssrc=1, payload=b"\x01\x02\x03").build(),
        RtpPacket(payload_type=0, sequence=2, timestamp=0, ssrc=1, payload=b"\x04").build(),
        b"\x00",  # invalid: contributes only fill
    ]
    block = parse_rtp_batch(wire).payload_block(2, fill=0xFF)
    assert block.dtype == np.uint8
    assert block.tolist() == [[1, 2], [4, 0xFF], [0xFF, 0xFF]]


def test_batch_of_nothing_is_empty() -> None:
    batch = parse_rtp_batch([])
    assert batch.sequence.shape == (0,)
    assert batch.payload_block(160, fill=0xFF).shape == (0, 160)


@settings(max_examples=150, deadline=None)
@given(
    payloads=st.lists(st.binary(min_size=4, max_size=4), min_size=1, max_size=8)
    | st.lists(st.binary(max_size=12), min_size=1, max_size=8),
    csrc_count=st.integers(0, 3),
    width=st.integers(0, 16),
)
def test_payload_block_matches_each_payload(
    payloads: list[bytes], csrc_count: int, width: int
) -> None:
    """Covers both the strided path (equal packets) and the gather path (mixed sizes)."""
    wire = [
        RtpPacket(
            payload_type=8, sequence=i, timestamp=0, ssrc=1, payload=p, csrcs=(7,) * csrc_count
        ).build()
        for i, p in enumerate(payloads)
    ]
    block = parse_rtp_batch(wire).payload_block(width, fill=0xD5)
    assert block.shape == (len(payloads), width)
    for row, payload in zip(block, payloads, strict=True):
        assert row.tobytes() == (payload + b"\xd5" * width)[:width]
