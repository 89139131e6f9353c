"""Finished recordings leave the event loop here: convert, checksum, register, then tell.

One background thread does the blocking work in order (encoders are CPU-bound; running
them one at a time keeps the 20 ms tick on time). A recording that cannot be registered
(the store is down) is retried; its sidecar stays on disk, so even a crash before the retry
loses nothing: the next start registers it as an orphan.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Callable
from typing import Any

from media.conversion import finalize
from media.recorder import FinishedRecording
from media.recording_store import RecordingRow, RecordingStore

RETRY_AFTER_S = 10.0

StoreFactory = Callable[[], RecordingStore]
OnSaved = Callable[[FinishedRecording, RecordingRow], None]


class Registrar:
    def __init__(
        self, *, store: StoreFactory, fmt: str, on_saved: OnSaved,
        disk_low: Callable[[], bool] = lambda: False, log: Any = None,
    ) -> None:
        self._store_factory = store
        self._store: RecordingStore | None = None
        self.fmt = fmt
        self.on_saved = on_saved
        self.disk_low = disk_low
        self.log = log
        self._executor = concurrent.futures.ThreadPoolExecutor(1, "media-registrar")
        self._pending: set[asyncio.Future[None]] = set()
        self.registered = 0
        self.failed = 0

    def _store_now(self) -> RecordingStore:
        if self._store is None:
            self._store = self._store_factory()
        return self._store

    def _work(self, finished: FinishedRecording) -> RecordingRow:
        # Low on disk: register the WAV as it is rather than write a second file.
        fmt = "wav" if self.disk_low() else self.fmt
        return finalize(finished, fmt, self._store_now())

    def submit(self, finished: FinishedRecording) -> None:
        """Queue one recording (call on the loop)."""
        loop = asyncio.get_running_loop()
        task = loop.create_task(self._register(finished))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _register(self, finished: FinishedRecording) -> None:
        loop = asyncio.get_running_loop()
        while True:
            try:
                row = await loop.run_in_executor(self._executor, self._work, finished)
            except Exception as exc:
                self.failed += 1
                if self.log is not None:
                    self.log.warning("media.register_failed", wav=str(finished.wav),
                                     error=repr(exc), retry_s=RETRY_AFTER_S)
                self._store = None  # reopen: the pool may be what broke
                await asyncio.sleep(RETRY_AFTER_S)
                if not finished.wav.exists():
                    return
                continue
            self.registered += 1
            self.on_saved(finished, row)
            return

    async def drain(self, timeout: float) -> bool:
        """Wait for queued registrations; True if all finished in time."""
        if not self._pending:
            return True
        await asyncio.wait(set(self._pending), timeout=timeout)
        return not self._pending

    def close(self) -> None:
        for task in self._pending:
            task.cancel()
        self._executor.shutdown(wait=False, cancel_futures=True)
        store = self._store
        if store is not None:
            store.pool.close()
