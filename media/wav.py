"""16-bit PCM WAV writing (streaming, crash-tolerant) and reading.

The writer keeps the RIFF and data chunk sizes in the header equal to the samples written
up to the last :meth:`WavWriter.flush`: samples go to the file first, then the header is
rewritten. If the process dies, the file is a valid WAV up to its last flush. Works on any
seekable binary file object; it neither opens nor syncs files itself.
"""

from __future__ import annotations

import io
import os
import struct
from dataclasses import dataclass
from typing import BinaryIO

import numpy as np
import numpy.typing as npt

WAVE_FORMAT_PCM = 1
WAVE_FORMAT_EXTENSIBLE = 0xFFFE
HEADER_SIZE = 44
_MAX_DATA = 0xFFFFFFFF - (HEADER_SIZE - 8)

_RIFF = struct.Struct("<4sI4s")
_CHUNK = struct.Struct("<4sI")
_FMT = struct.Struct("<HHIIHH")


class WavError(ValueError):
    """A WAV file that cannot be read or a write that would make an invalid one."""


def _header(*, sample_rate: int, channels: int, data_size: int) -> bytes:
    block_align = 2 * channels
    return b"".join(
        (
            _RIFF.pack(b"RIFF", HEADER_SIZE - 8 + data_size, b"WAVE"),
            _CHUNK.pack(b"fmt ", _FMT.size),
            _FMT.pack(
                WAVE_FORMAT_PCM, channels, sample_rate, sample_rate * block_align, block_align, 16
            ),
            _CHUNK.pack(b"data", data_size),
        )
    )


class WavWriter:
    """Appends interleaved int16 frames; :meth:`flush` makes the file valid up to that point.

    On an unbuffered file (``open(path, "w+b", buffering=0)``) samples go straight from the
    array to the kernel and a flush rewrites the sizes with one ``pwrite``: two system
    calls a second per recording, little for the GIL (the recorder writes on a
    thread next to the worker's event loop, which needs the GIL back at every poll).
    """

    def __init__(self, file: BinaryIO, *, sample_rate: int = 8000, channels: int = 2) -> None:
        self._file = file
        self.sample_rate = sample_rate
        self.channels = channels
        self._data_size = 0
        self._flushed_size = -1
        self._raw_fd = file.fileno() if isinstance(file, io.FileIO) else None
        file.seek(0)
        self._write_all(_header(sample_rate=sample_rate, channels=channels, data_size=0))
        file.flush()

    @property
    def frames_written(self) -> int:
        return self._data_size // (2 * self.channels)

    def write(self, frames: npt.ArrayLike) -> None:
        """Write int16 samples shaped (n, channels) (or (n,) when mono)."""
        samples = np.asarray(frames)
        if samples.dtype != np.int16:
            raise WavError(f"WAV writer needs int16 samples, got {samples.dtype}")
        if samples.ndim == 1 and self.channels == 1:
            samples = samples[:, None]
        if samples.ndim != 2 or samples.shape[1] != self.channels:
            raise WavError(f"WAV writer expects shape (n, {self.channels}), got {samples.shape}")
        data = np.ascontiguousarray(samples.astype("<i2", copy=False))
        if self._data_size + data.nbytes > _MAX_DATA:
            raise WavError("WAV data chunk would exceed the 4 GiB RIFF limit")
        self._write_all(data.reshape(-1).view(np.uint8).data)
        self._data_size += data.nbytes

    def _write_all(self, data: bytes | memoryview) -> None:
        if self._raw_fd is None:
            self._file.write(data)
            return
        view = memoryview(data)
        while view:  # a raw file may take less than asked (a signal, a full disk)
            written = self._file.write(view)
            if not written:
                raise OSError(f"WAV write made no progress ({len(view)} bytes left)")
            view = view[written:]

    def write_stereo(self, left: npt.ArrayLike, right: npt.ArrayLike) -> None:
        """Write two equally long int16 channels (e.g. caller left, agent right)."""
        self.write(np.stack([np.asarray(left), np.asarray(right)], axis=1))

    def flush(self) -> None:
        """Push samples to the OS, then rewrite the sizes so the header covers exactly them."""
        self._file.flush()
        if self._flushed_size == self._data_size:
            return
        if self._raw_fd is not None:
            # Both sizes in one system call: the header from the RIFF size on (what lies
            # between them, the fmt chunk, is rewritten unchanged).
            header = _header(sample_rate=self.sample_rate, channels=self.channels,
                             data_size=self._data_size)
            os.pwrite(self._raw_fd, header[4:], 4)
            self._flushed_size = self._data_size
            return
        self._file.seek(4)
        self._file.write(struct.pack("<I", HEADER_SIZE - 8 + self._data_size))
        self._file.seek(HEADER_SIZE - 4)
        self._file.write(struct.pack("<I", self._data_size))
        self._file.seek(HEADER_SIZE + self._data_size)
        self._file.flush()
        self._flushed_size = self._data_size

    def close(self) -> None:
        """Final flush; the file object stays open (its owner closes it)."""
        self.flush()

    def __enter__(self) -> WavWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@dataclass(frozen=True, slots=True, kw_only=True)
class WavData:
    sample_rate: int
    channels: int
    samples: npt.NDArray[np.int16]  # shape (frames, channels)


def read_wav(data: bytes) -> WavData:
    """Parse a 16-bit PCM WAV. A data chunk longer than the file (a writer that died before
    fixing its header) is cut to the whole frames present."""
    if len(data) < 12:
        raise WavError(f"WAV file too short for a RIFF header: {len(data)} bytes")
    riff, _, wave = _RIFF.unpack_from(data)
    if riff != b"RIFF" or wave != b"WAVE":
        raise WavError(f"not a RIFF/WAVE file: {riff!r}/{wave!r}")
    offset = 12
    fmt: tuple[int, int, int, int, int, int] | None = None
    while offset + 8 <= len(data):
        chunk_id, size = _CHUNK.unpack_from(data, offset)
        body = offset + 8
        if chunk_id == b"fmt ":
            if size < _FMT.size or body + size > len(data):
                raise WavError(f"WAV fmt chunk of {size} bytes is truncated")
            fmt = _FMT.unpack_from(data, body)
        elif chunk_id == b"data":
            if fmt is None:
                raise WavError("WAV data chunk comes before the fmt chunk")
            return _samples(fmt, data[body : body + size])
        offset = body + size + (size & 1)  # chunks are word aligned
    raise WavError("WAV file has no data chunk")


def _samples(fmt: tuple[int, int, int, int, int, int], payload: bytes) -> WavData:
    format_tag, channels, sample_rate, _, block_align, bits = fmt
    if format_tag not in (WAVE_FORMAT_PCM, WAVE_FORMAT_EXTENSIBLE) or bits != 16:
        raise WavError(f"WAV format {format_tag:#x} with {bits} bits is not 16-bit PCM")
    if channels < 1 or block_align != 2 * channels:
        raise WavError(f"WAV block align {block_align} does not match {channels} channels")
    whole = len(payload) - len(payload) % block_align
    samples = np.frombuffer(payload[:whole], dtype="<i2").astype(np.int16)
    return WavData(
        sample_rate=sample_rate, channels=channels, samples=samples.reshape(-1, channels)
    )
