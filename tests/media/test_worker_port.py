"""The worker behind its bus port: DTMF events to the call actor, mixing, the disk guard."""

from __future__ import annotations

import asyncio
import subprocess
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from actors.host import Host
from actors.placement import Placement
from bus.envelope import Envelope
from bus.errors import RemoteError
from bus.message import Message
from media.diskguard import ALARM_LOW, ALARM_OK, MB, DiskGuard
from media.dtmf_inband import dtmf_sequence
from media.messages import (
    Bridge,
    CloseEndpoint,
    DtmfDetected,
    EndpointOpened,
    Join,
    MediaAlarm,
    MediaOk,
    OpenEndpoint,
    Play,
    PlayDone,
    Record,
    SetRemote,
)
from media.port import MediaPort
from media.recorder import FinishedRecording
from media.sounds import SoundLibrary
from media.worker import MediaWorker
from tests.media.phones import Phone, eventually, stream, tone

PORTS = range(32000, 32100, 2)


class Center:
    """A host serving ``media/*`` with the worker's port and ``call/*`` with a recorder."""

    def __init__(self, tmp: Path, guard: DiskGuard | None = None) -> None:
        self.tells: list[tuple[str, Message]] = []
        self.alarms: list[tuple[str, Message]] = []
        self.finished: list[FinishedRecording] = []
        self.host = Host(host_id="h", behaviours=[], clock=lambda: 0.0,
                         placement=Placement({"media": ("h",), "call": ("h",)}))
        self.sounds = SoundLibrary(tmp / "sounds")
        self.worker = MediaWorker(
            worker_id="media-p", host="127.0.0.1", ports=PORTS, recordings_dir=tmp / "rec",
            on_event=lambda c, m: self.port.on_event(c, m), on_recording=self.finished.append,
            on_alarm=lambda a: self.port.on_alarm(a), disk_guard=guard,
        )
        self.port = MediaPort(host=self.host, worker=self.worker, samples=self.sounds.samples,
                              advertise="127.0.0.1",
                              publish=lambda topic, m: self.alarms.append((topic, m)))
        self.host.add_port("media", self.port)
        self.host.add_port("call", self._call)

    def _call(self, env: Envelope) -> None:
        self.tells.append((env.to, env.msg))

    async def ask(self, msg: Message) -> Message:
        return await self.host.ask("media/c1", msg, timeout=5)

    async def leg(self, phone: Phone, leg: str, te_pt: int | None = 101) -> EndpointOpened:
        opened = await self.ask(OpenEndpoint(call_id="c1", leg=leg))
        assert isinstance(opened, EndpointOpened) and opened.host == "127.0.0.1"
        assert opened.port in PORTS
        ok = await self.ask(SetRemote(endpoint=opened.endpoint, host="127.0.0.1",
                                      port=phone.port, payload_type=phone.payload_type,
                                      telephone_event_pt=te_pt))
        assert ok == MediaOk()
        return opened


@pytest.fixture
async def center(tmp_path: Path) -> AsyncIterator[Center]:
    c = Center(tmp_path)
    c.worker.start(asyncio.get_running_loop())
    try:
        yield c
    finally:
        c.worker.close()


def to(opened: EndpointOpened) -> tuple[str, int]:
    return (opened.host, opened.port)


def power_at(pcm: npt.NDArray[np.int16], freq: float) -> float:
    spectrum = np.abs(np.fft.rfft(pcm.astype(np.float64) * np.hanning(len(pcm))))
    k = round(freq * len(pcm) / 8000)
    return float(spectrum[k - 2:k + 3].max() / len(pcm))


async def test_rfc4733_and_inband_digits_reach_the_call_actor(center: Center) -> None:
    caller, agent = Phone(), Phone(payload_type=8)
    a = await center.leg(caller, "caller")
    b = await center.leg(agent, "agent", te_pt=96)
    assert await center.ask(Bridge(a=a.endpoint, b=b.endpoint)) == MediaOk()
    inband = dtmf_sequence("59", on_ms=80, off_ms=120)
    audio = np.concatenate([np.zeros(1600, dtype=np.int16), inband,
                            np.zeros(12000, dtype=np.int16)])
    # RFC 4733 key presses after the in-band ones (1.2 s and 1.6 s into the call), the
    # end packets repeated three times as RFC 4733 §2.5.1.4 asks.
    extra = {60: [(caller, p, to(a)) for p in caller.digit_packets("1")],
             80: [(caller, p, to(a)) for p in caller.digit_packets("#")]}
    await stream([(caller, audio, to(a)), (agent, 300.0, to(b))], 2.0, extra)
    await asyncio.sleep(0.4)  # the end-packet timeout of the receiver, if ever needed
    agent.drain()
    digits = [(m.digit, m.method, addr) for addr, m in center.tells
              if isinstance(m, DtmfDetected)]
    assert digits == [("5", "inband", "call/c1"), ("9", "inband", "call/c1"),
                      ("1", "rfc4733", "call/c1"), ("#", "rfc4733", "call/c1")]
    rfc = [m for _, m in center.tells if isinstance(m, DtmfDetected) and m.method == "rfc4733"]
    assert all(m.endpoint == a.endpoint and m.duration_ms == 100 for m in rfc)
    # The events were relayed to the agent's leg with its own telephone-event type.
    relayed = [p for p in agent.received if p.payload_type == 96]
    assert len(relayed) == 2 * 7 and relayed[0].marker


async def test_unknown_endpoint_and_prompt_are_typed_errors(center: Center) -> None:
    with pytest.raises(RemoteError) as info:
        await center.ask(Bridge(a="nope", b="nada"))
    assert info.value.code == "media.unknown"
    opened = await center.leg(Phone(), "caller")
    with pytest.raises(RemoteError) as info:
        await center.ask(Play(endpoint=opened.endpoint, prompt="no-such-prompt"))
    assert info.value.code == "media.prompt"
    center.sounds.save_samples("beep", tone(1000.0, 800))
    assert await center.ask(Play(endpoint=opened.endpoint, prompt="beep")) == MediaOk()
    await asyncio.sleep(0.25)
    assert [m for _, m in center.tells if isinstance(m, PlayDone)] == [
        # the missing prompt played nothing but is over: an IVR waiting for it goes on
        PlayDone(call_id="c1", endpoint=opened.endpoint, prompt="no-such-prompt"),
        PlayDone(call_id="c1", endpoint=opened.endpoint, prompt="beep")]
    assert await center.ask(CloseEndpoint(endpoint=opened.endpoint)) == MediaOk()
    assert center.worker.endpoints == {}


@pytest.mark.parametrize(
    ("mode", "hears"),
    [
        # who hears which tones: caller 440 Hz, agent 1000 Hz, supervisor 1700 Hz
        ("listen", {"caller": {1000.0}, "agent": {440.0}, "supervisor": {440.0, 1000.0}}),
        ("whisper", {"caller": {1000.0}, "agent": {440.0, 1700.0},
                     "supervisor": {440.0, 1000.0}}),
        ("barge", {"caller": {1000.0, 1700.0}, "agent": {440.0, 1700.0},
                   "supervisor": {440.0, 1000.0}}),
    ],
)
async def test_supervisor_join_modes(center: Center, mode: str,
                                     hears: dict[str, set[float]]) -> None:
    phones = {"caller": Phone(), "agent": Phone(payload_type=8), "supervisor": Phone()}
    tones = {"caller": 440.0, "agent": 1000.0, "supervisor": 1700.0}
    legs = {name: await center.leg(phone, name) for name, phone in phones.items()}
    await center.ask(Bridge(a=legs["caller"].endpoint, b=legs["agent"].endpoint))
    await center.ask(Join(call_id="c1", supervisor=legs["supervisor"].endpoint,
                          caller=legs["caller"].endpoint, agent=legs["agent"].endpoint,
                          mode=mode))  # type: ignore[arg-type]
    await stream([(phones[n], tones[n], to(legs[n])) for n in phones], 1.0)
    for name, phone in phones.items():
        audio = phone.audio()[-4000:]
        assert len(audio) == 4000, name
        for freq in tones.values():
            heard = power_at(audio, freq) > 300
            assert heard == (freq in hears[name]), (name, freq)


async def test_disk_guard_stops_recordings_and_refuses_new_ones(tmp_path: Path) -> None:
    free = [100 * MB]
    guard = DiskGuard(tmp_path, min_free_mb=50, free=lambda path: free[0], worker="media-p")
    c = Center(tmp_path, guard)
    c.worker.start(asyncio.get_running_loop())
    try:
        caller, agent = Phone(), Phone()
        a, b = await c.leg(caller, "caller"), await c.leg(agent, "agent")
        await c.ask(Bridge(a=a.endpoint, b=b.endpoint))
        assert await c.ask(Record(call_id="c1", left=a.endpoint, right=b.endpoint)) == MediaOk()
        await stream([(caller, 440.0, to(a)), (agent, 880.0, to(b))], 0.3)
        free[0] = 10 * MB
        await stream([(caller, 440.0, to(a)), (agent, 880.0, to(b))], 0.5)
        assert [m.code for t, m in c.alarms if isinstance(m, MediaAlarm)] == [ALARM_LOW]
        assert c.alarms[0][0] == "alarms"
        await eventually(lambda: c.finished)
        assert len(c.finished) == 1 and c.worker.recordings == {}
        with pytest.raises(RemoteError) as info:
            await c.ask(Record(call_id="c1", left=a.endpoint, right=b.endpoint))
        assert info.value.code == "media.disk_low"
        # The call goes on: audio still flows both ways.
        before = len(agent.received)
        await stream([(caller, 440.0, to(a)), (agent, 880.0, to(b))], 0.2)
        assert len(agent.received) - before >= 8
        free[0] = 60 * MB
        await asyncio.sleep(0.3)
        assert [m.code for _, m in c.alarms if isinstance(m, MediaAlarm)] == [ALARM_LOW, ALARM_OK]
        assert await c.ask(Record(call_id="c1", left=a.endpoint, right=b.endpoint)) == MediaOk()
    finally:
        c.worker.close()


@pytest.fixture
def small_fs() -> Iterator[Path]:
    """A 2 MB tmpfs (we run as root), unmounted after."""
    mount = Path(tempfile.mkdtemp(prefix="contactor-smallfs-"))
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mount)], check=True)
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)
        mount.rmdir()


async def test_a_small_disk_never_fills(small_fs: Path) -> None:
    # 1 MB minimum on a 2 MB disk; eight recorded calls write 256 KB/s together.
    guard = DiskGuard(small_fs, min_free_mb=1, worker="media-p")
    c = Center(small_fs, guard)
    c.worker.start(asyncio.get_running_loop())
    try:
        sources = []
        for n in range(8):
            caller, agent = Phone(), Phone()
            a = await c.leg(caller, "caller")
            b = await c.leg(agent, "agent")
            await c.ask(Bridge(a=a.endpoint, b=b.endpoint))
            await c.host.ask("media/c1", Record(call_id=f"c{n}", left=a.endpoint,
                                                right=b.endpoint))
            sources += [(caller, 440.0, to(a)), (agent, 880.0, to(b))]
        await stream(sources, 5.0)
        assert [m.code for _, m in c.alarms if isinstance(m, MediaAlarm)] == [ALARM_LOW], (
            guard.last_free, c.worker.stats())
        assert c.worker.recordings == {}
        await eventually(lambda: len(c.finished) == 8)
        assert guard.last_free is not None and guard.last_free > 512 * 1024
        for finished in c.finished:
            assert finished.wav.stat().st_size > 44 + 4 * 8000 * 3  # about 4 s each
    finally:
        c.worker.close()
