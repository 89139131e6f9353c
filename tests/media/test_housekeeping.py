"""What the worker watches besides relaying (media.housekeeping): symmetric RTP, RTCP on the
odd port, silent legs, the quality summary. Real sockets on 127.0.0.1, fake time where the
clock is the point."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TypeVar

import numpy as np
import numpy.typing as npt
import pytest

from bus.message import Message
from media.housekeeping import LegMonitor
from media.messages import MediaQuality, MediaTimeout
from media.rtcp import (
    Bye,
    ReceiverReport,
    ReportBlock,
    RtcpPacket,
    SenderReport,
    SourceDescription,
    build_compound,
    ntp_middle,
    ntp_timestamp,
    parse_compound,
)
from media.rtp import RtpPacket
from media.worker import MediaWorker
from tests.media.phones import Phone, dominant_frequency, stream

M = TypeVar("M", bound=Message)
PORTS = range(31200, 31300, 2)  # below the kernel's ephemeral range: no phone takes one


def udp() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.setblocking(False)
    return sock


def port_of(sock: socket.socket) -> int:
    return int(sock.getsockname()[1])


def drain(sock: socket.socket) -> list[bytes]:
    got = []
    while True:
        try:
            got.append(sock.recv(2048))
        except BlockingIOError:
            return got


class LossyPhone(Phone):
    """Loses every ``every``-th frame on the way (sequence number and timestamp move on)."""

    every = 10
    frames = 0

    def send_pcm(self, pcm: npt.NDArray[np.int16], to: tuple[str, int]) -> None:
        self.frames += 1
        if self.frames % self.every == 0:
            self.seq = (self.seq + 1) & 0xFFFF
            self.ts = (self.ts + len(pcm)) & 0xFFFFFFFF
            return
        super().send_pcm(pcm, to)


class Box:
    def __init__(self, tmp: Path, **options: object) -> None:
        self.events: list[tuple[str, Message]] = []
        self.worker = MediaWorker(
            worker_id="media-h", host="127.0.0.1", ports=PORTS, recordings_dir=tmp / "rec",
            on_event=lambda call, msg: self.events.append((call, msg)),
            on_recording=lambda finished: None, **options,  # type: ignore[arg-type]
        )

    def of(self, kind: type[M]) -> list[M]:
        return [m for _, m in self.events if isinstance(m, kind)]


@pytest.fixture
async def box(tmp_path: Path, request: pytest.FixtureRequest) -> AsyncIterator[Box]:
    options = getattr(request, "param", {})
    b = Box(tmp_path, **options)
    b.worker.start(asyncio.get_running_loop())
    try:
        yield b
    finally:
        b.worker.close()


def to(port: int) -> tuple[str, int]:
    return ("127.0.0.1", port)


# ------------------------------------------------------------------ symmetric RTP


async def test_a_phone_behind_nat_gets_the_audio_at_its_real_source_port(box: Box) -> None:
    w = box.worker
    caller, agent = Phone(), Phone()
    announced, elsewhere = udp(), udp()  # the caller's SDP port (its private side)
    a, b = w.open("c1", "caller"), w.open("c1", "agent")
    w.set_remote(a.id, host="127.0.0.1", port=port_of(announced), payload_type=0)
    w.set_remote(b.id, host="127.0.0.1", port=agent.port, payload_type=0)
    w.bridge(a.id, b.id)
    await stream([(caller, 440.0, to(a.port)), (agent, 880.0, to(b.port))], 0.6)
    assert a.remote == to(caller.port)
    assert len(caller.received) >= 20
    assert abs(dominant_frequency(caller.audio()[-1600:]) - 880) < 20
    assert len(drain(announced)) <= 2  # at most what left before the caller's first packet
    assert w.stats()["latched"] == 1

    # A re-INVITE announcing the same address (hold, resume) keeps the latched address.
    w.set_remote(a.id, host="127.0.0.1", port=port_of(announced), payload_type=0)
    assert a.remote == to(caller.port)
    # A new address latches afresh on the next packet.
    w.set_remote(a.id, host="127.0.0.1", port=port_of(elsewhere), payload_type=0)
    assert a.remote == to(port_of(elsewhere))
    before = len(caller.received)
    await stream([(caller, 440.0, to(a.port)), (agent, 880.0, to(b.port))], 0.3)
    assert a.remote == to(caller.port)
    assert len(caller.received) - before >= 10
    assert not drain(announced) and len(drain(elsewhere)) <= 2
    assert w.stats()["latched"] == 2


@pytest.mark.parametrize("box", [{"latching": False}], indirect=True)
async def test_without_latching_audio_goes_where_the_sdp_says(box: Box) -> None:
    w = box.worker
    caller, agent = Phone(), Phone()
    announced = udp()
    a, b = w.open("c1", "caller"), w.open("c1", "agent")
    trunk = w.open("c1", "outbound", latching=True)  # per endpoint, over the worker's
    w.set_remote(a.id, host="127.0.0.1", port=port_of(announced), payload_type=0)
    w.set_remote(b.id, host="127.0.0.1", port=agent.port, payload_type=0)
    w.set_remote(trunk.id, host="127.0.0.1", port=port_of(announced), payload_type=0)
    w.bridge(a.id, b.id)
    await stream([(caller, 440.0, to(a.port)), (agent, 880.0, to(b.port))], 0.4)
    assert a.remote == to(port_of(announced)) and not caller.received
    assert len([p for p in drain(announced) if p[1] & 0x7F == 0]) >= 10
    caller.send_pcm(np.zeros(160, dtype=np.int16), to(trunk.port))
    await asyncio.sleep(0.05)
    assert trunk.remote == to(caller.port)


# ------------------------------------------------------------------ RTCP


async def rtcp_packets(sock: socket.socket, seconds: float) -> list[tuple[float, RtcpPacket]]:
    """Compound packets arriving at ``sock`` over ``seconds``, each with its arrival time."""
    got: list[tuple[float, RtcpPacket]] = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        for data in drain(sock):
            got.extend((time.time(), p) for p in parse_compound(data))
        await asyncio.sleep(0.005)
    return got


@pytest.mark.parametrize("box", [{"rtcp_interval_s": 0.25}], indirect=True)
async def test_rtcp_reports_round_trip_and_quality_summary(box: Box) -> None:
    w = box.worker
    caller, agent = LossyPhone(), Phone()
    caller_rtcp, announced_rtcp = udp(), udp()
    a, b = w.open("c1", "caller"), w.open("c1", "agent")
    w.set_remote(a.id, host="127.0.0.1", port=caller.port, payload_type=0,
                 rtcp_port=port_of(announced_rtcp))
    w.set_remote(b.id, host="127.0.0.1", port=agent.port, payload_type=0)
    w.bridge(a.id, b.id)
    phones = [(caller, 440.0, to(a.port)), (agent, 880.0, to(b.port))]
    talking = asyncio.ensure_future(stream(phones, 1.5))

    # Before the caller's RTCP, reports go to its a=rtcp port.
    early = await rtcp_packets(announced_rtcp, 0.5)
    assert any(isinstance(p, SourceDescription) for _, p in early)
    their_ntp = ntp_timestamp(time.time())
    sr = SenderReport(ssrc=caller.ssrc, ntp_timestamp=their_ntp, rtp_timestamp=caller.ts,
                      packet_count=10, octet_count=1600)
    caller_rtcp.sendto(build_compound([sr]), to(a.port + 1))
    # From then on, to where the caller's RTCP comes from (symmetric RTCP).
    late = await rtcp_packets(caller_rtcp, 0.8)
    ours = [(t, p) for t, p in late if isinstance(p, SenderReport)]
    assert ours and all(p.ssrc == a.out.ssrc for _, p in ours)
    arrived, last = ours[-1]
    assert isinstance(last, SenderReport)
    (block,) = last.reports
    assert block.ssrc == caller.ssrc
    assert block.last_sr == ntp_middle(their_ntp) and block.delay_since_last_sr > 0

    # The caller's RR about our stream gives the worker a round trip.
    hold = time.time() - arrived
    rr = ReceiverReport(ssrc=caller.ssrc, reports=(ReportBlock(
        ssrc=a.out.ssrc, fraction_lost=64, cumulative_lost=12, extended_highest_seq=1,
        jitter=80, last_sr=ntp_middle(last.ntp_timestamp),
        delay_since_last_sr=int(hold * 65536)),))
    caller_rtcp.sendto(build_compound([rr]), to(a.port + 1))
    caller_rtcp.sendto(b"\x80\xc9\x00\x09garbage", to(a.port + 1))  # counted, ignored
    await talking
    await asyncio.sleep(0.05)
    w.close_call("c1")
    *_, final, _, bye = [p for data in drain(caller_rtcp) for p in parse_compound(data)]
    assert isinstance(bye, Bye) and bye.ssrcs == (a.out.ssrc,)
    assert isinstance(final, SenderReport)  # the last report travels with the BYE
    (block,) = final.reports
    assert block.cumulative_lost >= 3  # the caller loses one frame in ten
    assert abs(block.extended_highest_seq - caller.seq) < 80  # sampled once a second
    stats = w.stats()
    assert stats["rtcp_received"] == 2 and stats["rtcp_malformed"] == 1

    qualities = {m.leg: m for m in box.of(MediaQuality)}
    assert set(qualities) == {"caller", "agent"}
    q = qualities["caller"]
    assert q.call_id == "c1" and q.endpoint == a.id
    assert q.packets_received == caller.frames - caller.frames // 10
    assert q.packets_expected == q.packets_received + q.packets_lost
    assert 5.0 < q.loss_pct < 15.0  # one in ten, counted up to the last probe
    assert q.rtt_ms is not None and 0 <= q.rtt_ms < 250
    assert (q.peer_loss_pct, q.peer_cumulative_lost, q.peer_jitter_ms) == (25.0, 12, 10.0)
    assert q.packets_sent > 50 and q.remote == f"127.0.0.1:{caller.port}"
    assert 60 < q.r_factor < 92 and 3.0 < q.mos < 4.4  # ~10 % loss costs about 26 points
    clean = qualities["agent"]
    assert clean.packets_lost == 0 and clean.loss_pct == 0.0 and clean.rtt_ms is None
    assert clean.peer_loss_pct is None and clean.mos > 4.3
    assert clean.jitter_max_ms < 20


@pytest.mark.parametrize("box", [{"rtcp_interval_s": 0}], indirect=True)
async def test_rtcp_on_the_rtp_port_is_rtcp_not_audio(box: Box) -> None:
    w = box.worker
    caller = Phone()
    a = w.open("c1", "caller")
    w.set_remote(a.id, host="127.0.0.1", port=caller.port, payload_type=0)
    caller.sock.sendto(build_compound([ReceiverReport(ssrc=caller.ssrc)]), to(a.port))
    caller.send_pcm(np.zeros(160, dtype=np.int16), to(a.port))
    await asyncio.sleep(0.05)
    stats = w.stats()
    assert (stats["rtcp_received"], stats["rtp_received"], a.received) == (1, 1, 1)
    w.close_endpoint(a.id)
    assert stats["rtcp_sent"] == 0 and not drain(caller.sock)[1:]  # no BYE: RTCP is off


# ------------------------------------------------------------------ silent legs


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def ticks_until(w: MediaWorker, clock: FakeClock, end: float) -> None:
    while clock.now < end:
        clock.now = round(clock.now + 0.02, 6)
        w.tick(clock.now)


def rtp(phone: Phone) -> bytes:
    packet = RtpPacket(payload_type=0, sequence=phone.seq, timestamp=phone.ts,
                       ssrc=phone.ssrc, payload=bytes(160)).build()
    phone.seq += 1
    phone.ts += 160
    return packet


def test_a_silent_leg_is_reported_once_and_again_after_media_came_back(
        tmp_path: Path) -> None:
    clock = FakeClock()
    box = Box(tmp_path, clock=clock, inband_dtmf=False, rtcp_interval_s=0)
    w = box.worker
    phone = Phone()
    a = w.open("c1", "caller")
    ticks_until(w, clock, 1100.0)  # no remote yet: nothing is expected
    w.set_remote(a.id, host="127.0.0.1", port=phone.port, payload_type=0)
    ticks_until(w, clock, 1129.0)
    assert not box.of(MediaTimeout)
    ticks_until(w, clock, 1131.5)
    (timeout,) = box.of(MediaTimeout)
    assert timeout == MediaTimeout(call_id="c1", endpoint=a.id, leg="caller",
                                   silent_s=timeout.silent_s)
    assert 30.0 <= timeout.silent_s <= 31.0
    ticks_until(w, clock, 1200.0)
    assert len(box.of(MediaTimeout)) == 1  # once per silence
    w._receive(a, rtp(phone), clock.now)
    ticks_until(w, clock, 1225.0)
    assert len(box.of(MediaTimeout)) == 1
    ticks_until(w, clock, 1233.0)
    assert len(box.of(MediaTimeout)) == 2
    assert w.stats()["media_timeouts"] == 2
    w.close()


def test_hold_stops_the_check_and_every_new_remote_restarts_the_clock(tmp_path: Path) -> None:
    clock = FakeClock()
    box = Box(tmp_path, clock=clock, inband_dtmf=False, rtcp_interval_s=0, media_timeout_s=5)
    w = box.worker
    phone = Phone()
    a, b = w.open("c1", "caller"), w.open("c1", "agent")
    w.set_remote(a.id, host="127.0.0.1", port=phone.port, payload_type=0,
                 direction="sendonly")  # the phone put us on hold
    w.set_remote(b.id, host="127.0.0.1", port=phone.port, payload_type=0,
                 direction="inactive")
    ticks_until(w, clock, 1030.0)
    assert not box.of(MediaTimeout)
    w.set_remote(a.id, host="127.0.0.1", port=phone.port, payload_type=0)  # resumed
    ticks_until(w, clock, 1034.0)
    assert not box.of(MediaTimeout)  # the clock started at the resume, not at the hold
    ticks_until(w, clock, 1037.0)
    assert [m.leg for m in box.of(MediaTimeout)] == ["caller"]
    w.close()
    off = Box(tmp_path, clock=clock, inband_dtmf=False, rtcp_interval_s=0, media_timeout_s=0)
    c = off.worker.open("c2", "caller")
    off.worker.set_remote(c.id, host="127.0.0.1", port=phone.port, payload_type=0)
    ticks_until(off.worker, clock, clock.now + 60)
    assert not off.of(MediaTimeout)
    off.worker.close()


@pytest.mark.parametrize("box", [{"media_timeout_s": 0.5, "rtcp_interval_s": 0}],
                         indirect=True)
async def test_a_phone_that_went_away_is_reported_and_a_talking_one_is_not(box: Box) -> None:
    w = box.worker
    gone, talking = Phone(), Phone()
    a, b = w.open("c1", "caller"), w.open("c1", "agent")
    w.set_remote(a.id, host="127.0.0.1", port=gone.port, payload_type=0)
    w.set_remote(b.id, host="127.0.0.1", port=talking.port, payload_type=0)
    w.bridge(a.id, b.id)
    await stream([(talking, 880.0, to(b.port))], 1.4)  # the check runs once a second
    assert [(c, m.endpoint) for c, m in box.events
            if isinstance(m, MediaTimeout)] == [("c1", a.id)]


def test_probes_divert_two_packets_a_second_then_give_the_fast_path_back(
        tmp_path: Path) -> None:
    clock = FakeClock()
    box = Box(tmp_path, clock=clock, inband_dtmf=False, rtcp_interval_s=0)
    w = box.worker
    phone = Phone()
    a = w.open("c1", "caller")
    w.set_remote(a.id, host="127.0.0.1", port=phone.port, payload_type=0)
    assert (a.probe, a.relay_pt) == (2, -1)  # the first packets start the statistics
    monitor = a.monitor
    assert isinstance(monitor, LegMonitor)
    for _ in range(3):
        w._receive(a, rtp(phone), clock.now)
    assert (a.probe, a.relay_pt, monitor.rx.samples, a.received) == (0, 0, 2, 3)
    for _ in range(60):  # one tick in fifty arms the leg again
        ticks_until(w, clock, clock.now + 0.02)
        if a.probe:
            assert a.relay_pt == -1 and (w.counters.ticks - a.slot) % 50 == 0
            break
    else:
        raise AssertionError("no probe armed in 60 ticks")
    w.close()


def test_ticks_the_worker_skipped_hand_their_legs_to_the_next_one(tmp_path: Path) -> None:
    clock = FakeClock()
    box = Box(tmp_path, clock=clock, inband_dtmf=False, rtcp_interval_s=0)
    w = box.worker
    phone = Phone()
    legs = [w.open("c1", "caller") for _ in range(5)]
    for leg in legs:
        w.set_remote(leg.id, host="127.0.0.1", port=phone.port, payload_type=0)
        leg.probe, leg.relay_pt = 0, 0  # as after the first probe
    w.tick(clock.now)  # tick 1: slot 1's share
    assert [leg.probe for leg in legs] == [0, 2, 0, 0, 0]
    w._skip(2)  # ticks 2 and 3 skipped (the worker fell behind)
    w.tick(clock.now)  # tick 4 takes the shares of 2, 3 and 4
    assert [leg.probe for leg in legs] == [0, 2, 2, 2, 2]
    w.close()
