"""Sampled receive statistics (media.receive_stats): loss, wrap, reordering, restarts, jitter."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from media.receive_stats import ReceiveStats
from media.rtp import MAX_DROPOUT


class Stream:
    """A sender's packets as the worker sees them: a running received counter, and a probe
    pair (two consecutive arrivals) sampled every ``every`` packets."""

    def __init__(self, stats: ReceiveStats, *, ssrc: int = 7, seq: int = 0, every: int = 50
                 ) -> None:
        self.stats, self.ssrc, self.seq, self.every = stats, ssrc, seq, every
        self.received = 0
        self.arrivals = 0
        self.ts = 1000
        self.pending = 0  # probe packets still to sample

    def send(self, *, lost: bool = False, arrival: float | None = None, seq: int | None = None,
             audio: bool = True) -> None:
        number = self.seq if seq is None else seq
        if seq is None:
            self.seq = (self.seq + 1) % 65536
            self.ts = (self.ts + 160) % (1 << 32)
        if lost:
            return
        self.received += 1
        self.arrivals += 1
        if self.arrivals % self.every == 1:
            self.pending = 2
        if self.pending:
            self.pending -= 1
            when = arrival if arrival is not None else self.arrivals * 0.02
            self.stats.sample(ssrc=self.ssrc, seq=number, timestamp=self.ts, audio=audio,
                              arrival=when, received=self.received, follows=self.pending == 0)


def test_a_clean_stream_counts_every_packet_up_to_the_last_sample() -> None:
    stats = ReceiveStats()
    s = Stream(stats)
    for _ in range(251):  # samples at arrivals 1-2, 51-52, ..., 251
        s.send()
    assert stats.segment_expected == stats.segment_received == 251
    assert stats.cumulative_lost == 0
    summary = stats.summary(s.received)
    assert (summary.received, summary.lost, summary.loss_pct) == (251, 0, 0.0)


def test_losses_between_samples_are_counted() -> None:
    stats = ReceiveStats()
    s = Stream(stats)
    for n in range(400):
        s.send(lost=n % 10 == 5)  # 10 % loss, never a sampled packet (arrival 1 is n=0)
    expected = stats.segment_expected
    assert stats.cumulative_lost == expected - stats.segment_received
    assert 0.09 < stats.cumulative_lost / expected < 0.11
    summary = stats.summary(s.received)
    assert summary.lost == stats.cumulative_lost
    assert summary.expected == s.received + summary.lost
    assert summary.observed == expected  # the span between the first and the last sample
    assert summary.loss_pct == 100 * summary.lost / expected


def test_sequence_wrap_extends_the_highest_sequence_number() -> None:
    stats = ReceiveStats()
    s = Stream(stats, seq=65500)
    for _ in range(200):
        s.send()
    assert stats.extended_max_seq > 65536
    assert stats.extended_max_seq - 65500 + 1 == stats.segment_expected
    assert stats.cumulative_lost == 0
    figures = stats.take_report()
    assert figures is not None
    # the last sample is arrival 152, packet 151 of the stream: 36 packets past the wrap
    assert figures.extended_highest_seq == stats.extended_max_seq == 65500 + 151
    assert stats.extended_max_seq % 65536 == 115


def test_a_late_packet_counts_as_received_without_moving_the_highest() -> None:
    stats = ReceiveStats()
    stats.sample(ssrc=1, seq=100, timestamp=0, audio=True, arrival=0.0, received=1,
                 follows=False)
    stats.sample(ssrc=1, seq=150, timestamp=8000, audio=True, arrival=1.0, received=51,
                 follows=False)
    # Packet 140 arrives late, after 151..155 (received counter at 57). The worker knows
    # only what it samples: the highest stays 150, the received count moves on.
    stats.sample(ssrc=1, seq=140, timestamp=6400, audio=True, arrival=1.2, received=57,
                 follows=False)
    assert stats.extended_max_seq == 150
    assert stats.segment_received == 57
    assert stats.cumulative_lost == 51 - 57  # more received than expected so far (A.3)
    assert stats.summary(57).lost == 0  # the summary never reports negative loss


def test_reordering_around_the_wrap_does_not_count_a_cycle() -> None:
    stats = ReceiveStats()
    for received, seq in enumerate([65530, 65531, 2, 65535, 3], start=1):
        stats.sample(ssrc=1, seq=seq, timestamp=0, audio=False, arrival=0.0,
                     received=received, follows=False)
    assert stats.extended_max_seq == 65536 + 3


def test_a_new_ssrc_starts_a_segment_and_keeps_the_old_losses() -> None:
    stats = ReceiveStats()
    s = Stream(stats, ssrc=1)
    for n in range(120):
        s.send(lost=n in (10, 20, 30))
    lost_first = stats.cumulative_lost
    assert lost_first == 3
    s.ssrc, s.seq, s.arrivals, s.pending = 2, 40000, 0, 0
    for _ in range(120):
        s.send()
    assert stats.streams == 2
    assert stats.cumulative_lost == 0
    summary = stats.summary(s.received)
    assert summary.lost == 3
    # first to last sample: packets 0..104 of the first (3 lost), 0..101 of the second
    assert summary.observed == 105 + 102


def test_a_sender_restart_needs_two_sequential_packets() -> None:
    stats = ReceiveStats()
    for i in range(3):
        stats.sample(ssrc=1, seq=10 + i, timestamp=0, audio=False, arrival=0.0,
                     received=i + 1, follows=False)
    far = 12 + MAX_DROPOUT + 700
    stats.sample(ssrc=1, seq=far, timestamp=0, audio=False, arrival=1.0, received=4,
                 follows=False)
    assert stats.extended_max_seq == 12  # one stray packet moves nothing
    stats.sample(ssrc=1, seq=far + 1, timestamp=0, audio=False, arrival=1.0, received=5,
                 follows=True)
    assert stats.extended_max_seq == far + 1
    assert stats.streams == 2
    assert (stats.segment_expected, stats.segment_received) == (1, 1)


def test_fraction_lost_covers_the_interval_since_the_last_report() -> None:
    stats = ReceiveStats()
    assert stats.take_report() is None
    s = Stream(stats, every=10)
    for _ in range(101):
        s.send()
    first = stats.take_report()
    assert first is not None and first.fraction_lost == 0
    for n in range(100):
        s.send(lost=n % 4 == 2)  # a quarter of the next interval
    second = stats.take_report()
    assert second is not None
    assert abs(second.fraction_lost - 64) <= 4  # 64/256 give or take the sampled edges
    assert second.cumulative_lost == stats.cumulative_lost > 20


def test_jitter_is_zero_for_a_steady_stream_and_tracks_a_known_difference() -> None:
    stats = ReceiveStats()
    s = Stream(stats, every=5)
    for _ in range(200):
        s.send()  # arrivals exactly 20 ms apart
    assert stats.jitter < 1e-6
    stats = ReceiveStats()
    s = Stream(stats, every=5)
    for i in range(500):
        # the second packet of each probe pair is 5 ms late: |D| = 40 timestamp units
        s.send(arrival=(i + 1) * 0.02 + (0.005 if s.pending == 1 else 0.0))
    assert abs(stats.jitter - 40) < 1e-6  # the estimator starts at the first difference
    summary = stats.summary(s.received)
    assert abs(summary.jitter_mean_ms - 5.0) < 1e-6
    assert abs(summary.jitter_max_ms - 5.0) < 1e-6


def test_jitter_follows_rfc3550_a8_on_the_sampled_differences() -> None:
    stats = ReceiveStats()
    rng = random.Random(3)
    estimate = None
    ts = 0
    for pair in range(60):
        base = pair * 1.0
        late = rng.uniform(0, 0.03)
        stats.sample(ssrc=9, seq=2 * pair * 25, timestamp=ts, audio=True, arrival=base,
                     received=pair * 50 + 1, follows=False)
        stats.sample(ssrc=9, seq=2 * pair * 25 + 1, timestamp=ts + 160, audio=True,
                     arrival=base + 0.02 + late, received=pair * 50 + 2, follows=True)
        d = late * 8000
        estimate = d if estimate is None else estimate + (d - estimate) / 16
        ts += 8000
    assert estimate is not None and abs(stats.jitter - estimate) < 1e-6


def test_jitter_ignores_timestamp_wrap_and_event_packets() -> None:
    stats = ReceiveStats()
    ts = (1 << 32) - 80
    stats.sample(ssrc=1, seq=1, timestamp=ts, audio=True, arrival=0.0, received=1,
                 follows=False)
    stats.sample(ssrc=1, seq=2, timestamp=(ts + 160) % (1 << 32), audio=True, arrival=0.02,
                 received=2, follows=True)
    assert stats.jitter < 1e-6
    # An RFC 4733 packet's timestamp is its event's start: no jitter from it.
    stats.sample(ssrc=1, seq=3, timestamp=5, audio=False, arrival=0.04, received=3,
                 follows=False)
    stats.sample(ssrc=1, seq=4, timestamp=5, audio=False, arrival=0.06, received=4,
                 follows=True)
    assert stats.jitter < 1e-6


@settings(max_examples=150, deadline=None)
@given(start=st.integers(0, 65535), count=st.integers(60, 600), loss=st.floats(0, 0.4),
       every=st.integers(3, 60), seed=st.integers(0, 2**16))
def test_loss_matches_a_simple_model_between_first_and_last_sample(
    start: int, count: int, loss: float, every: int, seed: int
) -> None:
    rng = random.Random(seed)
    stats = ReceiveStats()
    s = Stream(stats, seq=start, every=every)
    sampled: list[tuple[int, int]] = []  # (packet number, received counter) of each sample
    for n in range(count):
        lost = n > 0 and rng.random() < loss
        before = stats.samples
        s.send(lost=lost)
        if stats.samples != before:
            sampled.append((n, s.received))
    (first, first_received), (last, last_received) = sampled[0], sampled[-1]
    assert stats.segment_expected == last - first + 1
    assert stats.segment_received == last_received - first_received + 1
    summary = stats.summary(s.received)
    assert summary.lost == stats.segment_expected - stats.segment_received
    assert summary.observed == stats.segment_expected
