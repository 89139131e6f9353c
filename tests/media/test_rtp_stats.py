import random

from hypothesis import given, settings
from hypothesis import strategies as st

from media.rtp import MAX_DROPOUT, RtpSourceStats


def feed(stats: RtpSourceStats, seqs: list[int], *, start: float = 0.0) -> list[bool]:
    return [
        stats.on_packet(seq=s % 65536, timestamp=(160 * i) % (1 << 32), now=start + 0.02 * i)
        for i, s in enumerate(seqs)
    ]


def test_probation_needs_two_sequential_packets() -> None:
    stats = RtpSourceStats(ssrc=1, clock_rate=8000, first_seq=100)
    assert feed(stats, [100, 101, 102]) == [False, True, True]
    assert stats.valid
    assert stats.base_seq == 101
    assert (stats.received, stats.expected, stats.cumulative_lost) == (2, 2, 0)


def test_probation_restarts_on_out_of_order_packet() -> None:
    stats = RtpSourceStats(ssrc=1, clock_rate=8000, first_seq=100)
    assert feed(stats, [100, 105, 106]) == [False, False, True]
    assert stats.base_seq == 106


def test_sequence_wrap_counts_cycles() -> None:
    stats = RtpSourceStats(ssrc=1, clock_rate=8000, first_seq=65533)
    feed(stats, list(range(65533, 65536 + 5)))
    assert stats.cycles == 65536
    assert stats.extended_max_seq == 65536 + 4
    assert stats.expected == stats.received == 7  # 8 sent, the first one on probation


def test_loss_and_fraction_lost_per_interval() -> None:
    stats = RtpSourceStats(ssrc=1, clock_rate=8000, first_seq=0)
    feed(stats, [0, 1, 2, 3])  # 0 is probation, base 1: 3 expected, 3 received
    assert stats.take_fraction_lost() == 0
    # next interval: 4..13 expected (10), 4 of them lost
    feed(stats, [4, 5, 8, 9, 11, 13], start=1.0)
    assert stats.cumulative_lost == 4
    assert stats.take_fraction_lost() == (4 << 8) // 10
    # a duplicate makes received exceed expected: negative interval loss reports 0
    feed(stats, [13, 14], start=2.0)
    assert stats.take_fraction_lost() == 0
    assert stats.cumulative_lost == 3


def test_restart_after_two_sequential_packets_far_away() -> None:
    stats = RtpSourceStats(ssrc=1, clock_rate=8000, first_seq=10)
    feed(stats, [10, 11, 12])
    far = 12 + MAX_DROPOUT + 500
    assert feed(stats, [far], start=1.0) == [False]  # one stray packet is ignored
    assert stats.max_seq == 12
    assert feed(stats, [13], start=2.0) == [True]
    assert feed(stats, [far + 7], start=3.0) == [False]
    assert feed(stats, [far + 8], start=4.0) == [True]  # successor of the jump: re-sync
    assert stats.base_seq == far + 8
    assert (stats.received, stats.cumulative_lost) == (1, 0)


def test_late_misordered_packet_counts_as_received_without_moving_max() -> None:
    stats = RtpSourceStats(ssrc=1, clock_rate=8000, first_seq=0)
    feed(stats, [0, 1, 2, 4])
    assert stats.on_packet(seq=3, timestamp=480, now=0.2)
    assert stats.max_seq == 4
    assert stats.cumulative_lost == 0


def test_jitter_zero_for_constant_transit_and_tracks_a8_formula() -> None:
    stats = RtpSourceStats(ssrc=1, clock_rate=8000, first_seq=0)
    for i in range(50):
        stats.on_packet(seq=i, timestamp=160 * i, now=10.0 + 0.02 * i)
    assert abs(stats.jitter) < 1e-6
    # Alternating 0 / 5 ms arrival error: |D| = 40 samples for every packet pair.
    stats = RtpSourceStats(ssrc=1, clock_rate=8000, first_seq=0)
    expected = 0.0
    for i in range(200):
        offset = 0.005 if i % 2 else 0.0
        stats.on_packet(seq=i, timestamp=160 * i, now=0.02 * i + offset)
        if i >= 2:  # first packet is probation, second sets the transit reference
            expected += (40 - expected) / 16
    assert abs(stats.jitter - expected) < 1e-6
    assert 39.9 < stats.jitter < 40


def test_jitter_ignores_timestamp_wrap() -> None:
    stats = RtpSourceStats(ssrc=1, clock_rate=8000, first_seq=0)
    base = (1 << 32) - 800
    for i in range(20):
        stats.on_packet(seq=i, timestamp=(base + 160 * i) % (1 << 32), now=0.02 * i)
    assert stats.jitter < 1e-6


def test_last_sender_report_middle_bits() -> None:
    stats = RtpSourceStats(ssrc=1, clock_rate=8000, first_seq=0)
    stats.on_sender_report(ntp_timestamp=0x0123456789ABCDEF, now=5.0)
    assert stats.last_sr_ntp_middle == 0x456789AB
    assert stats.last_sr_arrival == 5.0


@settings(max_examples=150, deadline=None)
@given(
    start=st.integers(0, 65535),
    count=st.integers(3, 400),
    loss=st.floats(0, 0.5),
    seed=st.integers(0, 2**16),
)
def test_counts_match_a_simple_model_under_loss_and_reordering(
    start: int, count: int, loss: float, seed: int
) -> None:
    rng = random.Random(seed)
    # The first two packets always arrive (probation); later ones may be lost or swapped.
    kept = [0, 1] + [n for n in range(2, count) if rng.random() >= loss]
    for i in range(2, len(kept) - 1):
        if rng.random() < 0.1:
            kept[i], kept[i + 1] = kept[i + 1], kept[i]
    stats = RtpSourceStats(ssrc=7, clock_rate=8000, first_seq=start)
    for n in kept:
        stats.on_packet(seq=(start + n) % 65536, timestamp=160 * n, now=0.02 * n)
    highest = max(kept)
    assert stats.base_seq == (start + 1) % 65536
    assert stats.extended_max_seq - stats.base_seq == highest - 1
    assert stats.expected == highest  # base is the second packet
    assert stats.received == len(kept) - 1
    assert stats.cumulative_lost == highest - (len(kept) - 1)
