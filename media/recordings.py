"""The recordings of one media worker: what each tick adds, flushes, pauses and closes.

Each tick stores every recording's 20 ms stereo frame (caller left, agent right, a
whispering or barging supervisor mixed into the right) in one ring array; each recording
is written out once a second, on its own phase, by the disk thread (``media.diskwriter``).
Closing a recording hands the last block to that thread; ``on_recording`` follows once
the file is closed.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from media.batches import FLUSH_EVERY_TICKS, RecordingRing
from media.diskwriter import DiskWriter
from media.recorder import CallRecorder, FinishedRecording, RecordingInfo
from media.session import FRAME_SAMPLES, Endpoint, MediaError

RecordingSink = Callable[[FinishedRecording], None]


@dataclass(slots=True)
class ActiveRecording:
    recorder: CallRecorder
    left: Endpoint
    right: Endpoint
    row: int  # in the recording ring
    phase: int  # flushes when tick % 50 == phase
    since: int  # first tick not yet handed to the file
    extra_right: tuple[Endpoint, ...] = ()  # a whispering or barging supervisor


class Recordings:
    def __init__(self, directory: Path, *, worker_id: str, on_recording: RecordingSink) -> None:
        self.directory = directory
        self.worker_id = worker_id
        self.on_recording = on_recording
        self.active: dict[str, ActiveRecording] = {}
        self.started = 0
        self.failed = 0
        self._ring = RecordingRing()
        self._index: tuple[Any, ...] | None = None  # per-tick index arrays, rebuilt on change
        self._writer: DiskWriter | None = None  # None: writes happen synchronously
        self._loop: asyncio.AbstractEventLoop | None = None

    def __len__(self) -> int:
        return len(self.active)

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._writer = DiskWriter()

    def stop_writer(self) -> None:
        """Finish queued writes; later closes happen synchronously (worker shutdown)."""
        if self._writer is not None:
            self._writer.stop()
            self._writer = None

    # ------------------------------------------------------------------ requests

    def record(self, call_id: str, left: Endpoint, right: Endpoint, *, agent: str, queue: str,
               now: float | None, tick: int) -> Path:
        if call_id in self.active:
            return self.active[call_id].recorder.path
        info = RecordingInfo(call_id=call_id, agent=agent, queue=queue,
                             started=time.time() if now is None else now, worker=self.worker_id)
        recorder = CallRecorder(self.directory, info)
        phase = self.started % FLUSH_EVERY_TICKS
        self.started += 1
        self.active[call_id] = ActiveRecording(recorder=recorder, left=left, right=right,
                                               row=self._ring.take_row(), phase=phase,
                                               since=tick + 1)
        self._index = None
        return recorder.path

    def pause(self, call_id: str, paused: bool) -> None:
        active = self.active.get(call_id)
        if active is None:
            raise MediaError(f"call {call_id!r} is not being recorded on {self.worker_id}")
        active.recorder.paused = paused
        self._index = None

    def set_extra(self, call_id: str, voices: tuple[Endpoint, ...]) -> None:
        active = self.active.get(call_id)
        if active is not None:
            active.extra_right = voices
            self._index = None

    def forget_voice(self, endpoint: Endpoint) -> None:
        for active in self.active.values():
            if endpoint in active.extra_right:
                active.extra_right = ()
                self._index = None

    def finish_touching(self, endpoint: Endpoint, tick: int) -> None:
        for call_id, active in list(self.active.items()):
            if endpoint in (active.left, active.right):
                self.finish(call_id, tick)

    def finish(self, call_id: str, tick: int) -> FinishedRecording | None:
        """Stop recording ``call_id``; returns the result when closed synchronously."""
        active = self.active.pop(call_id, None)
        if active is None:
            return None
        self._index = None
        self._ring.rows.give(active.row)
        block = self._pending(active, tick)
        if self._writer is not None and self._loop is not None:
            loop = self._loop

            def closed(finished: FinishedRecording | None) -> None:
                loop.call_soon_threadsafe(self._closed, finished)

            self._writer.close(active.recorder, block, closed)
            return None
        try:
            active.recorder.write(block)
            finished: FinishedRecording | None = active.recorder.close()
        except OSError:
            active.recorder.abandon()
            finished = None
        self._closed(finished)
        return finished

    def _closed(self, finished: FinishedRecording | None) -> None:
        if finished is None:
            self.failed += 1
        else:
            self.on_recording(finished)

    # ------------------------------------------------------------------ per tick

    def _pending(self, active: ActiveRecording, last_tick: int) -> npt.NDArray[np.int16]:
        block = self._ring.since(active.row, active.since, last_tick).copy()
        active.since = last_tick + 1
        return block

    def store(self, pcm: npt.NDArray[np.int16], tick: int) -> None:
        """Add this tick's frame of every recording; flush those whose phase it is."""
        index = self._index
        if index is None:
            actives = list(self.active.values())
            index = self._index = (
                np.array([a.row for a in actives], dtype=np.intp),
                np.array([a.left.slot for a in actives], dtype=np.intp),
                np.array([a.right.slot for a in actives], dtype=np.intp),
                np.array([a.recorder.paused for a in actives], dtype=bool),
                [(i, a.extra_right) for i, a in enumerate(actives) if a.extra_right],
                {p: [a for a in actives if a.phase == p] for p in range(FLUSH_EVERY_TICKS)},
            )
        rows, left, right, paused, extras, by_phase = index
        stereo = np.stack([pcm[left], pcm[right]], axis=2)
        for i, voices in extras:
            extra = sum(pcm[e.slot].astype(np.int32) for e in voices)
            stereo[i, :, 1] = np.clip(stereo[i, :, 1] + extra, -32768, 32767)
        if paused.any():
            stereo[paused] = 0  # PCI: the paused span is silence in the file
        self._ring.store(tick, rows, stereo)
        writer = self._writer
        due = by_phase[tick % FLUSH_EVERY_TICKS]
        if writer is not None:
            writer.write_many([(a.recorder, self._pending(a, tick)) for a in due], flush=True)
            if writer.failed:
                self._drop(writer.failed)
            return
        for active in due:
            try:
                active.recorder.write(self._pending(active, tick))
                active.recorder.flush()
            except OSError:
                self._drop({active.recorder})

    def skip(self, ticks: int, last_tick: int) -> None:
        """``ticks`` ticks after ``last_tick`` were given up: silence keeps the duration."""
        silence = np.zeros((ticks * FRAME_SAMPLES, 2), dtype=np.int16)
        for active in self.active.values():
            block = np.concatenate([self._pending(active, last_tick), silence])
            active.since = last_tick + ticks + 1
            if self._writer is not None:
                self._writer.write(active.recorder, block, flush=False)
            else:
                active.recorder.write(block)

    def _drop(self, failed: set[CallRecorder]) -> None:
        """Recordings the disk refused (ENOSPC...): what reached it stays, the call goes on."""
        for call_id, active in list(self.active.items()):
            if active.recorder in failed:
                failed.discard(active.recorder)
                self.failed += 1
                del self.active[call_id]
                self._ring.rows.give(active.row)
                self._index = None
                active.recorder.abandon()
