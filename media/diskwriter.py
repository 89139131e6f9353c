"""Recording file I/O on its own thread, so a slow disk cannot stall the 20 ms tick.

Seen on this machine: while another process created PostgreSQL databases, page-cache
writes blocked for seconds (dirty-page throttling); with writes on the event loop, every
call on the worker lost its audio meanwhile. Here the loop only queues blocks; the thread
writes, flushes and closes, and reports closed recordings back through ``report`` (the
worker passes ``loop.call_soon_threadsafe``-wrapped callbacks). File writes release the GIL.

A tick's blocks travel as one job (:meth:`DiskWriter.write_many`): one wake-up of the
thread per tick rather than one per recording, so the thread asks for the GIL, which the
event loop needs back at every poll, as seldom as it can.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable

import numpy as np
import numpy.typing as npt

from media.recorder import CallRecorder, FinishedRecording

Closed = Callable[[FinishedRecording | None], None]
Block = tuple[CallRecorder, npt.NDArray[np.int16]]
_Job = tuple[list[Block], bool, Closed | None]


class DiskWriter:
    def __init__(self) -> None:
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="media-disk", daemon=True)
        self.failed: set[CallRecorder] = set()  # read by the loop: stop recording these
        self.errors = 0
        self._thread.start()

    def write(self, recorder: CallRecorder, block: npt.NDArray[np.int16], *,
              flush: bool) -> None:
        self._jobs.put(([(recorder, block)], flush, None))

    def write_many(self, blocks: list[Block], *, flush: bool) -> None:
        """Several recordings' blocks in one job (a tick's flushes)."""
        if blocks:
            self._jobs.put((blocks, flush, None))

    def close(self, recorder: CallRecorder, block: npt.NDArray[np.int16],
              closed: Closed) -> None:
        """Write the last block, close; ``closed`` gets the result (None if the disk failed)."""
        self._jobs.put(([(recorder, block)], True, closed))

    @property
    def backlog(self) -> int:
        return self._jobs.qsize()

    def stop(self, timeout: float = 10.0) -> None:
        """Finish every queued job, then end the thread."""
        self._jobs.put(None)
        self._thread.join(timeout)

    def _run(self) -> None:
        while (job := self._jobs.get()) is not None:
            blocks, flush, closed = job
            for recorder, block in blocks:
                result = self._write(recorder, block, flush=flush, close=closed is not None)
                if closed is not None:
                    closed(result)

    def _write(self, recorder: CallRecorder, block: npt.NDArray[np.int16], *, flush: bool,
               close: bool) -> FinishedRecording | None:
        try:
            if recorder.closed:
                return None
            if len(block):
                recorder.write(block)
            if close:
                return recorder.close()
            if flush:
                recorder.flush()
        except OSError:  # e.g. ENOSPC: keep what reached the disk, the call goes on
            self.errors += 1
            self.failed.add(recorder)
            recorder.abandon()
        return None
