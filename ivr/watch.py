"""Hot reload: notice scheme files that changed (by polling their mtime and size) and reload
them through the registry, which keeps the working version when the new file is broken.

Polling keeps this portable and thin: one ``os.stat`` per scheme per poll.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable
from pathlib import Path

from ivr.registry import ReloadResult, SchemeRegistry

Stamp = tuple[int, int] | None  # (mtime_ns, size); None: the file is missing


def _stamp(path: Path) -> Stamp:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_mtime_ns, st.st_size


class SchemeWatcher:
    def __init__(self, registry: SchemeRegistry,
                 stamp: Callable[[Path], Stamp] = _stamp) -> None:
        self.registry = registry
        self.stamp = stamp
        self._seen: dict[str, Stamp] = {name: stamp(registry.path(name))
                                        for name in registry.names()}

    def poll(self, now: float) -> list[ReloadResult]:
        """Reload every scheme whose file changed since the last poll; a missing file is
        left alone (an editor saving by rename) and retried on the next poll."""
        results = []
        for name in self.registry.names():
            stamp = self.stamp(self.registry.path(name))
            if stamp is None or stamp == self._seen.get(name):
                continue
            self._seen[name] = stamp
            results.append(self.registry.reload(name, now))
        return results


async def watch(watcher: SchemeWatcher, on_result: Callable[[ReloadResult], None], *,
                interval_s: float = 1.0, clock: Callable[[], float] = time.time) -> None:
    """Poll forever (cancel the task to stop); also drops versions no call needs any more."""
    while True:
        for result in watcher.poll(clock()):
            on_result(result)
        watcher.registry.collect(clock())
        await asyncio.sleep(interval_s)
