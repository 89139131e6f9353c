"""Retention of recordings per queue: archive after N days, delete after M days.

Policies come from ``[[queue]] archive_after_days`` / ``delete_after_days`` (0 = never).
Archiving moves the file under ``[media] archive_dir`` (same relative path) and updates its
row; deleting removes the file and the row. Recordings of calls that reached no queue
follow no policy. One media worker (the first) runs :func:`apply_retention` periodically.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from media.recording_store import RecordingStore

DAY = dt.timedelta(days=1)


@dataclass(frozen=True, slots=True, kw_only=True)
class RetentionPolicy:
    queue: str
    archive_after_days: int = 0
    delete_after_days: int = 0


@dataclass(slots=True)
class RetentionReport:
    archived: int = 0
    deleted: int = 0
    missing: int = 0  # rows whose file had already gone (removed by hand)


def _archive_path(path: Path, recordings_dir: Path, archive_dir: Path) -> Path:
    try:
        relative = path.resolve().relative_to(recordings_dir.resolve())
    except ValueError:
        relative = Path(path.name)
    return archive_dir / relative


def _move(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.replace(source, target)
    except OSError:  # another file system: copy, then remove
        shutil.copy2(source, target)
        source.unlink()


def apply_retention(
    store: RecordingStore, policies: Iterable[RetentionPolicy], *, recordings_dir: Path,
    archive_dir: Path, now: dt.datetime,
) -> RetentionReport:
    report = RetentionReport()
    for policy in policies:
        if policy.delete_after_days:
            for row in store.older_than(policy.queue, now - policy.delete_after_days * DAY):
                path = Path(row.path)
                if path.exists():
                    path.unlink()
                else:
                    report.missing += 1
                assert row.id is not None
                store.delete(row.id)
                report.deleted += 1
        if policy.archive_after_days:
            due = store.older_than(policy.queue, now - policy.archive_after_days * DAY,
                                   archived=False)
            for row in due:
                path = Path(row.path)
                target = _archive_path(path, recordings_dir, archive_dir)
                if path.exists():
                    _move(path, target)
                elif not target.exists():
                    report.missing += 1
                    continue
                assert row.id is not None
                store.mark_archived(row.id, str(target), now)
                report.archived += 1
    return report
