"""One leg's RTCP, sans-IO (media.rtcp_session): scheduling, SR/RR, RTT, malformed input."""

from __future__ import annotations

import random
from collections import Counter

from hypothesis import given, settings
from hypothesis import strategies as st

from media.receive_stats import ReceiveStats
from media.rtcp import (
    SDES_CNAME,
    Bye,
    ReceiverReport,
    ReportBlock,
    SdesChunk,
    SdesItem,
    SenderReport,
    SourceDescription,
    build_compound,
    ntp_middle,
    ntp_timestamp,
    parse_compound,
)
from media.rtcp_session import RtcpSession, SenderState

WALL = 1_700_000_000.0  # Unix time at monotonic 0 in these tests
OURS, THEIRS = 0x1111, 0x2222


def session(now: float = 0.0, interval: float = 5.0, seed: int = 1) -> RtcpSession:
    return RtcpSession(cname=b"abc", interval_s=interval, rng=random.Random(seed), now=now,
                       wall_offset=WALL)


def sender(packets: int) -> SenderState:
    return SenderState(ssrc=OURS, packets=packets, octets=160 * packets, rtp_timestamp=1234)


def receiving(packets: int = 100) -> ReceiveStats:
    stats = ReceiveStats()
    stats.sample(ssrc=THEIRS, seq=1000, timestamp=0, audio=True, arrival=0.0, received=1,
                 follows=False)
    stats.sample(ssrc=THEIRS, seq=1000 + packets - 1, timestamp=0, audio=True, arrival=1.0,
                 received=packets - 3, follows=False)
    return stats


def test_reports_are_randomised_around_the_interval_and_spread_over_ticks() -> None:
    first = [session(seed=n).next_report for n in range(1000)]
    assert min(first) >= 1.25 and max(first) <= 3.75  # half the minimum, x U(0.5, 1.5)
    per_tick = Counter(int(t / 0.02) for t in first)
    assert max(per_tick.values()) <= 30  # 1000 legs opened together: ~8 a tick, not 1000
    s = session()
    now = s.next_report
    gaps = []
    for _ in range(200):
        s.report(now, sender=sender(0), stats=ReceiveStats())
        gaps.append(s.next_report - now)
        now = s.next_report
    assert min(gaps) >= 2.5 and max(gaps) <= 7.5
    assert 4.5 < sum(gaps) / len(gaps) < 5.5
    assert session(interval=0).next_report == float("inf")


def test_rr_until_we_send_then_sr_until_two_reports_without_sending() -> None:
    s = session()
    kinds = []
    for packets in (0, 0, 50, 100, 100, 100):
        (report, sdes) = parse_compound(s.report(1.0, sender=sender(packets),
                                                 stats=ReceiveStats()))
        kinds.append(type(report).__name__)
        assert isinstance(sdes, SourceDescription)
        assert sdes.chunks[0].ssrc == OURS and sdes.chunks[0].cname == "abc"
    assert kinds == ["ReceiverReport", "ReceiverReport", "SenderReport", "SenderReport",
                     "SenderReport", "ReceiverReport"]


def test_sender_report_carries_our_counts_and_wall_clock() -> None:
    s = session()
    (report, _) = parse_compound(s.report(2.5, sender=sender(40), stats=receiving()))
    assert isinstance(report, SenderReport)
    assert (report.ssrc, report.packet_count, report.octet_count) == (OURS, 40, 6400)
    assert report.rtp_timestamp == 1234
    assert report.ntp_timestamp == ntp_timestamp(WALL + 2.5)
    (block,) = report.reports
    assert block.ssrc == THEIRS
    assert block.extended_highest_seq == 1099
    assert block.cumulative_lost == 3
    assert block.fraction_lost == (3 << 8) // 100
    assert (block.last_sr, block.delay_since_last_sr) == (0, 0)  # no SR from them yet


def test_lsr_and_dlsr_echo_the_peers_last_sender_report() -> None:
    s = session()
    their_ntp = 0xE0001111_80000000
    sr = SenderReport(ssrc=THEIRS, ntp_timestamp=their_ntp, rtp_timestamp=0, packet_count=1,
                      octet_count=160)
    assert s.receive(build_compound([sr]), 10.0, our_ssrc=OURS)
    (report, _) = parse_compound(s.report(10.75, sender=sender(0), stats=receiving()))
    assert isinstance(report, ReceiverReport)
    (block,) = report.reports
    assert block.last_sr == ntp_middle(their_ntp)
    assert block.delay_since_last_sr == int(0.75 * 65536)
    # an SR from another source (not the one we receive) is no LSR for this block
    other = SenderReport(ssrc=0x3333, ntp_timestamp=their_ntp + (1 << 32), rtp_timestamp=0,
                         packet_count=1, octet_count=160)
    s.receive(build_compound([other]), 11.0, our_ssrc=OURS)
    (report, _) = parse_compound(s.report(12.0, sender=sender(0), stats=receiving()))
    assert isinstance(report, ReceiverReport) and report.reports[0].last_sr == 0


def test_round_trip_from_the_peers_report_about_us() -> None:
    s = session()
    (ours, _) = parse_compound(s.report(3.0, sender=sender(10), stats=ReceiveStats()))
    assert isinstance(ours, SenderReport)
    # The peer got our SR 40 ms later, held it 100 ms, its RR reaches us 40 ms after that.
    block = ReportBlock(ssrc=OURS, fraction_lost=64, cumulative_lost=12,
                        extended_highest_seq=5000, jitter=80,
                        last_sr=ntp_middle(ours.ntp_timestamp),
                        delay_since_last_sr=int(0.1 * 65536))
    rr = ReceiverReport(ssrc=THEIRS, reports=(block,))
    sdes = SourceDescription(chunks=(SdesChunk(ssrc=THEIRS, items=(
        SdesItem(kind=SDES_CNAME, value=b"phone"),)),))
    assert s.receive(build_compound([rr, sdes]), 3.18, our_ssrc=OURS)
    assert s.rtt_last is not None and abs(s.rtt_last - 0.08) < 0.001
    assert s.rtt_mean == s.rtt_last
    assert s.peer == block
    # blocks about other sources, and a report without LSR, leave the figures alone
    stranger = ReportBlock(ssrc=0x9999, fraction_lost=255, cumulative_lost=1,
                           extended_highest_seq=1, jitter=1, last_sr=0, delay_since_last_sr=0)
    s.receive(build_compound([ReceiverReport(ssrc=THEIRS, reports=(stranger,))]), 4.0,
              our_ssrc=OURS)
    assert s.peer == block and s.rtt_n == 1
    assert s.received == 2 and s.malformed == 0


def test_bye_ends_the_leg_in_a_compound_packet() -> None:
    s = session()
    packets = parse_compound(s.bye(7.0, sender=sender(0), stats=receiving(), reason=b"done"))
    assert [type(p) for p in packets] == [ReceiverReport, SourceDescription, Bye]
    assert packets[2] == Bye(ssrcs=(OURS,), reason=b"done")
    assert s.next_report == float("inf")
    assert s.receive(build_compound([ReceiverReport(ssrc=THEIRS), Bye(ssrcs=(THEIRS,))]),
                     8.0, our_ssrc=OURS)
    assert s.peer_bye


def test_postponing_reschedules_without_reporting() -> None:
    s = session()
    due = s.next_report
    s.postpone(due)
    assert due + 2.5 <= s.next_report <= due + 7.5
    assert s.reports_sent == 0


VALID = build_compound([
    SenderReport(ssrc=THEIRS, ntp_timestamp=1 << 40, rtp_timestamp=5, packet_count=3,
                 octet_count=480, reports=(ReportBlock(
                     ssrc=OURS, fraction_lost=1, cumulative_lost=-2, extended_highest_seq=9,
                     jitter=3, last_sr=4, delay_since_last_sr=5),)),
    SourceDescription(chunks=(SdesChunk(ssrc=THEIRS, items=(
        SdesItem(kind=SDES_CNAME, value=b"x@y"),)),)),
    Bye(ssrcs=(THEIRS,), reason=b"bye"),
])


def mutated(cut: int, index: int, value: int) -> bytes:
    """VALID with one byte changed, cut to ``cut`` bytes."""
    data = bytearray(VALID)
    data[index] = value
    return bytes(data[:cut])


@settings(max_examples=300, deadline=None)
@given(st.one_of(
    st.binary(max_size=120),
    st.builds(mutated, st.integers(0, len(VALID)), st.integers(0, len(VALID) - 1),
              st.integers(0, 255)),
))
def test_malformed_packets_are_counted_never_raised(data: bytes) -> None:
    s = session()
    ok = s.receive(data, 1.0, our_ssrc=OURS)
    assert s.received + s.malformed == 1
    assert ok == (s.received == 1)


def test_truncated_and_foreign_packets_are_malformed() -> None:
    s = session()
    for data in (VALID[:-3], b"", b"\x80\xc9", VALID[:4] + b"\x00" * 3, b"\x00" * 16):
        assert not s.receive(data, 1.0, our_ssrc=OURS)
    assert (s.received, s.malformed) == (0, 5)
    assert s.receive(VALID, 1.0, our_ssrc=OURS)
