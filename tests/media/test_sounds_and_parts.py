"""The sound library, port ranges, outgoing stream rewriting, mixing and batching."""

from __future__ import annotations

import random
import subprocess
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from media.batches import PAIR_DECODE, FrameQueue, RecordingRing, Rows
from media.g711 import ulaw_decode, ulaw_encode
from media.mixer import ALAW_TO_ULAW, DECODE, SILENCE, ULAW_TO_ALAW, mix_frames
from media.ports import PortPool, PortRangeError, worker_ports
from media.session import OutStream
from media.sounds import HOLD_MUSIC, SoundError, SoundInUse, SoundLibrary
from tests.media.phones import dominant_frequency, tone

# ------------------------------------------------------------------ sounds


def test_a_tone_prompt_is_generated_at_its_frequency_and_length(tmp_path: Path) -> None:
    library = SoundLibrary(tmp_path)
    beep = library.samples("tone:1000/500")
    assert len(beep) == 4000 and beep.dtype == np.int16
    assert abs(dominant_frequency(beep) - 1000) < 20
    assert abs(int(beep[0])) < 100 and abs(int(beep[-1])) < 100  # faded: no click
    with pytest.raises(SoundError, match="tone:<hz>/<ms>"):
        library.samples("tone:loud")


def test_import_list_play_and_delete(tmp_path: Path) -> None:
    source = tmp_path / "source.wav"
    subprocess.run(["sox", "-n", "-r", "44100", "-c", "2", str(source), "synth", "0.5",
                    "sine", "700"], check=True)
    scheme = tmp_path / "ivr.yaml"
    scheme.write_text("nodes:\n  start:\n    play: greeting\n")
    library = SoundLibrary(tmp_path / "sounds", ivr_schemes=[scheme], moh_prompts=["default"])
    assert library.import_file("greeting", source).suffix == ".wav"
    assert library.import_file("tone-ul", source, fmt="ulaw").suffix == ".ul"
    listed = {i.name: i for i in library.entries()}
    assert set(listed) == {"greeting", "tone-ul"}
    assert abs(listed["greeting"].seconds - 0.5) < 0.01 and listed["tone-ul"].format == "ulaw"
    samples = library.samples("greeting")
    assert samples.dtype == np.int16 and abs(len(samples) - 4000) < 10
    assert abs(dominant_frequency(samples) - 700) < 20
    assert abs(dominant_frequency(library.samples("tone-ul")) - 700) < 20
    assert abs(dominant_frequency(library.samples(str(source))) - 700) < 20  # a file path

    with pytest.raises(SoundInUse, match=str(scheme)):
        library.delete("greeting")
    library.delete("tone-ul")
    assert [i.name for i in library.entries()] == ["greeting"]
    with pytest.raises(SoundError, match="no prompt"):
        library.samples("tone-ul")
    with pytest.raises(SoundError, match="must be letters"):
        library.import_file("../evil", source)


def test_demo_prompts_are_made_once_and_hold_music_is_protected(tmp_path: Path) -> None:
    library = SoundLibrary(tmp_path, moh_prompts=["default"])
    made = library.ensure_demo_prompts()
    assert set(made) == {"welcome", "menu", "invalid", "goodbye", HOLD_MUSIC}
    assert library.ensure_demo_prompts() == []
    speech = library.samples("welcome")
    assert len(speech) > 4000 and np.abs(speech).mean() > 100  # espeak-ng said something
    music = library.samples("default")  # the queues' default music on hold
    assert len(music) >= 8000 * 10
    with pytest.raises(SoundInUse, match="music on hold"):
        library.delete(HOLD_MUSIC)
    total = sum(p.stat().st_size for p in tmp_path.iterdir())
    assert total < 2_000_000  # generated at first start, not shipped


# ------------------------------------------------------------------ ports


@settings(max_examples=200)
@given(low=st.integers(1024, 60000), span=st.integers(2, 5000), workers=st.integers(1, 16))
def test_worker_port_slices_are_disjoint_even_and_cover_the_range(
        low: int, span: int, workers: int) -> None:
    high = low + span
    try:
        slices = [worker_ports(low, high, worker=k, workers=workers) for k in range(workers)]
    except PortRangeError:
        assert (high - low - (low & 1) + 1) // 2 < workers
        return
    ports = [p for s in slices for p in s]
    assert len(ports) == len(set(ports))
    assert all(p % 2 == 0 and low <= p and p + 1 <= high for p in ports)
    assert len(ports) == (high - (low + (low & 1)) + 1) // 2
    sizes = [len(s) for s in slices]
    assert max(sizes) - min(sizes) <= 1


def test_port_pool_skips_ports_held_elsewhere_and_reuses_the_oldest_free() -> None:
    import socket

    squatter = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    squatter.bind(("127.0.0.1", 34000))
    pool = PortPool("127.0.0.1", range(34000, 34006, 2))
    try:
        a, port_a = pool.bind()
        b, port_b = pool.bind()
        assert (port_a, port_b) == (34002, 34004)
        a.close()
        pool.release(port_a)
        c, port_c = pool.bind()
        assert port_c == 34002  # 34000 is still held: skipped again
        c.close()
        b.close()
    finally:
        squatter.close()


# ------------------------------------------------------------------ outgoing streams


@settings(max_examples=100)
@given(st.lists(st.tuples(st.integers(0, 2), st.integers(1, 40)), min_size=1, max_size=12))
def test_out_stream_stays_continuous_across_source_switches(
        pieces: list[tuple[int, int]]) -> None:
    out = OutStream(random.Random(7))
    ssrc0 = out.ssrc
    now, last = 0.0, None
    rng = random.Random(1)
    positions = {s: (rng.getrandbits(16), rng.getrandbits(32)) for s in (1, 2)}
    for source, count in pieces:
        in_seq, in_ts = positions.get(source, (0, 0))
        positions[source] = ((in_seq + count) & 0xFFFF, (in_ts + 160 * count) & 0xFFFFFFFF)
        for i in range(count):
            now += 0.02
            if source == 0:
                seq, ts, marker = out.generated(now)
            else:
                seq, ts, marker = out.relay(1000 + source, (in_seq + i) & 0xFFFF,
                                            (in_ts + 160 * i) & 0xFFFFFFFF, now)
            if last is not None:
                assert (seq - last[0]) & 0xFFFF == 1
                assert (ts - last[1]) & 0xFFFFFFFF == 160
                assert marker == (i == 0 and source != last[2])
            last = (seq, ts, source)
    assert out.ssrc == ssrc0


def test_out_stream_resyncs_when_the_same_source_jumps() -> None:
    out = OutStream(random.Random(3))
    first = [out.relay(5, 100 + i, 16000 + 160 * i, 0.02 * i) for i in range(3)]
    jumped = out.relay(5, 40000, 999, 0.06)  # the peer restarted its stream, same SSRC
    assert jumped[0] == (first[-1][0] + 1) & 0xFFFF and jumped[2]
    assert jumped[1] == (first[-1][1] + 160) & 0xFFFFFFFF
    reordered = out.relay(5, 39999, 839, 0.07)  # one late packet is not a restart
    assert not reordered[2] and reordered[0] == first[-1][0]


# ------------------------------------------------------------------ numpy parts


def test_transcoding_tables_match_decode_then_encode() -> None:
    pcm = tone(300.0, 800)
    codes = ulaw_encode(pcm).tobytes()
    alaw = codes.translate(ULAW_TO_ALAW)
    back = alaw.translate(ALAW_TO_ULAW)
    assert np.abs(ulaw_decode(back).astype(int) - ulaw_decode(codes)).max() <= 64


def test_mix_clips_and_pads() -> None:
    pcm = np.array([[30000] * 4, [10000] * 4, [-5] * 4], dtype=np.int16)
    mixed = mix_frames(pcm, [[0, 1], [2], [1, 2]])
    assert mixed.tolist() == [[32767] * 4, [-5] * 4, [9995] * 4]


def test_frame_queue_takes_one_frame_per_row_and_bounds_the_rest() -> None:
    queue = FrameQueue()
    for row, law in ((0, 0), (1, 1), (2, 0)):
        queue.set_law(row, law, 3)
    frame = ulaw_encode(tone(500.0, 160)).tobytes()
    for row in (0, 0, 0, 0, 0, 2):
        queue.add(row, frame)
    assert [queue.pending(r) for r in range(3)] == [5, 0, 1]
    pcm = queue.take(3)
    assert np.abs(pcm[0]).max() > 1000 and np.abs(pcm[2]).max() > 1000
    assert np.abs(pcm[1]).max() <= 8  # A-law silence decodes to ±8
    assert [queue.pending(r) for r in range(3)] == [2, 0, 0]  # at most two wait
    assert np.abs(queue.take(3)[0]).max() > 1000
    assert np.abs(queue.take(3)[0]).max() > 1000
    silent = queue.take(3)
    assert np.abs(silent[0]).max() <= 8 and np.abs(silent[2]).max() <= 8  # µ-law 0xFF: 0
    assert [queue.pending(r) for r in range(3)] == [0, 0, 0]


def test_frame_queue_silence_follows_the_law_and_forget_clears_a_row() -> None:
    queue = FrameQueue()
    queue.set_law(0, 0, 2)
    queue.set_law(1, 1, 2)
    loud_ulaw = bytes([0x10]) * 160
    queue.add(0, loud_ulaw)
    queue.add(0, loud_ulaw)
    queue.forget(0)
    assert queue.pending(0) == 0
    pcm = queue.take(2)
    assert not pcm[0].any() and np.abs(pcm[1]).max() <= 8  # µ-law and A-law silence
    queue.set_law(1, 0, 2)  # the row's silence changes with its law
    assert not queue.take(2).any()


@settings(max_examples=60, deadline=None)
@given(laws=st.lists(st.integers(0, 1), min_size=1, max_size=12), data=st.data())
def test_frame_queue_decodes_every_row_in_its_law(laws: list[int], data: st.DataObject) -> None:
    """All µ-law, all A-law (two codes per lookup) and mixed rows decode as G.711 says."""
    queue = FrameQueue()
    for row, law in enumerate(laws):
        queue.set_law(row, law, len(laws))
    sent: dict[int, bytes] = {}
    for row in data.draw(st.lists(st.integers(0, len(laws) - 1), unique=True)):
        sent[row] = data.draw(st.binary(min_size=160, max_size=160))
        queue.add(row, sent[row])
    pcm = queue.take(len(laws))
    assert pcm.shape == (len(laws), 160) and pcm.dtype == np.int16
    for row, law in enumerate(laws):
        codes = np.frombuffer(sent.get(row, SILENCE[law]), dtype=np.uint8)
        assert pcm[row].tolist() == DECODE[law * 256 + codes.astype(np.intp)].tolist()


def test_pair_tables_are_read_only() -> None:
    with pytest.raises(ValueError):
        PAIR_DECODE[0][0] = 1


def test_rows_and_ring() -> None:
    rows = Rows()
    assert [rows.take() for _ in range(3)] == [0, 1, 2]
    rows.give(1)
    assert rows.take() == 1
    rows.give(2)
    assert rows.size == 2
    ring = RecordingRing()
    row = ring.take_row()
    for tick in range(1, 61):
        ring.store(tick, np.array([row]), np.full((1, 160, 2), tick, dtype=np.int16))
    block = ring.since(row, 20, 60)
    assert block.shape == (41 * 160, 2)
    assert block[::160, 0].tolist() == list(range(20, 61))
