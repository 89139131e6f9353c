"""When a media worker polls its sockets and runs its 20 ms tick.

:class:`Pacer` decides (sans-IO: ``now`` is passed in); :class:`PollTimer` is the kernel
timer that wakes the worker on the grid; :class:`Clockwork` runs both on the event loop.

Polls follow a fixed grid, ``next = previous + interval``, not "an interval after the last
poll ended". A leg's packets come every 20 ms, so on an exact grid each of them waits about
the same time for its poll: delay, but not jitter. A period that slips by a little each
time (0.1 ms here, as ``call_later`` did) moves that wait across the whole interval from
one packet of the leg to the next, which the far end sees as up to one interval of jitter.

Ticks come every ``frame`` seconds at the first poll that reaches them. A worker that fell
more than ``max_catch_up`` ticks behind skips the rest (recordings get silence for them)
rather than running them all at once, which would starve the receive path and put it
further behind (seen at 500 calls on a busy machine: stalls grew to seconds).
"""

from __future__ import annotations

import asyncio
import ctypes
import os
import sys
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from media.session import FRAME_S

MAX_CATCH_UP_TICKS = 2
#: a tick this close ahead runs now (the event loop's timers count whole milliseconds)
TICK_TOLERANCE_S = 0.001


@dataclass(frozen=True, slots=True, kw_only=True)
class DueTicks:
    skipped: int  # ticks given up
    times: tuple[float, ...] = field(default=())  # the ticks to run now, oldest first
    late: bool = False  # the first of them is more than a frame late


class Pacer:
    def __init__(self, now: float, *, poll_interval: float | None, frame: float = FRAME_S,
                 max_catch_up: int = MAX_CATCH_UP_TICKS) -> None:
        self.poll_interval = poll_interval
        self.frame = frame
        self.max_catch_up = max_catch_up
        self.next_tick = now + frame
        self.next_poll = now + (poll_interval or 0.0)

    def tick_due(self, now: float) -> bool:
        return now + TICK_TOLERANCE_S >= self.next_tick

    def due_ticks(self, now: float) -> DueTicks:
        """Every tick due by ``now``; afterwards :attr:`next_tick` is the one after them."""
        skipped = 0
        behind = int((now - self.next_tick) / self.frame)
        if behind > self.max_catch_up:
            skipped = behind - self.max_catch_up
            self.next_tick += skipped * self.frame
        late = now - self.next_tick > self.frame
        times = []
        while self.next_tick <= now + TICK_TOLERANCE_S:
            times.append(self.next_tick)
            self.next_tick += self.frame
        return DueTicks(skipped=skipped, times=tuple(times), late=late)

    def poll_done(self, now: float) -> float:
        """The poll due at :attr:`next_poll` ran (it began at ``now``): when the next is due.

        Polls missed entirely (the process was not scheduled) are skipped, keeping the phase.
        """
        interval = self.poll_interval
        if interval is None:
            raise ValueError("Pacer.poll_done: this pacer has no poll interval")
        self.next_poll += interval
        if self.next_poll <= now:
            self.next_poll += interval * (int((now - self.next_poll) / interval) + 1)
        return self.next_poll


# --- the kernel side ------------------------------------------------------------------------

_CLOCK_MONOTONIC = 1
_TFD_TIMER_ABSTIME = 1
_TFD_NONBLOCK = os.O_NONBLOCK
_TFD_CLOEXEC = os.O_CLOEXEC


class _Timespec(ctypes.Structure):
    _fields_ = [("tv_sec", ctypes.c_long), ("tv_nsec", ctypes.c_long)]


class _Itimerspec(ctypes.Structure):
    _fields_ = [("it_interval", _Timespec), ("it_value", _Timespec)]


def _timespec(seconds: float) -> _Timespec:
    whole = int(seconds)
    return _Timespec(whole, min(999_999_999, round((seconds - whole) * 1e9)))


class PollTimer:
    """A Linux timerfd that becomes readable every ``interval`` seconds on an exact grid
    from ``first`` (``time.monotonic()`` seconds), to within the kernel's timer slack.

    The event loop's own timers count whole milliseconds (uvloop and asyncio alike): a
    2 ms grid kept with ``call_at`` wanders by a millisecond either way, and that wander
    is jitter on every relayed packet. Python has ``os.timerfd_create`` only from 3.13.
    """

    def __init__(self, first: float, interval: float) -> None:
        libc = ctypes.CDLL(None, use_errno=True)
        fd = libc.timerfd_create(_CLOCK_MONOTONIC, _TFD_NONBLOCK | _TFD_CLOEXEC)
        if fd < 0:
            raise OSError(ctypes.get_errno(), "timerfd_create failed")
        spec = _Itimerspec(_timespec(interval), _timespec(first))
        if libc.timerfd_settime(fd, _TFD_TIMER_ABSTIME, ctypes.byref(spec), None) < 0:
            error = ctypes.get_errno()
            os.close(fd)
            raise OSError(error, "timerfd_settime failed")
        self.fd: int = fd

    def fileno(self) -> int:
        return self.fd

    def expirations(self) -> int:
        """How many intervals passed since the last call (0 if none)."""
        try:
            return int.from_bytes(os.read(self.fd, 8), sys.byteorder)
        except BlockingIOError:
            return 0

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


def open_poll_timer(first: float, interval: float) -> PollTimer | None:
    """A :class:`PollTimer`, or None where there is no timerfd (not Linux)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        return PollTimer(first, interval)
    except (OSError, AttributeError):
        return None


# --- on the event loop ----------------------------------------------------------------------


class TickAccounts(Protocol):
    late_ticks: int
    tick_cpu_s: float
    tick_max_s: float


class Clockwork:
    """Runs a media worker's polls, ticks and queued tick steps on an event loop.

    Each poll drains the sockets (``drain``), then either starts every tick now due
    (``begin_tick(tick_time)``, after ``skip(n)`` if far behind) or runs one step from
    :attr:`steps`, the tick work ``begin_tick`` queued for later polls. With
    ``poll_interval=None`` readable sockets wake ``drain`` directly and ticks keep their
    own timer, running their steps at once.
    """

    def __init__(self, *, poll_interval: float | None, drain: Callable[[], object],
                 begin_tick: Callable[[float], None], skip: Callable[[int], None],
                 accounts: TickAccounts, clock: Callable[[], float] = time.monotonic) -> None:
        self.poll_interval = poll_interval
        self.clock = clock
        self.pacer = Pacer(clock(), poll_interval=poll_interval)
        self.steps: deque[Callable[[], None]] = deque()
        self._drain = drain
        self._begin_tick = begin_tick
        self._skip = skip
        self._accounts = accounts
        self._loop: asyncio.AbstractEventLoop | None = None
        self._handle: asyncio.TimerHandle | None = None  # the next poll or tick
        self._timer: PollTimer | None = None  # wakes the polls (Linux), else ``_handle``
        self._readable_fd = -1

    def start(self, loop: asyncio.AbstractEventLoop, readable_fd: int) -> None:
        """Begin on ``loop``; ``readable_fd`` (an epoll of the sockets) wakes ``drain``
        directly when there is no poll interval."""
        self._loop = loop
        pacer = self.pacer = Pacer(self.clock(), poll_interval=self.poll_interval)
        if self.poll_interval is None:
            self._readable_fd = readable_fd
            loop.add_reader(readable_fd, self._drain)
            self._call_at(pacer.next_tick, self._on_tick)
        elif (timer := open_poll_timer(pacer.next_poll, self.poll_interval)) is not None:
            self._timer = timer
            loop.add_reader(timer.fileno(), self._on_timer)
        else:
            self._call_at(pacer.next_poll, self._on_poll)

    def stop(self) -> None:
        """No more polls or ticks; queued steps are dropped."""
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        if self._loop is not None:
            if self._timer is not None:
                self._loop.remove_reader(self._timer.fileno())
                self._timer.close()
                self._timer = None
            if self._readable_fd >= 0:
                self._loop.remove_reader(self._readable_fd)
                self._readable_fd = -1
        self.steps.clear()

    def _call_at(self, when: float, callback: Callable[[], None]) -> None:
        assert self._loop is not None
        self._handle = self._loop.call_later(max(0.0, when - self.clock()), callback)

    def _on_timer(self) -> None:
        assert self._timer is not None
        self._timer.expirations()
        self._poll(self.clock())

    def _on_poll(self) -> None:
        """The poll grid kept with the loop's timer, where there is no timerfd."""
        now = self.clock()
        self._poll(now)
        self._call_at(self.pacer.poll_done(now), self._on_poll)

    def _poll(self, now: float) -> None:
        self._drain()
        if self.pacer.tick_due(now):
            self._ticks_due(now)
        elif self.steps:
            self.run_step()

    def _on_tick(self) -> None:
        self._ticks_due(self.clock())
        self.finish_steps()
        self._call_at(self.pacer.next_tick, self._on_tick)

    def _ticks_due(self, now: float) -> None:
        started = time.perf_counter()
        due = self.pacer.due_ticks(now)
        if due.skipped:
            self._skip(due.skipped)
        self._accounts.late_ticks += due.late
        for tick_time in due.times:
            self._begin_tick(tick_time)
        self._account(time.perf_counter() - started)

    def _account(self, spent: float) -> None:
        self._accounts.tick_cpu_s += spent
        self._accounts.tick_max_s = max(self._accounts.tick_max_s, spent)

    def run_step(self) -> None:
        started = time.perf_counter()
        self.steps.popleft()()
        self._account(time.perf_counter() - started)

    def finish_steps(self) -> None:
        """Run every queued step now, draining the sockets between them."""
        while self.steps:
            self.run_step()
            self._drain()
