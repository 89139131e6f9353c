"""Micro-measurements of the media core's hot paths (not a test; bounded, a few seconds).

Run: .venv/bin/python tests/media/bench_media.py
"""

import timeit

import numpy as np

from media.dtmf_inband import InbandDtmfDetector
from media.g711 import ulaw_decode, ulaw_encode
from media.jitter import JitterBuffer
from media.rtp import RtpPacket, RtpSourceStats, parse_rtp, parse_rtp_batch

SESSIONS = 1000


def best(stmt: object, number: int) -> float:
    """Seconds per call, best of five runs."""
    return min(timeit.repeat(stmt, number=number, repeat=5)) / number  # type: ignore[arg-type]


def main() -> None:
    packet = RtpPacket(payload_type=0, sequence=1, timestamp=160, ssrc=0x1234, payload=bytes(160))
    wire = packet.build()
    assert len(wire) == 172
    t = best(lambda: parse_rtp(wire), 100_000)
    print(f"parse_rtp, 172-byte PCMU:          {1 / t:12,.0f} packets/s ({t * 1e9:.0f} ns)")

    batch = [wire] * SESSIONS
    t = best(lambda: parse_rtp_batch(batch), 200)
    print(
        f"parse_rtp_batch x{SESSIONS}:           {SESSIONS / t:12,.0f} packets/s ({t * 1e6:.0f} µs)"
    )
    t = best(lambda: parse_rtp_batch(batch).payload_block(160, fill=0xFF), 200)
    print(f"  + payload_block(160):            {SESSIONS / t:12,.0f} packets/s ({t * 1e6:.0f} µs)")

    stats = RtpSourceStats(ssrc=1, clock_rate=8000, first_seq=0)
    counter = iter(range(10**9))

    def account() -> None:
        n = next(counter)
        stats.on_packet(seq=n & 0xFFFF, timestamp=(160 * n) & 0xFFFFFFFF, now=0.02 * n)

    t = best(account, 100_000)
    print(f"RtpSourceStats.on_packet:          {1 / t:12,.0f} packets/s ({t * 1e9:.0f} ns)")

    rng = np.random.default_rng(0)
    pcm = rng.integers(-32768, 32768, size=(SESSIONS, 160)).astype(np.int16)
    codes = ulaw_encode(pcm)
    t = best(lambda: ulaw_encode(pcm), 500)
    print(f"ulaw_encode 160 x {SESSIONS} sessions:     {t * 1e6:8.0f} µs/tick")
    t = best(lambda: ulaw_decode(codes), 500)
    print(f"ulaw_decode 160 x {SESSIONS} sessions:     {t * 1e6:8.0f} µs/tick")

    detector = InbandDtmfDetector(SESSIONS)
    t = best(lambda: detector.process(pcm), 50)
    print(f"DTMF detector 160 x {SESSIONS} sessions:   {t * 1e6:8.0f} µs/tick")

    buffer = JitterBuffer()
    ticks = iter(range(10**9))

    def push_pop() -> None:
        n = next(ticks)
        buffer.push(sequence=n & 0xFFFF, timestamp=160 * n, payload=b"x", now=0.02 * n + 0.03)
        buffer.pop(0.02 * n + 0.035)

    t = best(push_pop, 50_000)
    print(f"JitterBuffer push+pop:             {1 / t:12,.0f} frames/s ({t * 1e9:.0f} ns)")


if __name__ == "__main__":
    main()
