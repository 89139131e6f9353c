import io
import struct
import wave
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from media.wav import HEADER_SIZE, WavError, WavWriter, read_wav


def stereo(n: int, seed: int = 0) -> npt.NDArray[np.int16]:
    return np.random.default_rng(seed).integers(-32768, 32768, size=(n, 2)).astype(np.int16)


def test_header_layout_is_canonical_pcm() -> None:
    buffer = io.BytesIO()
    writer = WavWriter(buffer)
    writer.write(stereo(10))
    writer.flush()
    data = buffer.getvalue()
    assert data[:4] == b"RIFF" and data[8:16] == b"WAVEfmt "
    riff_size, fmt_size = (
        struct.unpack_from("<I", data, 4)[0],
        struct.unpack_from("<I", data, 16)[0],
    )
    assert (riff_size, fmt_size) == (36 + 40, 16)
    assert struct.unpack_from("<HHIIHH", data, 20) == (1, 2, 8000, 32000, 4, 16)
    assert data[36:40] == b"data" and struct.unpack_from("<I", data, 40)[0] == 40
    assert len(data) == HEADER_SIZE + 40


def test_sizes_are_valid_after_every_flush_and_unflushed_tail_is_ignored() -> None:
    buffer = io.BytesIO()
    writer = WavWriter(buffer)
    assert read_wav(buffer.getvalue()).samples.shape == (0, 2)  # valid even before any write
    chunks = [stereo(160, seed) for seed in range(5)]
    for i, chunk in enumerate(chunks):
        writer.write(chunk)
        writer.flush()
        got = read_wav(buffer.getvalue())
        assert np.array_equal(got.samples, np.concatenate(chunks[: i + 1]))
    # Written but not flushed: a crash now leaves a header that covers only flushed frames.
    writer.write(stereo(80, 99))
    snapshot = buffer.getvalue()
    assert np.array_equal(read_wav(snapshot).samples, np.concatenate(chunks))
    writer.close()
    assert read_wav(buffer.getvalue()).samples.shape == (5 * 160 + 80, 2)
    assert writer.frames_written == 5 * 160 + 80


def test_readable_by_the_standard_library_after_flush(tmp_path: Path) -> None:
    path = tmp_path / "call.wav"
    left = np.arange(800, dtype=np.int16)
    right = -left
    with path.open("wb") as f, WavWriter(f) as writer:
        writer.write_stereo(left, right)
        writer.flush()
        with wave.open(str(path), "rb") as w:  # read while the writer is still open
            assert (w.getnchannels(), w.getsampwidth(), w.getframerate()) == (2, 2, 8000)
            assert w.getnframes() == 800
            frames = np.frombuffer(w.readframes(800), dtype="<i2").reshape(-1, 2)
    assert np.array_equal(frames[:, 0], left) and np.array_equal(frames[:, 1], right)


def test_an_unbuffered_file_gets_the_same_bytes_and_is_valid_after_every_flush(
        tmp_path: Path) -> None:
    path = tmp_path / "raw.wav"
    reference = io.BytesIO()
    expected = WavWriter(reference)
    chunks = [stereo(160, seed) for seed in range(3)] + [stereo(0)]
    with path.open("w+b", buffering=0) as f:
        writer = WavWriter(f)
        for i, chunk in enumerate(chunks):
            writer.write(chunk)
            expected.write(chunk)
            writer.flush()
            expected.flush()
            got = read_wav(path.read_bytes()).samples
            assert np.array_equal(got, np.concatenate(chunks[: i + 1]))
        writer.write(stereo(10, 9)[:, ::-1])  # not contiguous: written all the same
        expected.write(stereo(10, 9)[:, ::-1])
        assert read_wav(path.read_bytes()).samples.shape == (480, 2)  # tail not flushed
        writer.close()
        expected.close()
    assert path.read_bytes() == reference.getvalue()


def test_reader_cuts_an_overlong_data_chunk_to_whole_frames() -> None:
    buffer = io.BytesIO()
    writer = WavWriter(buffer)
    writer.write(stereo(10))
    writer.flush()
    data = bytearray(buffer.getvalue())
    data[40:44] = struct.pack("<I", 0xFFFFFFFF)  # header of a writer that never fixed sizes
    data += b"\x01\x02\x03"  # a torn last frame
    assert read_wav(bytes(data)).samples.shape == (10, 2)


def test_reader_skips_unknown_chunks_and_reads_mono() -> None:
    fmt = struct.pack("<HHIIHH", 1, 1, 16000, 32000, 2, 16)
    body = (
        b"WAVE"
        + b"fmt "
        + struct.pack("<I", 16)
        + fmt
        + b"LIST"
        + struct.pack("<I", 3)
        + b"abc\x00"
    )
    body += b"data" + struct.pack("<I", 4) + struct.pack("<hh", -5, 7)
    got = read_wav(b"RIFF" + struct.pack("<I", len(body)) + body)
    assert (got.sample_rate, got.channels) == (16000, 1)
    assert got.samples[:, 0].tolist() == [-5, 7]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"RIFF", "too short"),
        (b"RIFX\x00\x00\x00\x00WAVE", "not a RIFF/WAVE"),
        (b"RIFF\x00\x00\x00\x00WAVE", "no data chunk"),
        (b"RIFF\x00\x00\x00\x00WAVEdata\x00\x00\x00\x00", "before the fmt"),
        (b"RIFF\x00\x00\x00\x00WAVEfmt \x10\x00\x00\x00\x01\x00", "truncated"),
        (
            b"RIFF\x00\x00\x00\x00WAVEfmt \x10\x00\x00\x00"
            + struct.pack("<HHIIHH", 3, 1, 8000, 32000, 4, 32)
            + b"data\x00\x00\x00\x00",
            "not 16-bit PCM",
        ),
        (
            b"RIFF\x00\x00\x00\x00WAVEfmt \x10\x00\x00\x00"
            + struct.pack("<HHIIHH", 1, 2, 8000, 32000, 2, 16)
            + b"data\x00\x00\x00\x00",
            "block align",
        ),
    ],
)
def test_reader_errors(data: bytes, message: str) -> None:
    with pytest.raises(WavError, match=message):
        read_wav(data)


def test_writer_rejects_wrong_samples() -> None:
    writer = WavWriter(io.BytesIO())
    with pytest.raises(WavError, match="int16"):
        writer.write(np.zeros((4, 2), dtype=np.float32))
    with pytest.raises(WavError, match="shape"):
        writer.write(np.zeros((4, 3), dtype=np.int16))


@settings(max_examples=100, deadline=None)
@given(
    channels=st.integers(1, 2),
    rate=st.sampled_from([8000, 16000, 48000]),
    blocks=st.lists(hnp.arrays(np.int16, st.integers(0, 300)), max_size=6),
    flush_every=st.integers(1, 3),
)
def test_round_trip(
    channels: int, rate: int, blocks: list[npt.NDArray[np.int16]], flush_every: int
) -> None:
    buffer = io.BytesIO()
    writer = WavWriter(buffer, sample_rate=rate, channels=channels)
    written = []
    for i, block in enumerate(blocks):
        frames = block[: len(block) // channels * channels].reshape(-1, channels)
        writer.write(frames if channels == 2 else frames[:, 0])
        written.append(frames)
        if i % flush_every == 0:
            writer.flush()
    writer.close()
    got = read_wav(buffer.getvalue())
    assert (got.sample_rate, got.channels) == (rate, channels)
    expected = np.concatenate(written) if written else np.zeros((0, channels), np.int16)
    assert np.array_equal(got.samples, expected)
