"""Adaptive jitter buffer for fixed-size audio frames (sans-IO, time passed in).

Each packet must carry exactly ``frame_samples`` of audio. The caller pushes packets as they
arrive and pops one frame per playout tick. Packets are scheduled at
``timestamp / clock_rate + offset``, where ``offset`` is the smallest network transit seen
in a sliding window plus a target delay of ``jitter_factor`` times the RFC 3550 jitter estimate,
clamped to ``[min_delay, max_delay]``. Without time-stretching, the delay changes a whole
frame at a time: a STRETCH gap adds one, dropping a frame removes one (preferably where a
frame is missing anyway).
"""

from __future__ import annotations

import enum
from collections import deque
from dataclasses import dataclass

_TS_MOD = 1 << 32
_TS_HALF = 1 << 31


class GapReason(enum.Enum):
    LOST = "lost"  # this frame is missing but later ones are buffered: conceal (PLC)
    EMPTY = "empty"  # nothing buffered: underrun or the sender is silent; play silence
    STRETCH = "stretch"  # inserted to grow the playout delay; conceal or repeat


class PushResult(enum.Enum):
    ACCEPTED = "accepted"
    LATE = "late"  # its playout time has passed; dropped
    DUPLICATE = "duplicate"
    RESYNC = "resync"  # timestamp jumped; the buffer restarted with this packet


@dataclass(frozen=True, slots=True, kw_only=True)
class PlayoutFrame:
    timestamp: int
    sequence: int
    payload: bytes


@dataclass(frozen=True, slots=True, kw_only=True)
class PlayoutGap:
    timestamp: int
    samples: int
    reason: GapReason


@dataclass(slots=True)
class JitterCounters:
    accepted: int = 0
    late: int = 0
    duplicate: int = 0
    resyncs: int = 0
    played: int = 0
    lost: int = 0
    empty: int = 0
    stretched: int = 0
    dropped: int = 0  # frames discarded to shrink the delay
    skipped: int = 0  # missing frames skipped to shrink the delay


class JitterBuffer:
    """One stream's buffer: :meth:`push` on arrival, :meth:`pop` once per playout tick."""

    def __init__(
        self,
        *,
        clock_rate: int = 8000,
        frame_samples: int = 160,
        min_delay: float = 0.02,
        max_delay: float = 0.2,
        initial_delay: float = 0.06,
        jitter_factor: float = 4.0,
        transit_window: float = 2.0,
        max_jump: float = 2.0,
        shrink_after: float = 0.5,
    ) -> None:
        if not 0 <= min_delay <= initial_delay <= max_delay:
            raise ValueError("jitter buffer needs 0 <= min_delay <= initial_delay <= max_delay")
        self.clock_rate = clock_rate
        self.frame_samples = frame_samples
        self.min_delay = min_delay
        self.max_delay = max_delay
        self._jitter_factor = jitter_factor
        self._transit_window = transit_window
        self._max_jump_samples = int(max_jump * clock_rate)
        self._initial_jitter = initial_delay / jitter_factor
        self._shrink_after = shrink_after
        self._behind_since: float | None = None
        self.counters = JitterCounters()
        self._packets: dict[int, tuple[int, bytes]] = {}
        self._cursor: int | None = None  # extended timestamp of the next frame to play
        self._last_raw: int | None = None
        self._last_ext = 0
        self._reset_timing()

    def _reset_timing(self) -> None:
        self.jitter = self._initial_jitter  # seconds, RFC 3550 A.8 smoothing
        self._prev_transit: float | None = None
        # (arrival, transit) pairs with increasing transit: a sliding-window minimum.
        self._min_transit: deque[tuple[float, float]] = deque()

    @property
    def target_delay(self) -> float:
        """Seconds of buffering above the fastest recent packet."""
        target = self._jitter_factor * self.jitter
        return min(self.max_delay, max(self.min_delay, target))

    @property
    def buffered(self) -> int:
        return len(self._packets)

    def _offset(self) -> float:
        return self._min_transit[0][1] + self.target_delay

    def _unwrap(self, timestamp: int) -> int:
        if self._last_raw is None:
            ext = timestamp
        else:
            ext = self._last_ext + ((timestamp - self._last_raw + _TS_HALF) % _TS_MOD - _TS_HALF)
        self._last_raw = timestamp
        self._last_ext = ext
        return ext

    def push(self, *, sequence: int, timestamp: int, payload: bytes, now: float) -> PushResult:
        ext = self._unwrap(timestamp)
        reference = self._cursor if self._cursor is not None else min(self._packets, default=ext)
        result = PushResult.ACCEPTED
        if abs(ext - reference) > self._max_jump_samples:
            self._packets.clear()
            self._cursor = None
            self._reset_timing()
            self.counters.resyncs += 1
            result = PushResult.RESYNC
        self._observe_transit(now - ext / self.clock_rate, now)
        if self._cursor is not None and ext < self._cursor:
            self.counters.late += 1
            return PushResult.LATE
        if ext in self._packets:
            self.counters.duplicate += 1
            return PushResult.DUPLICATE
        self._packets[ext] = (sequence, payload)
        self.counters.accepted += 1
        return result

    def _observe_transit(self, transit: float, now: float) -> None:
        if self._prev_transit is not None:
            self.jitter += (abs(transit - self._prev_transit) - self.jitter) / 16.0
        self._prev_transit = transit
        window = self._min_transit
        while window and window[-1][1] >= transit:
            window.pop()
        window.append((now, transit))
        while window[0][0] < now - self._transit_window:
            window.popleft()

    def pop(self, now: float) -> PlayoutFrame | PlayoutGap | None:
        """The next frame to play at ``now``; None until the first packet is due."""
        if self._cursor is None:
            if not self._packets:
                return None
            first = min(self._packets)
            if now < first / self.clock_rate + self._offset():
                return None
            self._cursor = first
        cursor = self._cursor
        frame = self.frame_samples
        # Positive error: we play ahead of schedule (too little delay); negative: behind.
        # Grow at once to avoid late packets; shrink only where a frame is missing anyway or
        # after being too far behind for a while, so a wobbling estimate does not oscillate.
        error = cursor - (now - self._offset()) * self.clock_rate
        if error > frame / 2:
            self.counters.stretched += 1
            return PlayoutGap(timestamp=cursor % _TS_MOD, samples=frame, reason=GapReason.STRETCH)
        if error >= -1.5 * frame:
            self._behind_since = None
        elif self._behind_since is None:
            self._behind_since = now
        present = cursor in self._packets
        overdue = self._behind_since is not None and now - self._behind_since >= self._shrink_after
        if overdue or (error < -frame and not present):
            if present:
                del self._packets[cursor]
                self.counters.dropped += 1
            else:
                self.counters.skipped += 1
            cursor += frame
            self._behind_since = None
        return self._play(cursor)

    def _play(self, cursor: int) -> PlayoutFrame | PlayoutGap:
        frame = self.frame_samples
        packets = self._packets
        entry = packets.pop(cursor, None)
        if entry is None and packets:
            for stale in [ts for ts in packets if ts < cursor]:
                del packets[stale]
                self.counters.late += 1
            earliest = min(packets, default=cursor + frame)
            if earliest < cursor + frame:  # frame boundary moved (e.g. new talkspurt): follow it
                cursor = earliest
                entry = packets.pop(cursor)
        self._cursor = cursor + frame
        if entry is not None:
            self.counters.played += 1
            return PlayoutFrame(timestamp=cursor % _TS_MOD, sequence=entry[0], payload=entry[1])
        if packets:
            self.counters.lost += 1
            return PlayoutGap(timestamp=cursor % _TS_MOD, samples=frame, reason=GapReason.LOST)
        self.counters.empty += 1
        return PlayoutGap(timestamp=cursor % _TS_MOD, samples=frame, reason=GapReason.EMPTY)
