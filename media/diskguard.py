"""Disk guard: recordings stop before the disk fills; calls go on.

Below ``min_free_mb`` free on the recordings' file system the guard turns *low*: the worker
finishes the recordings in progress, refuses new ones and publishes a ``MediaAlarm``. It
turns back *ok* only above the threshold plus a margin, so a disk hovering at the limit
does not flap alarms.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

from media.messages import MediaAlarm

MB = 1 << 20
ALARM_LOW = "media.disk_low"
ALARM_OK = "media.disk_ok"

FreeBytes = Callable[[Path], int]


def free_bytes(path: Path) -> int:
    return shutil.disk_usage(path).free


class DiskGuard:
    def __init__(
        self, path: Path, *, min_free_mb: int, free: FreeBytes = free_bytes,
        margin: float = 0.1, worker: str = "",
    ) -> None:
        self.path = path
        self.min_free = min_free_mb * MB
        self.resume_at = self.min_free + max(int(self.min_free * margin), MB)
        self._free = free
        self._worker = worker
        self.low = False
        self.last_free: int | None = None

    def check(self) -> MediaAlarm | None:
        """Measure; an alarm when the state changes, else None."""
        path = self.path
        while not path.exists() and path != path.parent:
            path = path.parent  # not made yet: its file system is the parent's
        try:
            free = self._free(path)
        except OSError as exc:
            free = 0
            reason = f"cannot measure free space on {path}: {exc}"
        else:
            reason = ""
        self.last_free = free
        where = f" (worker {self._worker})" if self._worker else ""
        if not self.low and free < self.min_free:
            self.low = True
            return MediaAlarm(
                code=ALARM_LOW,
                text=reason or f"{free // MB} MB free on {path}, below the {self.min_free // MB}"
                f" MB minimum: recordings stopped, calls go on{where}",
            )
        if self.low and free >= self.resume_at:
            self.low = False
            return MediaAlarm(
                code=ALARM_OK, text=f"{free // MB} MB free on {path}: recording resumes{where}"
            )
        return None
