"""A minimal RTP phone for tests: sends G.711 frames built with ``media.rtp``, collects what
comes back. Loopback only."""

from __future__ import annotations

import asyncio
import random
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from media.g711 import alaw_decode, alaw_encode, ulaw_decode, ulaw_encode
from media.rtp import RtpPacket, parse_rtp
from media.telephone_event import digit_packets


def tone(freq: float, samples: int, start: int = 0, amplitude: float = 8000.0
         ) -> npt.NDArray[np.int16]:
    t = (np.arange(samples) + start) / 8000.0
    return np.rint(amplitude * np.sin(2 * np.pi * freq * t)).astype(np.int16)


def dominant_frequency(pcm: npt.NDArray[np.int16]) -> float:
    spectrum = np.abs(np.fft.rfft(pcm.astype(np.float64) * np.hanning(len(pcm))))
    return float(np.argmax(spectrum) * 8000.0 / len(pcm))


@dataclass
class Phone:
    payload_type: int = 0  # 0 PCMU, 8 PCMA
    sock: socket.socket = field(init=False)
    received: list[RtpPacket] = field(default_factory=list)
    seq: int = field(default_factory=lambda: random.getrandbits(16))
    ts: int = field(default_factory=lambda: random.getrandbits(32))
    ssrc: int = field(default_factory=lambda: random.getrandbits(32))
    sample: int = 0

    def __post_init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.setblocking(False)

    @property
    def port(self) -> int:
        return int(self.sock.getsockname()[1])

    def encode(self, pcm: npt.NDArray[np.int16]) -> bytes:
        return (alaw_encode(pcm) if self.payload_type == 8 else ulaw_encode(pcm)).tobytes()

    def decode(self, payload: bytes) -> npt.NDArray[np.int16]:
        return alaw_decode(payload) if self.payload_type == 8 else ulaw_decode(payload)

    def send_pcm(self, pcm: npt.NDArray[np.int16], to: tuple[str, int]) -> None:
        packet = RtpPacket(payload_type=self.payload_type, sequence=self.seq, timestamp=self.ts,
                           ssrc=self.ssrc, payload=self.encode(pcm))
        self.sock.sendto(packet.build(), to)
        self.seq = (self.seq + 1) & 0xFFFF
        self.ts = (self.ts + len(pcm)) & 0xFFFFFFFF
        self.sample += len(pcm)

    def digit_packets(self, digit: str, te_pt: int = 101) -> list[bytes]:
        """The RFC 4733 packets of one key press, sharing this phone's sequence space."""
        out = []
        for p in digit_packets(digit, timestamp=self.ts, duration_ms=100):
            out.append(RtpPacket(payload_type=te_pt, sequence=self.seq, timestamp=p.timestamp,
                                 ssrc=self.ssrc, payload=p.payload, marker=p.marker).build())
            self.seq = (self.seq + 1) & 0xFFFF
        self.ts = (self.ts + 800) & 0xFFFFFFFF
        return out

    def drain(self) -> None:
        while True:
            try:
                data = self.sock.recv(2048)
            except BlockingIOError:
                return
            self.received.append(parse_rtp(data))

    def audio(self) -> npt.NDArray[np.int16]:
        audio = [self.decode(p.payload) for p in self.received if p.payload_type in (0, 8)]
        return np.concatenate(audio) if audio else np.zeros(0, dtype=np.int16)

    def close(self) -> None:
        self.sock.close()


async def stream(phones: Sequence[tuple[Phone, npt.NDArray[np.int16] | float, tuple[str, int]]],
                 seconds: float, extra: dict[int, list[tuple[Phone, bytes, tuple[str, int]]]]
                 | None = None) -> None:
    """Send 20 ms frames from every phone for ``seconds`` at real pace; ``extra[i]`` are raw
    packets sent at frame ``i`` (e.g. RFC 4733 events); each phone's audio is either a
    frequency (a tone) or a sample array played from its start."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    frames = round(seconds / 0.02)
    for i in range(frames):
        for phone, audio, to in phones:
            if isinstance(audio, float):
                pcm = tone(audio, 160, phone.sample)
            else:
                pcm = audio[i * 160:(i + 1) * 160]
                if len(pcm) < 160:
                    pcm = np.concatenate([pcm, np.zeros(160 - len(pcm), dtype=np.int16)])
            phone.send_pcm(pcm, to)
            phone.drain()
        for sender, data, to in (extra or {}).get(i, []):
            sender.sock.sendto(data, to)
        await asyncio.sleep(max(0.0, start + (i + 1) * 0.02 - loop.time()))
    for phone, _, _ in phones:
        phone.drain()


async def eventually(predicate: Callable[[], object], timeout: float = 3.0) -> None:
    """Wait (on the loop) until ``predicate()`` is true, e.g. a recording closed by the
    worker's disk thread."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {predicate}")
        await asyncio.sleep(0.01)
