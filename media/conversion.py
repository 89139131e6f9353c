"""After the call: compress the WAV (FLAC with sox, Opus with opusenc), checksum, register.

Blocking (subprocesses, hashing, one INSERT): the service runs :func:`finalize` in a thread.
sox here has no Opus writer (``sox -h`` lists ogg/vorbis only), so Opus comes from
``opusenc`` (Debian ``opus-tools``), which takes the 8 kHz stereo WAV as it is.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import shutil
import subprocess
from pathlib import Path

from media.recorder import FinishedRecording
from media.recording_store import RecordingRow, RecordingStore

FORMATS = ("wav", "flac", "opus")
CONVERT_TIMEOUT_S = 300.0


class ConversionError(RuntimeError):
    """The encoder is missing or failed; the message names the tool and its complaint."""


def _command(fmt: str, source: Path, target: Path) -> list[str]:
    if fmt == "flac":
        return ["sox", "-q", str(source), "-t", "flac", str(target)]
    if fmt == "opus":
        # Speech at 8 kHz: 24 kbit/s stereo keeps both parties intelligible at 1/5 the size.
        return ["opusenc", "--quiet", "--bitrate", "24", "--speech", str(source), str(target)]
    raise ConversionError(f"unknown recording format {fmt!r} (expected one of {FORMATS})")


def convert(source: Path, fmt: str) -> Path:
    """Encode ``source`` next to itself; the WAV stays (the caller removes it once the
    result is registered). ``wav`` returns ``source`` unchanged."""
    if fmt == "wav":
        return source
    target = source.with_suffix(f".{fmt}")
    partial = target.with_name(target.name + ".part")
    command = _command(fmt, source, partial)
    if shutil.which(command[0]) is None:
        raise ConversionError(f"{command[0]} is not installed (needed for {fmt} recordings)")
    try:
        result = subprocess.run(command, capture_output=True, text=True,
                                timeout=CONVERT_TIMEOUT_S, check=False)
    except subprocess.TimeoutExpired as exc:
        partial.unlink(missing_ok=True)
        raise ConversionError(f"{command[0]} took over {CONVERT_TIMEOUT_S} s on {source}") from exc
    if result.returncode != 0 or not partial.exists():
        partial.unlink(missing_ok=True)
        raise ConversionError(f"{command[0]} failed on {source} (exit {result.returncode}): "
                              f"{result.stderr.strip()[-300:]}")
    os.replace(partial, target)
    return target


def sha256_of(path: Path) -> tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def finalize(finished: FinishedRecording, fmt: str, store: RecordingStore) -> RecordingRow:
    """Convert, checksum, register; then drop the WAV (if converted) and the sidecar.

    If conversion fails the WAV itself is registered, so no recording is ever lost to a
    missing encoder. Registration is idempotent (keyed by path): an orphan registered twice
    by two restarts stays one row.
    """
    try:
        path = convert(finished.wav, fmt)
    except ConversionError:
        path, fmt = finished.wav, "wav"
    digest, size = sha256_of(path)
    started = dt.datetime.fromtimestamp(finished.info.started, dt.UTC)
    row = RecordingRow(
        call_id=finished.info.call_id, agent=finished.info.agent, queue=finished.info.queue,
        started_at=started, ended_at=started + dt.timedelta(seconds=finished.seconds),
        duration_s=finished.seconds, path=str(path), format=fmt, sha256=digest, bytes=size,
        complete=finished.complete,
    )
    row = store.insert(row)
    if path != finished.wav:
        finished.wav.unlink(missing_ok=True)
    finished.sidecar.unlink(missing_ok=True)
    return row
