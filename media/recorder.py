"""Call recordings as they happen: stereo WAV (caller left, agent right) plus a sidecar.

The WAV is written through :class:`media.wav.WavWriter`, flushed at least every second, so a
worker killed mid-call leaves a valid file up to its last flush. Next to it, a small JSON
sidecar says what the recording is (call, agent, queue, start, worker); it is removed only
once the recording is registered in the store. A sidecar found at start-up therefore marks an
orphan: :func:`find_orphans` lists them so the restarted worker can register what was saved.
"""

from __future__ import annotations

import json
import os
import re
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np
import numpy.typing as npt

from media.session import CLOCK_RATE
from media.wav import HEADER_SIZE, WavWriter

SIDECAR_SUFFIX = ".rec.json"
_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]")


@dataclass(frozen=True, slots=True, kw_only=True)
class RecordingInfo:
    call_id: str
    agent: str
    queue: str
    started: float  # unix time
    worker: str


@dataclass(frozen=True, slots=True, kw_only=True)
class FinishedRecording:
    """A closed WAV, ready for conversion and registration."""

    info: RecordingInfo
    wav: Path
    seconds: float
    complete: bool  # False: recovered after the worker died mid-call

    @property
    def sidecar(self) -> Path:
        return sidecar_of(self.wav)


def sidecar_of(wav: Path) -> Path:
    return wav.with_name(wav.name + SIDECAR_SUFFIX)


def recording_path(directory: Path, info: RecordingInfo) -> Path:
    """``<dir>/<YYYY-MM-DD>/<call>-<HHMMSS>.wav``, in UTC, the call id made file-safe."""
    stamp = time.gmtime(info.started)
    day = time.strftime("%Y-%m-%d", stamp)
    name = f"{_UNSAFE.sub('_', info.call_id)[:80]}-{time.strftime('%H%M%S', stamp)}"
    return directory / day / f"{name}.wav"


def _write_atomically(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


class CallRecorder:
    """Writes stereo frames through :class:`WavWriter`; :meth:`flush` makes them durable."""

    def __init__(self, directory: Path, info: RecordingInfo) -> None:
        self.info = info
        path = recording_path(directory, info)
        path.parent.mkdir(parents=True, exist_ok=True)
        n = 1
        while path.exists() or sidecar_of(path).exists():
            n += 1
            path = path.with_name(f"{path.stem.rsplit('~', 1)[0]}~{n}.wav")
        self.path = path
        _write_atomically(sidecar_of(path), json.dumps(asdict(info)))
        # Unbuffered: whole blocks go straight to the kernel (see ``media.wav.WavWriter``).
        self._file: BinaryIO = path.open("w+b", buffering=0)
        self._writer = WavWriter(self._file, sample_rate=CLOCK_RATE, channels=2)
        self.paused = False  # PCI pause: the worker writes silence meanwhile
        self.closed = False

    @property
    def frames(self) -> int:
        return self._writer.frames_written

    def write(self, stereo: npt.NDArray[np.int16]) -> None:
        """Samples of shape (n, 2): caller left, agent right."""
        self._writer.write(stereo)

    def flush(self) -> None:
        self._writer.flush()

    def close(self) -> FinishedRecording:
        if not self.closed:
            self.closed = True
            try:
                self._writer.flush()
            finally:
                self._file.close()
        return FinishedRecording(
            info=self.info, wav=self.path, seconds=self._writer.frames_written / CLOCK_RATE,
            complete=True,
        )

    def abandon(self) -> None:
        """Close without a final flush (the disk refused it): the file ends at the last one."""
        if not self.closed:
            self.closed = True
            try:
                self._file.close()
            except OSError:
                pass


def find_orphans(directory: Path, workers: set[str] | None = None) -> list[FinishedRecording]:
    """Recordings whose sidecar is still there: their worker died before registering them.

    ``workers`` limits the scan to sidecars written by those workers (None: all). The
    duration comes from the file's size, which covers the samples written before the crash;
    :func:`media.wav.read_wav` reads such files too.
    """
    found: list[FinishedRecording] = []
    if not directory.is_dir():
        return found
    for sidecar in sorted(directory.rglob("*" + SIDECAR_SUFFIX)):
        try:
            info = RecordingInfo(**json.loads(sidecar.read_text(encoding="utf-8")))
        except (OSError, ValueError, TypeError):
            continue  # half-written sidecar: the recording never got a sample
        if workers is not None and info.worker not in workers:
            continue
        wav = sidecar.with_name(sidecar.name[: -len(SIDECAR_SUFFIX)])
        if not wav.exists():
            sidecar.unlink(missing_ok=True)
            continue
        _repair_header(wav)
        data_bytes = max(0, wav.stat().st_size - HEADER_SIZE)
        found.append(
            FinishedRecording(info=info, wav=wav, seconds=data_bytes // 4 / CLOCK_RATE,
                              complete=False)
        )
    return found


def _repair_header(wav: Path) -> None:
    """Make the header's sizes match the whole frames on disk (samples written after the
    last flush are kept), so sox and other readers take the whole file."""
    size = wav.stat().st_size
    if size < HEADER_SIZE:
        return
    data = (size - HEADER_SIZE) // 4 * 4
    with wav.open("r+b") as f:
        f.seek(4)
        f.write((HEADER_SIZE - 8 + data).to_bytes(4, "little"))
        f.seek(HEADER_SIZE - 4)
        f.write(data.to_bytes(4, "little"))
        f.truncate(HEADER_SIZE + data)
