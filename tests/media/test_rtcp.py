import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from media.rtcp import (
    PT_SR,
    SDES_CNAME,
    SDES_TOOL,
    App,
    Bye,
    ReceiverReport,
    ReportBlock,
    RtcpError,
    RtcpPacket,
    SdesChunk,
    SdesItem,
    SenderReport,
    SourceDescription,
    UnknownRtcp,
    build_compound,
    build_rtcp,
    looks_like_rtcp,
    ntp_middle,
    ntp_timestamp,
    parse_compound,
    round_trip_time,
)

# Hand-assembled compound packet: SR with one report block, SDES CNAME, BYE with reason.
COMPOUND = bytes.fromhex(
    "81c8000c 11223344 e1234567 89abcdef 00010000 00000064 00003e80"
    " 55667788 40fffffe 0001ffff 00000020 45678900 00018000"
    " 81ca0003 11223344 0105 6140622e63 00"
    " 81cb0002 11223344 03627965"
)

BLOCK = ReportBlock(
    ssrc=0x55667788,
    fraction_lost=0x40,
    cumulative_lost=-2,
    extended_highest_seq=0x1FFFF,
    jitter=32,
    last_sr=0x45678900,
    delay_since_last_sr=0x18000,
)
EXPECTED: list[RtcpPacket] = [
    SenderReport(
        ssrc=0x11223344,
        ntp_timestamp=0xE123456789ABCDEF,
        rtp_timestamp=0x10000,
        packet_count=100,
        octet_count=16000,
        reports=(BLOCK,),
    ),
    SourceDescription(
        chunks=(SdesChunk(ssrc=0x11223344, items=(SdesItem(kind=SDES_CNAME, value=b"a@b.c"),)),)
    ),
    Bye(ssrcs=(0x11223344,), reason=b"bye"),
]


def test_parse_hand_built_compound() -> None:
    packets = parse_compound(COMPOUND)
    assert packets == EXPECTED
    sdes = packets[1]
    assert isinstance(sdes, SourceDescription)
    assert sdes.chunks[0].cname == "a@b.c"


def test_build_hand_built_compound() -> None:
    assert build_compound(EXPECTED) == COMPOUND


def test_demultiplexing_rtcp_from_rtp() -> None:
    assert looks_like_rtcp(COMPOUND)
    assert not looks_like_rtcp(bytes.fromhex("80000001"))  # PCMU
    assert not looks_like_rtcp(bytes.fromhex("80e00001"))  # PT 96 with marker


def test_ntp_conversion() -> None:
    assert ntp_timestamp(0.0) == 2_208_988_800 << 32
    assert ntp_timestamp(1.5) == ((2_208_988_800 + 1) << 32) | 0x80000000
    assert ntp_middle(0x0123456789ABCDEF) == 0x456789AB


def test_round_trip_time_from_lsr_and_dlsr() -> None:
    sent = ntp_timestamp(1000.0)
    block = ReportBlock(
        ssrc=1,
        fraction_lost=0,
        cumulative_lost=0,
        extended_highest_seq=0,
        jitter=0,
        last_sr=ntp_middle(sent),
        delay_since_last_sr=int(0.25 * 65536),
    )
    rtt = round_trip_time(block, arrival_ntp=ntp_timestamp(1000.4))
    assert rtt is not None and abs(rtt - 0.15) < 1e-4
    no_sr = ReportBlock(**{**_fields(block), "last_sr": 0})
    assert round_trip_time(no_sr, arrival_ntp=sent) is None


def _fields(block: ReportBlock) -> dict[str, int]:
    return {name: getattr(block, name) for name in ReportBlock.__slots__}


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "empty"),
        (bytes.fromhex("81c8"), "truncated header"),
        (bytes.fromhex("41c80000"), "version"),
        (bytes.fromhex("80c90005 00000001"), "length field"),
        (bytes.fromhex("81ca0001 00000001"), "must start with SR or RR"),
        (bytes.fromhex("a0c90001 00000001"), "only the last packet"),
        (bytes.fromhex("81c90001 00000001"), "report blocks do not fit"),
        (bytes.fromhex("80c80001 00000001"), "sender info truncated"),
        (bytes.fromhex("80c90001 00000001 81ca0001 00000001"), "no terminating null"),
        (bytes.fromhex("80c90001 00000001 81ca0002 00000001 01090000"), "item 1 truncated"),
        (bytes.fromhex("80c90001 00000001 82cb0001 00000001"), "BYE lists 2"),
        (bytes.fromhex("80c90001 00000001 81cb0002 00000001 07000000"), "reason length"),
        (bytes.fromhex("80c90001 00000001 a0cb0001 00000000"), "padding count 0"),
    ],
)
def test_invalid_compounds_raise_naming_the_problem(data: bytes, message: str) -> None:
    with pytest.raises(RtcpError, match=message):
        parse_compound(data)


def test_padding_on_last_packet_and_reduced_size_rtcp() -> None:
    rr = build_rtcp(ReceiverReport(ssrc=5))
    # BYE with 4 bytes of padding (P bit, length counts them, last byte = 4)
    padded_bye = bytes.fromhex("a1cb0002 00000005 00000004")
    assert parse_compound(rr + padded_bye) == [ReceiverReport(ssrc=5), Bye(ssrcs=(5,))]
    sdes_only = build_rtcp(SourceDescription(chunks=()))
    with pytest.raises(RtcpError):
        parse_compound(sdes_only)
    assert parse_compound(sdes_only, strict=False) == [SourceDescription(chunks=())]


@pytest.mark.parametrize(
    ("packet", "message"),
    [
        (ReceiverReport(ssrc=1, reports=(BLOCK,) * 32), "count 32"),
        (ReceiverReport(ssrc=1, extension=b"abc"), "not 32-bit aligned"),
        (Bye(ssrcs=(1,), reason=b"x" * 256), "reason"),
        (App(subtype=0, ssrc=1, name=b"toolong"), "name"),
        (
            SourceDescription(chunks=(SdesChunk(ssrc=1, items=(SdesItem(kind=0, value=b""),)),)),
            "kind",
        ),
        (ReceiverReport(ssrc=1 << 32), "out of range"),
        (
            ReceiverReport(
                ssrc=1, reports=(ReportBlock(**{**_fields(BLOCK), "fraction_lost": 256}),)
            ),
            "fraction_lost",
        ),
    ],
)
def test_build_rejects_bad_fields(packet: RtcpPacket, message: str) -> None:
    with pytest.raises(RtcpError, match=message):
        build_rtcp(packet)


u32 = st.integers(0, 0xFFFFFFFF)
blocks = st.builds(
    ReportBlock,
    ssrc=u32,
    fraction_lost=st.integers(0, 255),
    cumulative_lost=st.integers(-0x800000, 0x7FFFFF),
    extended_highest_seq=u32,
    jitter=u32,
    last_sr=u32,
    delay_since_last_sr=u32,
)
words = st.binary(max_size=16).map(lambda b: b[: len(b) // 4 * 4])
sdes_items = st.builds(SdesItem, kind=st.integers(1, 8), value=st.binary(max_size=40))
other_packets = st.one_of(
    st.builds(
        SourceDescription,
        chunks=st.lists(
            st.builds(SdesChunk, ssrc=u32, items=st.lists(sdes_items, max_size=3).map(tuple)),
            max_size=3,
        ).map(tuple),
    ),
    st.builds(Bye, ssrcs=st.lists(u32, max_size=4).map(tuple), reason=st.binary(max_size=30)),
    st.builds(App, subtype=st.integers(0, 31), ssrc=u32, name=st.just(b"TEST"), data=words),
    st.builds(UnknownRtcp, packet_type=st.integers(205, 207), count=st.integers(0, 31), body=words),
)
first_packets = st.one_of(
    st.builds(
        SenderReport,
        ssrc=u32,
        ntp_timestamp=st.integers(0, 2**64 - 1),
        rtp_timestamp=u32,
        packet_count=u32,
        octet_count=u32,
        reports=st.lists(blocks, max_size=3).map(tuple),
        extension=words,
    ),
    st.builds(
        ReceiverReport, ssrc=u32, reports=st.lists(blocks, max_size=3).map(tuple), extension=words
    ),
)


@settings(max_examples=200, deadline=None)
@given(first_packets, st.lists(other_packets, max_size=4))
def test_compound_round_trip(first: RtcpPacket, rest: list[RtcpPacket]) -> None:
    packets = [first, *rest]
    wire = build_compound(packets)
    assert len(wire) % 4 == 0
    assert wire[1] in (PT_SR, PT_SR + 1)
    assert parse_compound(wire) == packets


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=64))
def test_parse_never_raises_anything_but_rtcp_error(data: bytes) -> None:
    try:
        parse_compound(data, strict=False)
    except RtcpError:
        pass


def test_sdes_tool_item_and_missing_cname() -> None:
    chunk = SdesChunk(ssrc=9, items=(SdesItem(kind=SDES_TOOL, value=b"contactor"),))
    parsed = parse_compound(
        build_compound([ReceiverReport(ssrc=9), SourceDescription(chunks=(chunk,))])
    )
    assert parsed[1] == SourceDescription(chunks=(chunk,))
    assert chunk.cname is None
