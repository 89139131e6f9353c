"""RTP for simulated endpoints: one socket per call leg, one 20 ms tick for all of them.

Each :class:`RtpLeg` sends G.711 u-law frames of a tone (PCMU, 20 ms, 160 samples) to the far
end the SDP named, and RFC 4733 telephone-events when asked for digits (the audio pauses
meanwhile, as :class:`~media.telephone_event.TelephoneEventSender` expects); it counts what
it receives and decodes incoming telephone-events. :class:`MediaClock` ticks every leg
together; a late tick is caught up by at most one frame (no bursts after a stall).
"""

from __future__ import annotations

import asyncio
import secrets
import socket
from typing import cast

import numpy as np

from media.g711 import ulaw_encode
from media.rtp import RtpError, RtpPacket, build_rtp, parse_rtp
from media.telephone_event import (
    DigitReceived,
    TelephoneEventError,
    TelephoneEventReceiver,
    TelephoneEventSender,
    parse_telephone_event,
)
from sip.offer_answer import NegotiatedAudio

FRAME_S = 0.02
SAMPLES = 160
EVENT_PT = 101


def tone_frame(hz: int, amplitude: int = 6000) -> bytes:
    """One 20 ms PCMU frame of a sine that repeats exactly every frame (``hz`` divides 8000/160)."""
    t = np.arange(SAMPLES) / 8000.0
    pcm = (amplitude * np.sin(2 * np.pi * hz * t)).astype(np.int16)
    return ulaw_encode(pcm).tobytes()


class RtpLeg(asyncio.DatagramProtocol):
    """Our media for one call: where to send, what was sent and received."""

    def __init__(self, frame: bytes) -> None:
        self.frame = frame
        self.transport: asyncio.DatagramTransport | None = None
        self.port = 0
        self.remote: tuple[str, int] | None = None
        self.payload_type = 0
        self.event_type: int | None = None
        self.ssrc = secrets.randbits(32)
        self.seq = secrets.randbits(16)
        self.timestamp = secrets.randbits(32)
        self.events = TelephoneEventSender(duration_ms=100, gap_ms=60)
        self.receiver = TelephoneEventReceiver()
        self.sent = 0
        self.received = 0
        self.bad = 0
        self.digits_received = ""

    @classmethod
    async def open(cls, host: str, frame: bytes) -> RtpLeg:
        loop = asyncio.get_running_loop()
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.bind((host, 0))
        _transport, leg = await loop.create_datagram_endpoint(lambda: cls(frame), sock=sock)
        leg.port = int(sock.getsockname()[1])
        return leg

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's UDP transport does not subclass asyncio.DatagramTransport: no isinstance
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str | object, ...]) -> None:
        try:
            packet = parse_rtp(data)
        except RtpError:
            self.bad += 1
            return
        self.received += 1
        if self.event_type is not None and packet.payload_type == self.event_type:
            try:
                event = parse_telephone_event(packet.payload)
            except TelephoneEventError:
                self.bad += 1
                return
            now = asyncio.get_running_loop().time()
            for got in self.receiver.receive(event, timestamp=packet.timestamp, now=now):
                if isinstance(got, DigitReceived):
                    self.digits_received += got.digit

    def error_received(self, exc: Exception) -> None:
        self.bad += 1  # the far end's port closed (it hung up first): ICMP unreachable

    def point_at(self, media: NegotiatedAudio) -> None:
        """Send to the far end offer/answer settled on (nothing to the discard port 9)."""
        self.payload_type = media.codec.payload_type
        event = media.telephone_event
        self.event_type = event.payload_type if event is not None else None
        usable = media.remote_port not in (0, 9) and media.we_send
        self.remote = (media.remote_address, media.remote_port) if usable else None

    def send_digits(self, digits: str) -> None:
        """RFC 4733 events for ``digits`` (payload type from the SDP, else 101)."""
        self.events.send(digits)

    @property
    def sending_digits(self) -> bool:
        return self.events.busy

    def tick(self) -> None:
        if self.remote is None or self.transport is None or self.transport.is_closing():
            return
        event = self.events.next_packet(timestamp=self.timestamp)
        if event is not None:
            packet = RtpPacket(self.event_type if self.event_type is not None else EVENT_PT,
                               self.seq, event.timestamp, self.ssrc, event.payload,
                               event.marker)  # fmt: skip
        else:
            packet = RtpPacket(self.payload_type, self.seq, self.timestamp, self.ssrc,
                               self.frame)  # fmt: skip
        self.transport.sendto(build_rtp(packet), self.remote)
        self.sent += 1
        self.seq = (self.seq + 1) & 0xFFFF
        self.timestamp = (self.timestamp + SAMPLES) & 0xFFFFFFFF

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


class MediaClock:
    """Every active leg sends one packet per 20 ms tick; tick lateness is measured."""

    def __init__(self) -> None:
        self.legs: set[RtpLeg] = set()
        self.ticks = 0
        self.late_ms: list[float] = []

    async def run(self, stop: asyncio.Event) -> None:
        loop = asyncio.get_running_loop()
        due = loop.time()
        while not stop.is_set():
            now = loop.time()
            if now - due > FRAME_S:
                due = now  # a stall: skip the missed frames rather than burst them out
            if self.ticks % 25 == 0:
                self.late_ms.append(1000.0 * (now - due))
            for leg in list(self.legs):
                leg.tick()
            self.ticks += 1
            due += FRAME_S
            await asyncio.sleep(max(0.0, due - loop.time()))
