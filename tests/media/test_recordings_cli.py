"""Recordings after the call: conversion, registry, retention, and the ``recordings`` CLI."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from media.conversion import convert, finalize, sha256_of
from media.recorder import CallRecorder, FinishedRecording, RecordingInfo, find_orphans
from media.recording_store import RecordingStore
from media.retention import RetentionPolicy, apply_retention
from media.wav import read_wav
from store.db import open_pool
from tests.media.phones import tone

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def store(db_url: str) -> Iterator[RecordingStore]:
    pool = open_pool(db_url, max_size=2)
    try:
        yield RecordingStore(pool)
    finally:
        pool.close()


def make_recording(directory: Path, call_id: str, seconds: float = 1.0, *,
                   queue: str = "sales", started: float | None = None) -> FinishedRecording:
    info = RecordingInfo(call_id=call_id, agent="anna", queue=queue,
                         started=time.time() if started is None else started, worker="media-1")
    recorder = CallRecorder(directory, info)
    n = int(seconds * 8000)
    recorder.write(np.stack([tone(440.0, n), tone(1000.0, n)], axis=1))
    return recorder.close()


@pytest.mark.parametrize("fmt", ["flac", "opus"])
def test_conversion_keeps_both_channels_and_the_duration(tmp_path: Path, fmt: str) -> None:
    finished = make_recording(tmp_path, "conv", 1.5)
    out = convert(finished.wav, fmt)
    assert out.suffix == f".{fmt}" and out.stat().st_size < finished.wav.stat().st_size
    info = subprocess.run(["soxi", str(out)] if fmt == "flac" else ["opusinfo", str(out)],
                          capture_output=True, text=True, check=True).stdout
    assert "Channels       : 2" in info if fmt == "flac" else "Channels: 2" in info
    if fmt == "flac":
        decoded = read_wav(subprocess.run(["sox", str(out), "-t", "wav", "-"],
                                          capture_output=True, check=True).stdout)
        assert np.array_equal(decoded.samples, read_wav(finished.wav.read_bytes()).samples)
    else:
        assert "Playback length: 0m:01.5" in info


def test_registration_is_idempotent_and_checksummed(tmp_path: Path,
                                                    store: RecordingStore) -> None:
    finished = make_recording(tmp_path, "reg", 1.0)
    row = finalize(finished, "flac", store)
    assert not finished.wav.exists() and not finished.sidecar.exists()
    assert (row.sha256, row.bytes) == sha256_of(Path(row.path))
    assert row.duration_s == 1.0 and row.format == "flac" and row.complete
    assert store.insert(row).id == row.id  # the same path registers once
    assert [r.id for r in store.find()] == [row.id]


def test_orphans_are_found_with_their_duration(tmp_path: Path) -> None:
    info = RecordingInfo(call_id="orphan", agent="", queue="", started=time.time(),
                         worker="media-2")
    recorder = CallRecorder(tmp_path, info)
    recorder.write(np.zeros((8000, 2), dtype=np.int16))
    recorder.flush()
    recorder.write(np.ones((4000, 2), dtype=np.int16))  # written after the last flush
    recorder.abandon()  # as if killed: no final header update
    assert find_orphans(tmp_path, {"media-1"}) == []
    (orphan,) = find_orphans(tmp_path, {"media-2"})
    assert orphan.info == info and not orphan.complete
    assert orphan.seconds == 1.5  # the header was repaired to cover every whole frame
    assert len(read_wav(orphan.wav.read_bytes()).samples) == 12000


def test_retention_archives_then_deletes_per_queue(tmp_path: Path,
                                                   store: RecordingStore) -> None:
    now = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)
    rec, archive = tmp_path / "rec", tmp_path / "archive"
    ages = {"fresh": 1, "old": 10, "ancient": 40}
    rows = {}
    for name, days in ages.items():
        started = (now - dt.timedelta(days=days)).timestamp()
        rows[name] = finalize(make_recording(rec, name, 0.2, started=started), "wav", store)
    other = finalize(make_recording(rec, "other-queue", 0.2, queue="support",
                                    started=(now - dt.timedelta(days=40)).timestamp()),
                     "wav", store)
    policy = RetentionPolicy(queue="sales", archive_after_days=7, delete_after_days=30)
    report = apply_retention(store, [policy], recordings_dir=rec, archive_dir=archive, now=now)
    assert (report.archived, report.deleted) == (1, 1)
    left = {r.call_id: r for r in store.find()}
    assert set(left) == {"fresh", "old", "other-queue"}
    assert left["fresh"].path == rows["fresh"].path and left["fresh"].archived_at is None
    assert Path(left["old"].path).is_relative_to(archive) and Path(left["old"].path).exists()
    assert not Path(rows["old"].path).exists() and not Path(rows["ancient"].path).exists()
    assert left["other-queue"].path == other.path
    again = apply_retention(store, [policy], recordings_dir=rec, archive_dir=archive, now=now)
    assert (again.archived, again.deleted) == (0, 0)


CONFIG = """
[center]
data_dir = "data"
[store]
url = "{db_url}"
[[queue]]
name = "sales"
archive_after_days = 7
delete_after_days = 30
moh = "default"
[[agent]]
login = "olga"
name = "Olga"
password = "op-pass"
extension = "1001"
[[agent]]
login = "quinn"
name = "Quinn"
password = "qm-pass"
extension = "1002"
roles = ["operator", "quality-manager"]
[[ivr]]
name = "main"
scheme = "main.yaml"
"""


def contactor(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    return subprocess.run([sys.executable, "-m", "cli.main", *map(str, args)], cwd=cwd,
                          env=env, capture_output=True, text=True, timeout=60, check=False)


def test_recordings_cli_lists_downloads_and_checks_rights(
        tmp_path: Path, db_url: str, store: RecordingStore) -> None:
    config = tmp_path / "c.toml"
    config.write_text(CONFIG.format(db_url=db_url))
    (tmp_path / "main.yaml").write_text("start: hello\nnodes:\n  hello:\n    play: welcome\n")
    data = tmp_path / "data"
    data.mkdir()
    row = finalize(make_recording(data / "recordings", "call-42", 0.5), "flac", store)
    common = ("--config", config, "--data", data)

    listed = contactor("recordings", "--json", *common, cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    (item,) = json.loads(listed.stdout)
    assert (item["call_id"], item["format"], item["sha256"]) == ("call-42", "flac", row.sha256)

    out = tmp_path / "copy.flac"
    got = contactor("recordings", "get", "call-42", "-o", out, "--user", "quinn",
                    "--password", "qm-pass", *common, cwd=tmp_path)
    assert got.returncode == 0, got.stderr
    assert out.read_bytes() == Path(row.path).read_bytes()

    denied = contactor("recordings", "get", "call-42", "-o", out, "--user", "olga",
                       "--password", "op-pass", *common, cwd=tmp_path)
    assert denied.returncode == 4 and "may not read recordings" in denied.stderr
    wrong = contactor("recordings", "--user", "quinn", "--password", "nope", *common,
                      cwd=tmp_path)
    assert wrong.returncode == 4 and "wrong user or password" in wrong.stderr
    missing = contactor("recordings", "get", "nope", "-o", out, *common, cwd=tmp_path)
    assert missing.returncode == 1 and "no recording of call 'nope'" in missing.stderr

    Path(row.path).write_bytes(b"tampered")
    tampered = contactor("recordings", "get", "call-42", "-o", out, *common, cwd=tmp_path)
    assert tampered.returncode == 1 and "sha256" in tampered.stderr


def test_retention_and_media_config_keys(tmp_path: Path) -> None:
    from conf.load import parse_config
    from conf.schema import ConfigError

    (tmp_path / "main.yaml").write_text("start: x\n")
    config = parse_config(CONFIG.format(db_url="postgresql://x/y")
                          + "[media]\ninband_dtmf = false\nrtp_host = \"127.0.0.2\"\n",
                          base_dir=tmp_path)
    sales = config.queue("sales")
    assert (sales.archive_after_days, sales.delete_after_days) == (7, 30)
    assert config.media.archive_dir == tmp_path / "data" / "recordings-archive"
    assert config.media.inband_dtmf is False and config.media.rtp_host == "127.0.0.2"
    with pytest.raises(ConfigError, match="delete_after_days: expected more days than "
                       "archive_after_days"):
        parse_config('[[queue]]\nname = "q"\narchive_after_days = 9\ndelete_after_days = 3\n')
