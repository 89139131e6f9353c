import random
from dataclasses import dataclass

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from media.jitter import GapReason, JitterBuffer, PlayoutFrame, PlayoutGap, PushResult

FRAME = 160
TICK = 0.02


@dataclass
class Arrival:
    at: float
    index: int  # frame number; timestamp = base + 160 * index


def simulate(
    buffer: JitterBuffer,
    arrivals: list[Arrival],
    *,
    ticks: int,
    base_ts: int = 0,
    tick_phase: float = 0.005,
) -> tuple[list[PlayoutFrame | PlayoutGap | None], list[PushResult]]:
    """Interleave arrivals and 20 ms playout ticks in time order."""
    events = [(a.at, 0, a.index) for a in arrivals] + [
        (k * TICK + tick_phase, 1, k) for k in range(ticks)
    ]
    events.sort()
    played: list[PlayoutFrame | PlayoutGap | None] = []
    results: list[PushResult] = []
    for at, kind, index in events:
        if kind == 0:
            ts = (base_ts + FRAME * index) % (1 << 32)
            results.append(
                buffer.push(
                    sequence=index % 65536, timestamp=ts, payload=bytes([index % 256]), now=at
                )
            )
        else:
            played.append(buffer.pop(at))
    return played, results


def frames(out: list[PlayoutFrame | PlayoutGap | None]) -> list[int]:
    return [f.sequence for f in out if isinstance(f, PlayoutFrame)]


def steady(count: int, transit: float = 0.03) -> list[Arrival]:
    return [Arrival(at=i * TICK + transit, index=i) for i in range(count)]


def test_waits_for_initial_delay_then_plays_in_order() -> None:
    buffer = JitterBuffer(initial_delay=0.06, min_delay=0.06)
    out, results = simulate(buffer, steady(50), ticks=60)
    assert set(results) == {PushResult.ACCEPTED}
    assert frames(out) == list(range(50))
    first = next(i for i, f in enumerate(out) if f is not None)
    # first packet arrives at 30 ms and is due 60 ms later: the tick at 5 + 20*k >= 90 ms
    assert first == 5
    gaps = [f for f in out if isinstance(f, PlayoutGap)]
    assert all(g.reason is GapReason.EMPTY for g in gaps)  # only after the stream ends
    assert buffer.counters.played == 50


def test_reordered_packets_come_out_in_order() -> None:
    arrivals = steady(40)
    for i in range(2, 38, 3):  # swap arrival times of neighbours
        arrivals[i].at, arrivals[i + 1].at = arrivals[i + 1].at, arrivals[i].at + 0.001
    out, _ = simulate(JitterBuffer(), arrivals, ticks=50)
    assert frames(out) == list(range(40))


def test_loss_is_reported_as_a_gap_at_the_missing_timestamp() -> None:
    arrivals = [a for a in steady(30) if a.index not in (10, 11)]
    # min_delay == initial_delay: the buffer has no reason to shrink by skipping the hole
    out, _ = simulate(JitterBuffer(min_delay=0.06), arrivals, ticks=40, base_ts=1000)
    assert frames(out) == [i for i in range(30) if i not in (10, 11)]
    lost = [f for f in out if isinstance(f, PlayoutGap) and f.reason is GapReason.LOST]
    assert [g.timestamp for g in lost] == [1000 + 160 * 10, 1000 + 160 * 11]
    assert all(g.samples == FRAME for g in lost)


def test_late_and_duplicate_packets_are_dropped() -> None:
    arrivals = steady(30)
    arrivals[12].at += 0.5  # arrives long after its playout time
    arrivals.append(Arrival(at=arrivals[5].at + 0.001, index=5))
    out, results = simulate(JitterBuffer(min_delay=0.06), arrivals, ticks=60)
    assert PushResult.LATE in results and PushResult.DUPLICATE in results
    assert frames(out) == [i for i in range(30) if i != 12]
    lost = [f for f in out if isinstance(f, PlayoutGap) and f.reason is GapReason.LOST]
    assert len(lost) == 1


def jittery(count: int, spread: float, seed: int) -> list[Arrival]:
    rng = random.Random(seed)
    return [Arrival(at=i * TICK + 0.03 + rng.uniform(0, spread), index=i) for i in range(count)]


def test_delay_adapts_to_jitter_within_bounds() -> None:
    calm = JitterBuffer(min_delay=0.02, max_delay=0.3)
    simulate(calm, jittery(400, 0.002, seed=1), ticks=410)
    assert calm.target_delay == pytest.approx(0.02)

    rough = JitterBuffer(min_delay=0.02, max_delay=0.3)
    out, results = simulate(rough, jittery(1000, 0.08, seed=2), ticks=1020)
    assert 0.08 <= rough.target_delay <= 0.2
    # a big enough buffer loses under 1 % of packets to lateness
    assert results.count(PushResult.LATE) < 10
    assert len(frames(out)) > 985

    capped = JitterBuffer(min_delay=0.02, max_delay=0.1)
    simulate(capped, jittery(400, 0.3, seed=3), ticks=420)
    assert capped.target_delay == pytest.approx(0.1)
    assert capped.counters.late > 0


def test_delay_shrinks_when_jitter_goes_away() -> None:
    buffer = JitterBuffer(min_delay=0.02, max_delay=0.3)
    arrivals = jittery(500, 0.1, seed=4) + [
        Arrival(at=a.at + 10.0, index=a.index + 500) for a in steady(1000)
    ]
    out, _ = simulate(buffer, arrivals, ticks=1520)
    assert buffer.target_delay < 0.05
    tail = [f for f in out[-600:-30] if f is not None]
    assert all(isinstance(f, PlayoutFrame) for f in tail)
    # playout delay of the last frames: tick time minus send time
    last = out[-40]
    assert isinstance(last, PlayoutFrame)
    sent = last.sequence * TICK  # frame n is sent at n * 20 ms in both phases
    assert (1480 * TICK + 0.005) - sent < 0.1
    assert buffer.counters.dropped + buffer.counters.skipped > 0


def test_timestamp_wrap_is_seamless() -> None:
    buffer = JitterBuffer(min_delay=0.06)
    out, _ = simulate(buffer, steady(40), ticks=50, base_ts=(1 << 32) - 160 * 20)
    assert frames(out) == list(range(40))
    played = [f.timestamp for f in out if isinstance(f, PlayoutFrame)]
    assert played[20] == 0 and played[19] == (1 << 32) - 160


def test_timestamp_jump_resynchronises() -> None:
    buffer = JitterBuffer()
    out, _ = simulate(buffer, steady(20), ticks=20)
    assert len(frames(out)) > 10
    # the sender restarts with an unrelated timestamp base
    now = 0.5
    result = buffer.push(sequence=500, timestamp=123_456_789, payload=b"x", now=now)
    assert result is PushResult.RESYNC
    for i in range(1, 10):
        buffer.push(
            sequence=500 + i, timestamp=123_456_789 + 160 * i, payload=b"x", now=now + i * TICK
        )
    later = [buffer.pop(now + 0.2 + k * TICK) for k in range(8)]
    played = [f.sequence for f in later if isinstance(f, PlayoutFrame)]
    assert played[:3] == [500, 501, 502]
    assert buffer.counters.resyncs == 1


def test_new_talkspurt_off_the_frame_grid_is_followed() -> None:
    buffer = JitterBuffer()
    out, _ = simulate(buffer, steady(10), ticks=20)
    assert frames(out) == list(range(10))
    # after 10 packets the sender was silent; it resumes 75 samples off the old grid
    resume_ts = 160 * 20 + 75
    start = 0.4 + 0.03
    for i in range(10):
        buffer.push(
            sequence=100 + i, timestamp=resume_ts + 160 * i, payload=b"y", now=start + i * TICK
        )
    outs = [buffer.pop(20 * TICK + 0.005 + k * TICK) for k in range(30)]
    resumed = [f for f in outs if isinstance(f, PlayoutFrame)]
    assert [f.sequence for f in resumed] == list(range(100, 110))
    assert resumed[0].timestamp == resume_ts


def test_invalid_delay_bounds() -> None:
    with pytest.raises(ValueError):
        JitterBuffer(min_delay=0.1, initial_delay=0.05)


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    spread=st.floats(0, 0.15),
    loss=st.floats(0, 0.3),
    count=st.integers(1, 150),
)
def test_every_accepted_packet_leaves_once_and_in_order(
    seed: int, spread: float, loss: float, count: int
) -> None:
    rng = random.Random(seed)
    arrivals = [a for a in jittery(count, spread, seed) if rng.random() >= loss]
    buffer = JitterBuffer()
    out, results = simulate(buffer, arrivals, ticks=count + 40)
    played = frames(out)
    assert played == sorted(set(played))  # strictly increasing: no repeats, no reordering
    c = buffer.counters
    assert c.accepted == results.count(PushResult.ACCEPTED) + results.count(PushResult.RESYNC)
    # every accepted packet was played, dropped to shrink delay, or purged as stale (late)
    late_on_push = results.count(PushResult.LATE)
    assert c.played + c.dropped + (c.late - late_on_push) + buffer.buffered == c.accepted
    assert c.played == len(played)
