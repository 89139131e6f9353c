"""RTP legs of the simulated endpoints on loopback: PCMU both ways, RFC 4733 digits."""

from __future__ import annotations

import asyncio

import numpy as np

from media.g711 import ulaw_decode
from sim.wire.rtp import MediaClock, RtpLeg, tone_frame
from sip.offer_answer import PCMU, TELEPHONE_EVENT, NegotiatedAudio


def towards(leg: RtpLeg, *, port: int | None = None) -> NegotiatedAudio:
    return NegotiatedAudio(remote_address="127.0.0.1", remote_port=leg.port if port is None
                           else port, codec=PCMU, telephone_event=TELEPHONE_EVENT, ptime=20,
                           direction="sendrecv")  # fmt: skip


def test_a_tone_frame_is_20_ms_of_ulaw_that_repeats_seamlessly() -> None:
    frame = tone_frame(400)
    pcm = ulaw_decode(frame).astype(np.int32)
    assert len(frame) == 160
    assert 4000 < np.abs(pcm).max() < 7000
    spectrum = np.abs(np.fft.rfft(np.tile(pcm, 5)))
    assert np.argmax(spectrum) * 8000 / 800 == 400


async def test_two_legs_exchange_audio_and_digits_through_the_shared_tick() -> None:
    a = await RtpLeg.open("127.0.0.1", tone_frame(400))
    b = await RtpLeg.open("127.0.0.1", tone_frame(800))
    clock = MediaClock()
    stop = asyncio.Event()
    task = asyncio.create_task(clock.run(stop))
    try:
        a.point_at(towards(b))
        b.point_at(towards(a))
        clock.legs |= {a, b}
        a.send_digits("1#")
        for _ in range(100):  # at most 2 s
            await asyncio.sleep(0.02)
            if b.digits_received == "1#" and a.received >= 10:
                break
        assert b.digits_received == "1#"
        assert a.received >= 10 and b.received >= 10
        assert a.bad == b.bad == 0
    finally:
        stop.set()
        await task
        a.close()
        b.close()
    assert clock.ticks >= 10


async def test_nothing_is_sent_to_the_discard_port() -> None:
    leg = await RtpLeg.open("127.0.0.1", tone_frame(400))
    try:
        leg.point_at(towards(leg, port=9))
        assert leg.remote is None
        leg.tick()
        assert leg.sent == 0
    finally:
        leg.close()
