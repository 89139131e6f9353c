"""Receive statistics of one leg's incoming RTP, from sampled packets (RFC 3550 A.1, A.3, A.8).

Sans-IO: values in (``arrival`` in seconds), numbers out.

Why sampled: the worker relays most packets on an inlined fast path that must not do
per-packet bookkeeping (``media.worker``). Instead, about once a second the worker diverts
two consecutive packets of each leg through its general receive path (a "probe") and feeds
them to :meth:`ReceiveStats.sample`, together with the leg's running packet counter, which
the fast path keeps anyway. That is enough for every figure an RTCP report block needs:

* loss: the expected count comes from the extended highest sequence number (A.1; samples
  are ~50 packets apart, far below ``MAX_DROPOUT``, so wrap-around and restarts are still
  recognised) and the received count from the counter, snapshotted at the same sample;
* interarrival jitter (A.8): each probe pair is two consecutive arrivals, so its
  ``D(i-1, i)`` is exactly one of the differences the RFC's estimator averages; the
  estimator is fed one difference a second instead of fifty. Its expected value is the
  same; it reacts over ~16 s instead of ~0.3 s, and starts at the first difference
  rather than at 0 so that short calls are not reported as jitter-free.

A stream is one SSRC; a new SSRC, or a sender restart (two sequential samples far from the
old sequence), closes the current segment and starts another. Totals add up the segments;
a segment's loss is counted from its first to its last sample (what came after the last
probe is received but not yet known to be complete): the lost count is a lower bound by at
most a second's packets, the loss rate is the rate over the observed span.
"""

from __future__ import annotations

from dataclasses import dataclass

from media.rtp import MAX_DROPOUT, MAX_MISORDER, RTP_SEQ_MOD

_TS_MOD = 1 << 32
JITTER_GAIN = 1 / 16  # RFC 3550 A.8


@dataclass(frozen=True, slots=True, kw_only=True)
class ReportFigures:
    """What one RTCP report block says about the stream (RFC 3550 §6.4.1)."""

    ssrc: int
    fraction_lost: int  # 1/256 units, since the previous report
    cumulative_lost: int  # clamped to the signed 24-bit field
    extended_highest_seq: int  # 32 bits
    jitter: int  # RTP timestamp units


@dataclass(frozen=True, slots=True, kw_only=True)
class ReceiveSummary:
    received: int  # packets counted by the worker (exact)
    lost: int  # lost between first and last sample of each segment (a lower bound)
    observed: int  # packets expected between those samples: what ``lost`` is out of
    jitter_mean_ms: float  # mean |D| over the probe pairs: what A.8's estimator estimates
    jitter_max_ms: float  # highest value A.8's estimator reached
    streams: int  # segments (SSRC changes and sender restarts) seen

    @property
    def expected(self) -> int:
        return self.received + self.lost

    @property
    def loss_pct(self) -> float:
        """The loss rate where it was observed (not diluted by the unobserved tail)."""
        return 100.0 * self.lost / self.observed if self.observed else 0.0


class ReceiveStats:
    """Sampled receive statistics of one leg (see the module docstring)."""

    __slots__ = (
        "_bad_seq",
        "_base_ext",
        "_cycles",
        "_expected_prior",
        "_jitter_max",
        "_jitter_n",
        "_jitter_sum",
        "_lost_before",
        "_max_seq",
        "_observed_before",
        "_received_base",
        "_received_last",
        "_received_prior",
        "_transit",
        "clock_rate",
        "jitter",
        "samples",
        "ssrc",
        "streams",
    )

    def __init__(self, *, clock_rate: int = 8000) -> None:
        self.clock_rate = clock_rate
        self.ssrc: int | None = None
        self.jitter = 0.0  # A.8 estimate, RTP timestamp units
        self.samples = 0
        self.streams = 0
        self._lost_before = 0  # clamped losses of closed segments
        self._observed_before = 0  # packets those segments expected
        self._jitter_sum = 0.0
        self._jitter_n = 0
        self._jitter_max = 0.0
        self._transit: float | None = None
        self._start(0, 0)

    def _start(self, seq: int, received: int) -> None:
        """Begin a segment at ``seq``; ``received`` counts packets up to and including it."""
        self._cycles = 0
        self._max_seq = seq
        self._base_ext = seq
        self._bad_seq = RTP_SEQ_MOD + 1  # matches no sequence number
        self._received_base = received - 1
        self._received_last = received
        self._expected_prior = 0
        self._received_prior = 0

    def _close_segment(self) -> None:
        if self.ssrc is not None:
            self._lost_before += max(0, self.segment_expected - self.segment_received)
            self._observed_before += self.segment_expected

    def sample(self, *, ssrc: int, seq: int, timestamp: int, audio: bool, arrival: float,
               received: int, follows: bool) -> None:
        """Fold in one packet.

        ``received``: the leg's packet counter including this packet. ``follows``: this
        packet arrived right after the previous sample (the second of a probe pair).
        ``audio``: its timestamp is a sampling clock (not an RFC 4733 event's start).
        """
        self.samples += 1
        if ssrc != self.ssrc:
            self._close_segment()
            self.ssrc = ssrc
            self.streams += 1
            self._start(seq, received)
            self._transit = None
            follows = False
        else:
            udelta = (seq - self._max_seq) % RTP_SEQ_MOD
            if udelta < MAX_DROPOUT:
                if seq < self._max_seq:
                    self._cycles += RTP_SEQ_MOD
                self._max_seq = seq
            elif udelta <= RTP_SEQ_MOD - MAX_MISORDER:
                if seq != self._bad_seq:
                    # A jump: the sender restarted, or a stray packet. Wait for its successor.
                    self._bad_seq = (seq + 1) % RTP_SEQ_MOD
                    self._transit = None
                    return
                self._close_segment()
                self.streams += 1
                self._start(seq, received)
                follows = False
            # else: a late (reordered) or duplicate packet: counted, does not move the max
            self._received_last = received
        transit = arrival * self.clock_rate - timestamp if audio else None
        if follows and transit is not None and self._transit is not None:
            # Modulo 2**32 so that a timestamp wrap is not a giant jump.
            d = abs((transit - self._transit + _TS_MOD / 2) % _TS_MOD - _TS_MOD / 2)
            self.jitter = d if self._jitter_n == 0 else self.jitter + (d - self.jitter) * \
                JITTER_GAIN
            self._jitter_n += 1
            self._jitter_sum += d
            self._jitter_max = max(self._jitter_max, self.jitter)
        self._transit = transit

    # ------------------------------------------------------------------ figures

    @property
    def extended_max_seq(self) -> int:
        return self._cycles + self._max_seq

    @property
    def segment_expected(self) -> int:
        return self.extended_max_seq - self._base_ext + 1 if self.ssrc is not None else 0

    @property
    def segment_received(self) -> int:
        return self._received_last - self._received_base if self.ssrc is not None else 0

    @property
    def cumulative_lost(self) -> int:
        """Expected minus received in the current segment, in the 24-bit report field (A.3)."""
        return max(-0x800000, min(0x7FFFFF, self.segment_expected - self.segment_received))

    def take_report(self) -> ReportFigures | None:
        """The figures of a report block, starting the next loss interval (A.3); None before
        the first sample."""
        if self.ssrc is None:
            return None
        expected, received = self.segment_expected, self.segment_received
        expected_interval = expected - self._expected_prior
        received_interval = received - self._received_prior
        self._expected_prior, self._received_prior = expected, received
        lost_interval = expected_interval - received_interval
        fraction = 0 if expected_interval <= 0 or lost_interval <= 0 else \
            min(255, (lost_interval << 8) // expected_interval)
        return ReportFigures(
            ssrc=self.ssrc, fraction_lost=fraction, cumulative_lost=self.cumulative_lost,
            extended_highest_seq=self.extended_max_seq & 0xFFFFFFFF,
            jitter=min(int(self.jitter), 0xFFFFFFFF),
        )

    def summary(self, received: int) -> ReceiveSummary:
        """The whole leg so far; ``received`` is the leg's packet counter now."""
        lost, observed = self._lost_before, self._observed_before
        if self.ssrc is not None:
            lost += max(0, self.segment_expected - self.segment_received)
            observed += self.segment_expected
        ms = 1000.0 / self.clock_rate
        return ReceiveSummary(
            received=received, lost=lost, observed=observed,
            jitter_mean_ms=self._jitter_sum / self._jitter_n * ms if self._jitter_n else 0.0,
            jitter_max_ms=self._jitter_max * ms, streams=self.streams,
        )
