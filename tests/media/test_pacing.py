"""The worker's poll grid and tick schedule (``media.pacing``), with a fake clock."""

from __future__ import annotations

import asyncio
import itertools
import os
import time

import pytest

from media import pacing
from media.pacing import Clockwork, Pacer


def test_polls_stay_on_their_grid_however_late_or_long_a_poll_is() -> None:
    pacer = Pacer(100.0, poll_interval=0.002)
    assert pacer.next_poll == pytest.approx(100.002)
    for late in (0.0, 0.0004, 0.0011, 0.0, 0.0019):
        due = pacer.next_poll
        assert pacer.poll_done(due + late) == pytest.approx(due + 0.002)


def test_polls_missed_entirely_are_skipped_keeping_the_phase() -> None:
    pacer = Pacer(0.0, poll_interval=0.002)
    assert pacer.poll_done(0.0075) == pytest.approx(0.008)  # slept through .004 and .006
    assert pacer.poll_done(0.008) == pytest.approx(0.010)


def test_a_pacer_without_polls_refuses_to_schedule_one() -> None:
    with pytest.raises(ValueError, match="no poll interval"):
        Pacer(0.0, poll_interval=None).poll_done(1.0)


def test_ticks_run_in_order_and_are_skipped_when_far_behind() -> None:
    pacer = Pacer(0.0, poll_interval=0.002)
    assert not pacer.tick_due(0.0185)
    assert pacer.tick_due(0.0192)  # within the clock's millisecond
    due = pacer.due_ticks(0.0201)
    assert due.times == pytest.approx((0.02,)) and due.skipped == 0 and not due.late
    due = pacer.due_ticks(0.0651)  # 0.04 (25 ms late) and 0.06
    assert due.times == pytest.approx((0.04, 0.06)) and due.skipped == 0 and due.late
    due = pacer.due_ticks(0.2005)  # 0.08 .. 0.2 due: run the last three, give up four
    assert due.skipped == 4 and due.times == pytest.approx((0.16, 0.18, 0.2)) and due.late
    assert pacer.next_tick == pytest.approx(0.22)
    assert pacer.due_ticks(0.21).times == ()


class Recorder:
    """Stands in for a worker: counts drains, ticks and steps."""

    def __init__(self) -> None:
        self.late_ticks = 0
        self.tick_cpu_s = 0.0
        self.tick_max_s = 0.0
        self.drains: list[float] = []
        self.ticks: list[float] = []
        self.steps_run = 0
        self.skipped = 0
        self.elapsed = 0.0
        self.tick_polls: list[int] = []  # how many drains there had been at each tick
        self.step_polls: list[int] = []  # ... and at each step
        self.clockwork: Clockwork | None = None

    def drain(self) -> None:
        self.drains.append(time.monotonic())

    def begin_tick(self, at: float) -> None:
        self.ticks.append(at)
        self.tick_polls.append(len(self.drains))
        assert self.clockwork is not None
        self.clockwork.steps.extend([self.step, self.step])

    def skip(self, ticks: int) -> None:
        self.skipped += ticks

    def step(self) -> None:
        self.steps_run += 1
        self.step_polls.append(len(self.drains))


async def run_clockwork(poll_interval: float | None, seconds: float,
                        readable_fd: int = -1) -> Recorder:
    worker = Recorder()
    clockwork = worker.clockwork = Clockwork(
        poll_interval=poll_interval, drain=worker.drain, begin_tick=worker.begin_tick,
        skip=worker.skip, accounts=worker)
    started = time.monotonic()
    clockwork.start(asyncio.get_running_loop(), readable_fd)
    await asyncio.sleep(seconds)
    clockwork.stop()
    worker.elapsed = time.monotonic() - started
    return worker


@pytest.mark.parametrize("timerfd", [True, False])
async def test_clockwork_polls_ticks_and_runs_one_step_per_poll(
        timerfd: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    if not timerfd:  # the loop-timer grid, as where there is no timerfd
        monkeypatch.setattr(pacing, "open_poll_timer", lambda first, interval: None)
    worker = await run_clockwork(0.002, 0.2)
    # every 2 ms, never more often (a busy machine may skip some)
    assert 20 <= len(worker.drains) <= worker.elapsed / 0.002 + 1
    assert 5 <= len(worker.ticks) + worker.skipped <= worker.elapsed / 0.02 + 1
    gaps = [(b - a) / 0.02 for a, b in itertools.pairwise(worker.ticks)]
    assert all(g == pytest.approx(round(g)) and round(g) >= 1 for g in gaps)
    # the ticks' steps ran on the following polls, one per poll, never at a tick
    assert worker.steps_run >= 2
    assert len(set(worker.step_polls)) == len(worker.step_polls)
    assert not set(worker.step_polls) & set(worker.tick_polls)


async def test_clockwork_without_polls_drains_when_readable_and_ticks_on_its_timer() -> None:
    read, write = os.pipe()
    os.write(write, b"x")  # stays readable: drain is called again and again
    try:
        worker = await run_clockwork(None, 0.1, readable_fd=read)
    finally:
        os.close(read)
        os.close(write)
    assert len(worker.drains) > 20
    assert 3 <= len(worker.ticks) + worker.skipped <= worker.elapsed / 0.02 + 1
    assert worker.steps_run == 2 * len(worker.ticks)  # run at once, with the tick


def test_poll_timer_counts_the_intervals_that_passed() -> None:
    first = time.monotonic() + 0.005
    timer = pacing.open_poll_timer(first, 0.005)
    assert timer is not None  # Linux
    try:
        time.sleep(0.032)
        before = time.monotonic()
        count = timer.expirations()
        after = time.monotonic()
        # every 5 ms from ``first`` (the kernel may fire up to its slack late)
        assert int((before - first) / 0.005) <= count <= int((after - first) / 0.005) + 1
        assert count >= 5 and timer.expirations() <= 1
    finally:
        timer.close()
