"""Recording file I/O on its own thread, so a slow disk cannot stall the 20 ms tick.

Seen on this machine: while another process created PostgreSQL databases, page-cache
writes blocked for seconds (dirty-page throttling); with writes on the event loop, every
call on the worker lost its audio meanwhile. Here the loop only queues blocks; the thread
writes, flushes and closes, and reports closed recordings back through ``report`` (the
worker passes ``loop.call_soon_threadsafe``-wrapped callbacks). File writes release the GIL.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable

import numpy as np
import numpy.typing as npt

from media.recorder import CallRecorder, FinishedRecording

Closed = Callable[[FinishedRecording | None], None]
_Job = tuple[CallRecorder, npt.NDArray[np.int16] | None, bool, Closed | None]


class DiskWriter:
    def __init__(self) -> None:
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="media-disk", daemon=True)
        self.failed: set[CallRecorder] = set()  # read by the loop: stop recording these
        self.errors = 0
        self._thread.start()

    def write(self, recorder: CallRecorder, block: npt.NDArray[np.int16], *,
              flush: bool) -> None:
        self._jobs.put((recorder, block, flush, None))

    def close(self, recorder: CallRecorder, block: npt.NDArray[np.int16],
              closed: Closed) -> None:
        """Write the last block, close; ``closed`` gets the result (None if the disk failed)."""
        self._jobs.put((recorder, block, True, closed))

    @property
    def backlog(self) -> int:
        return self._jobs.qsize()

    def stop(self, timeout: float = 10.0) -> None:
        """Finish every queued job, then end the thread."""
        self._jobs.put(None)
        self._thread.join(timeout)

    def _run(self) -> None:
        while (job := self._jobs.get()) is not None:
            recorder, block, flush, closed = job
            result: FinishedRecording | None = None
            try:
                if recorder.closed:
                    continue
                if block is not None and len(block):
                    recorder.write(block)
                if closed is not None:
                    result = recorder.close()
                elif flush:
                    recorder.flush()
            except OSError:  # e.g. ENOSPC: keep what reached the disk, the call goes on
                self.errors += 1
                self.failed.add(recorder)
                recorder.abandon()
                result = None
            if closed is not None:
                closed(result)
