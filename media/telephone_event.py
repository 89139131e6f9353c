"""RFC 4733 telephone-event (DTMF over RTP): payload codec, sender and receiver.

Sans-IO: the sender yields one packet description per 20 ms tick (the caller assigns
sequence numbers, since events share the audio stream's sequence space); the receiver takes
parsed packets with ``now`` and reports each digit once. Timers are data
(``next_timer``/``handle_timer``).
"""

from __future__ import annotations

import struct
from collections import deque
from dataclasses import dataclass

DTMF_DIGITS = "0123456789*#ABCD"
EVENT_FLASH = 16
PAYLOAD_SIZE = 4
MAX_DURATION = 0xFFFF
END_PACKET_REPEATS = 3

_PAYLOAD = struct.Struct("!BBH")


class TelephoneEventError(ValueError):
    """A telephone-event payload or request that is malformed; the message names the field."""


@dataclass(frozen=True, slots=True, kw_only=True)
class TelephoneEvent:
    """One RFC 4733 §2.3 payload: event code, end bit, volume (-dBm0) and duration."""

    event: int
    end: bool
    volume: int  # 0..63, meaning 0 to -63 dBm0
    duration: int  # timestamp units since the event's timestamp

    def build(self) -> bytes:
        if not 0 <= self.event <= 255:
            raise TelephoneEventError(f"telephone-event code {self.event} out of range 0..255")
        if not 0 <= self.volume <= 63:
            raise TelephoneEventError(f"telephone-event volume {self.volume} out of range 0..63")
        if not 0 <= self.duration <= MAX_DURATION:
            raise TelephoneEventError(f"telephone-event duration {self.duration} out of range")
        return _PAYLOAD.pack(self.event, (0x80 if self.end else 0) | self.volume, self.duration)

    @property
    def digit(self) -> str | None:
        return DTMF_DIGITS[self.event] if self.event < len(DTMF_DIGITS) else None


def parse_telephone_event(payload: bytes) -> TelephoneEvent:
    """Parse the first event block of a payload; the reserved R bit is ignored (§2.3.3)."""
    if len(payload) < PAYLOAD_SIZE:
        raise TelephoneEventError(
            f"telephone-event payload is {len(payload)} bytes, needs {PAYLOAD_SIZE}"
        )
    event, flags, duration = _PAYLOAD.unpack_from(payload)
    return TelephoneEvent(event=event, end=flags >= 0x80, volume=flags & 0x3F, duration=duration)


def event_code(digit: str) -> int:
    """RFC 4733 §3.2 event code for a DTMF digit ('0'-'9', '*', '#', 'A'-'D')."""
    code = DTMF_DIGITS.find(digit.upper()) if len(digit) == 1 else -1
    if code < 0:
        raise TelephoneEventError(f"{digit!r} is not a DTMF digit")
    return code


# --- sender ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class EventPacket:
    """One packet to send: RTP marker and timestamp plus the payload."""

    marker: bool
    timestamp: int
    event: TelephoneEvent

    @property
    def payload(self) -> bytes:
        return self.event.build()


def digit_packets(
    digit: str,
    *,
    timestamp: int,
    duration_ms: int,
    volume: int = 10,
    clock_rate: int = 8000,
    packet_ms: int = 20,
    end_repeats: int = END_PACKET_REPEATS,
) -> list[EventPacket]:
    """The whole packet sequence for one digit, one entry per packet interval.

    The first packet carries the marker; updates grow the duration every ``packet_ms``; the
    final packet (E bit, full duration) is sent ``end_repeats`` times (§2.5.1.4). All share
    the event's start timestamp.
    """
    code = event_code(digit)
    step = clock_rate * packet_ms // 1000
    total = clock_rate * duration_ms // 1000
    if total < step:
        raise TelephoneEventError(f"DTMF duration {duration_ms} ms is shorter than one packet")
    if total > MAX_DURATION:
        raise TelephoneEventError(f"DTMF duration {duration_ms} ms exceeds the 16-bit field")
    ts = timestamp & 0xFFFFFFFF
    updates = [
        EventPacket(
            marker=n == step,
            timestamp=ts,
            event=TelephoneEvent(event=code, end=False, volume=volume, duration=n),
        )
        for n in range(step, total, step)
    ]
    final = TelephoneEvent(event=code, end=True, volume=volume, duration=total)
    ends = [
        EventPacket(marker=not updates and i == 0, timestamp=ts, event=final)
        for i in range(end_repeats)
    ]
    return updates + ends


class TelephoneEventSender:
    """Queues digits and hands out one packet per tick; None when there is nothing to send.

    Between digits it leaves ``gap_ms`` of audio so receivers see separate events. The
    caller passes the RTP timestamp of the tick, so events line up with the audio clock.
    """

    def __init__(
        self,
        *,
        duration_ms: int = 100,
        gap_ms: int = 60,
        volume: int = 10,
        clock_rate: int = 8000,
        packet_ms: int = 20,
    ) -> None:
        self._duration_ms = duration_ms
        self._gap_ticks = -(-gap_ms // packet_ms)
        self._volume = volume
        self._clock_rate = clock_rate
        self._packet_ms = packet_ms
        self._digits: deque[str] = deque()
        self._current: deque[EventPacket] = deque()
        self._gap_left = 0

    @property
    def busy(self) -> bool:
        """True while a digit is being sent or queued (audio should pause meanwhile)."""
        return bool(self._current or self._digits)

    def send(self, digits: str) -> None:
        for digit in digits:
            event_code(digit)  # validate now, not at tick time
        self._digits.extend(digits)

    def next_packet(self, *, timestamp: int) -> EventPacket | None:
        if not self._current:
            if self._gap_left:
                self._gap_left -= 1
                return None
            if not self._digits:
                return None
            self._current.extend(
                digit_packets(
                    self._digits.popleft(),
                    timestamp=timestamp,
                    duration_ms=self._duration_ms,
                    volume=self._volume,
                    clock_rate=self._clock_rate,
                    packet_ms=self._packet_ms,
                )
            )
        packet = self._current.popleft()
        if not self._current:
            self._gap_left = self._gap_ticks
        return packet


# --- receiver -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class DigitStarted:
    """First packet seen of a new event (barge-in can stop prompts here)."""

    digit: str
    timestamp: int


@dataclass(frozen=True, slots=True, kw_only=True)
class DigitReceived:
    """A completed digit, reported exactly once per event."""

    digit: str
    timestamp: int
    duration: int  # timestamp units; the last duration seen if the end packets were lost


ReceiverEvent = DigitStarted | DigitReceived


class TelephoneEventReceiver:
    """Turns telephone-event packets into one DigitStarted and one DigitReceived per event.

    Events are told apart by RTP timestamp (§2.5.2.2), so losing the marker packet or
    receiving the end packet three times changes nothing. An event whose end packets are
    all lost completes when a new event starts or ``end_timeout`` seconds after its last
    packet (:meth:`handle_timer`).
    """

    def __init__(self, *, end_timeout: float = 0.3, remembered: int = 8) -> None:
        self._end_timeout = end_timeout
        self._done: deque[int] = deque(maxlen=remembered)
        self._timestamp: int | None = None
        self._digit = ""
        self._duration = 0
        self._last_seen = 0.0

    def receive(self, event: TelephoneEvent, *, timestamp: int, now: float) -> list[ReceiverEvent]:
        digit = event.digit
        if digit is None or timestamp in self._done:
            return []  # not DTMF, or a retransmission of a finished event
        out: list[ReceiverEvent] = []
        if timestamp != self._timestamp:
            out += self._finish()
            self._timestamp = timestamp
            self._digit = digit
            self._duration = 0
            out.append(DigitStarted(digit=digit, timestamp=timestamp))
        self._duration = max(self._duration, event.duration)
        self._last_seen = now
        if event.end:
            out += self._finish()
        return out

    def _finish(self) -> list[ReceiverEvent]:
        if self._timestamp is None:
            return []
        done = DigitReceived(digit=self._digit, timestamp=self._timestamp, duration=self._duration)
        self._done.append(self._timestamp)
        self._timestamp = None
        return [done]

    def next_timer(self) -> float | None:
        return None if self._timestamp is None else self._last_seen + self._end_timeout

    def handle_timer(self, now: float) -> list[ReceiverEvent]:
        deadline = self.next_timer()
        if deadline is None or now < deadline:
            return []
        return self._finish()
