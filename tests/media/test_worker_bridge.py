"""A media worker on loopback: two phones bridged (with transcoding), recorded, registered."""

from __future__ import annotations

import asyncio
import itertools
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from bus.message import Message
from media.dtmf_inband import dtmf_sequence
from media.g711 import ulaw_encode
from media.messages import DtmfDetected, PlayDone
from media.recorder import FinishedRecording
from media.recording_store import RecordingRow, RecordingStore
from media.registrar import Registrar
from media.wav import read_wav
from media.worker import MediaWorker
from store.db import open_pool
from tests.media.phones import Phone, dominant_frequency, eventually, stream, tone

PORTS = range(31000, 31100, 2)


def test_inband_detection_runs_on_the_polls_after_the_tick(tmp_path: Path) -> None:
    """The tick queues detection (one step per block of legs) instead of running it, so
    relaying never waits for it; closing a watched leg finishes what is queued first."""
    h = Harness(tmp_path)
    w = h.worker
    a, b = w.open("call-d", "caller"), w.open("call-d", "agent")
    codes = ulaw_encode(dtmf_sequence("7", on_ms=100, off_ms=60)).tobytes()
    for n in range(len(codes) // 160):
        w._frames.add(a.slot, codes[n * 160 : (n + 1) * 160])
        w._begin_tick(n * 0.02)
        assert len(w._clockwork.steps) == 1  # one block: the caller (agents speak RFC 4733)
        w._clockwork.run_step()
    digits = [(m.digit, m.method) for _, m in h.events if isinstance(m, DtmfDetected)]
    assert digits == [("7", "inband")]
    w._begin_tick(1.0)
    assert w._clockwork.steps
    w.close_endpoint(a.id)
    assert not w._clockwork.steps and not w._digits.bank.owners
    w.close_endpoint(b.id)
    h.close()


class Harness:
    def __init__(self, tmp: Path, db_url: str | None = None, fmt: str = "flac") -> None:
        self.events: list[tuple[str, Message]] = []
        self.finished: list[FinishedRecording] = []
        self.saved: list[RecordingRow] = []
        self.pool: Any = open_pool(db_url, max_size=2) if db_url else None
        self.registrar = Registrar(store=lambda: RecordingStore(self.pool), fmt=fmt,
                                   on_saved=lambda f, row: self.saved.append(row))
        self.worker = MediaWorker(
            worker_id="media-t", host="127.0.0.1", ports=PORTS, recordings_dir=tmp / "rec",
            on_event=lambda call, msg: self.events.append((call, msg)),
            on_recording=self._finished,
        )

    def _finished(self, finished: FinishedRecording) -> None:
        self.finished.append(finished)
        if self.pool is not None:
            self.registrar.submit(finished)

    def close(self) -> None:
        self.worker.close()
        self.registrar.close()


@pytest.fixture
async def harness(tmp_path: Path, db_url: str) -> AsyncIterator[Harness]:
    h = Harness(tmp_path, db_url)
    h.worker.start(asyncio.get_running_loop())
    try:
        yield h
    finally:
        h.close()


def addr(port: int) -> tuple[str, int]:
    return ("127.0.0.1", port)


async def test_bridged_call_is_relayed_transcoded_recorded_and_registered(
        harness: Harness) -> None:
    w = harness.worker
    caller, agent = Phone(payload_type=0), Phone(payload_type=8)  # PCMU <-> PCMA
    a = w.open("call-1", "caller")
    b = w.open("call-1", "agent")
    w.set_remote(a.id, host="127.0.0.1", port=caller.port, payload_type=0)
    w.set_remote(b.id, host="127.0.0.1", port=agent.port, payload_type=8)
    w.bridge(a.id, b.id)
    path = w.record("call-1", a.id, b.id, agent="anna", queue="sales")
    seconds = 2.0
    await stream([(caller, 440.0, addr(a.port)), (agent, 1000.0, addr(b.port))], seconds)
    await asyncio.sleep(0.06)
    caller.drain()
    agent.drain()
    w.close_endpoint(a.id)
    w.close_endpoint(b.id)

    # Relay: every packet reached the other side in that side's codec, with one SSRC and
    # consecutive sequence numbers, carrying the other side's tone.
    for phone, other_tone in ((caller, 1000.0), (agent, 440.0)):
        got = phone.received
        assert len(got) >= 0.95 * seconds / 0.02
        assert {p.payload_type for p in got} == {phone.payload_type}
        assert len({p.ssrc for p in got}) == 1
        seqs = [p.sequence for p in got]
        assert all((b - a) & 0xFFFF == 1 for a, b in itertools.pairwise(seqs))
        stamps = [p.timestamp for p in got]
        assert all((b - a) & 0xFFFFFFFF == 160 for a, b in itertools.pairwise(stamps))
        assert got[0].marker
        assert abs(dominant_frequency(phone.audio()[:8000]) - other_tone) < 15

    # Recording: stereo, caller left / agent right, the call's duration, registered.
    for _ in range(200):
        if harness.saved:
            break
        await asyncio.sleep(0.05)
    assert len(harness.saved) == 1
    row = harness.saved[0]
    assert (row.call_id, row.agent, row.queue, row.format) == ("call-1", "anna", "sales", "flac")
    assert abs(row.duration_s - seconds) <= 0.5
    flac = Path(row.path)
    assert flac.suffix == ".flac" and flac.exists() and not path.exists()
    assert row.bytes == flac.stat().st_size and len(row.sha256) == 64
    decoded = subprocess.run(["sox", str(flac), "-t", "wav", "-"], capture_output=True,
                             check=True).stdout
    wav = read_wav(decoded)
    assert wav.channels == 2 and wav.sample_rate == 8000
    assert abs(len(wav.samples) / 8000 - seconds) <= 0.5
    middle = wav.samples[4000:12000]
    left, right = middle[:, 0], middle[:, 1]
    assert np.abs(left).mean() > 1000 and np.abs(right).mean() > 1000
    assert abs(dominant_frequency(left) - 440.0) < 15
    assert abs(dominant_frequency(right) - 1000.0) < 15
    stored = RecordingStore(harness.pool).find(call_id="call-1")
    assert [r.path for r in stored] == [row.path]
    assert not list(flac.parent.glob("*.rec.json"))


async def test_pause_writes_silence_for_the_gap(harness: Harness) -> None:
    w = harness.worker
    caller, agent = Phone(), Phone()
    a, b = w.open("call-2", "caller"), w.open("call-2", "agent")
    w.set_remote(a.id, host="127.0.0.1", port=caller.port, payload_type=0)
    w.set_remote(b.id, host="127.0.0.1", port=agent.port, payload_type=0)
    w.bridge(a.id, b.id)
    w.record("call-2", a.id, b.id)
    sources = [(caller, 500.0, addr(a.port)), (agent, 700.0, addr(b.port))]
    await stream(sources, 0.6)
    w.pause_recording("call-2", True)
    await stream(sources, 0.6)
    w.pause_recording("call-2", False)
    await stream(sources, 0.6)
    w.close_endpoint(a.id)
    await eventually(lambda: harness.finished)
    finished = harness.finished[0]
    samples = read_wav(finished.wav.read_bytes()).samples
    assert abs(len(samples) / 8000 - 1.8) < 0.2
    level = [np.abs(samples[i:i + 800]).mean() for i in range(0, len(samples) - 800, 800)]
    loud = [x > 500 for x in level]
    # loud, then a silent stretch of about 0.6 s, then loud again
    first_quiet = loud.index(False)
    back = loud.index(True, first_quiet)
    assert 5 <= back - first_quiet <= 8
    assert all(x == 0 for x in level[first_quiet + 1:back - 1])


async def test_prompt_plays_then_play_done_and_relay_resumes(harness: Harness) -> None:
    w = harness.worker
    caller, agent = Phone(), Phone()
    a, b = w.open("call-3", "caller"), w.open("call-3", "agent")
    w.set_remote(a.id, host="127.0.0.1", port=caller.port, payload_type=0)
    w.set_remote(b.id, host="127.0.0.1", port=agent.port, payload_type=0)
    w.bridge(a.id, b.id)
    w.play(a.id, "beep", tone(1500.0, 2400), loop=False)  # 0.3 s
    await stream([(agent, 600.0, addr(b.port))], 0.8)
    caller.drain()
    done = [m for _, m in harness.events if isinstance(m, PlayDone)]
    assert len(done) == 1 and done[0].prompt == "beep"
    audio = caller.audio()
    assert abs(dominant_frequency(audio[:2400]) - 1500.0) < 15
    assert abs(dominant_frequency(audio[-3200:]) - 600.0) < 15
    seqs = [p.sequence for p in caller.received]
    assert all((y - x) & 0xFFFF == 1 for x, y in itertools.pairwise(seqs))
    assert len({p.ssrc for p in caller.received}) == 1


def test_skipped_ticks_keep_the_recording_duration(tmp_path: Path) -> None:
    """An overloaded worker skips ticks rather than bursting; recordings stay in time."""
    h = Harness(tmp_path)  # not started: ticks are driven by hand, writes are synchronous
    w = h.worker
    a, b = w.open("call-s", "caller"), w.open("call-s", "agent")
    w.record("call-s", a.id, b.id)
    frame = bytes([0x10]) * 160  # a loud µ-law code
    for n in range(10):
        w._frames.add(a.slot, frame)
        w._frames.add(b.slot, frame)
        w.tick(n * 0.02)
    w._skip(30)
    for n in range(10):
        w._frames.add(a.slot, frame)
        w._frames.add(b.slot, frame)
        w.tick(0.8 + n * 0.02)
    w.close_endpoint(a.id)
    (finished,) = h.finished
    samples = read_wav(finished.wav.read_bytes()).samples
    assert finished.seconds == pytest.approx(1.0) and len(samples) == 8000
    assert np.abs(samples[:1600]).min() > 0 and np.abs(samples[-1600:]).min() > 0
    assert not samples[1600:1600 + 30 * 160].any()
    assert w.counters.skipped_ticks == 30
    h.close()
