"""Glue between the actor host and the store: journal appends and state snapshots.

The host speaks messages; the store speaks rows. Events become JSON (``bus.message.as_dict``)
so reports can query their fields; snapshots are the codec's bytes so a restarted actor gets
back exactly the record it had.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from bus.codec import Codec
from bus.errors import DecodeError
from bus.message import Message, as_dict
from store.journal import JournalEvent, JournalReader
from store.journal_writer import JournalWriter


class StoreJournal:
    def __init__(self, writer: JournalWriter, wall_clock: Callable[[], float] = time.time) -> None:
        self.writer = writer
        self.wall_clock = wall_clock

    def append(self, address: str, actor_seq: int, event: Message) -> asyncio.Future[bool]:
        return self.writer.append_nowait(
            JournalEvent(actor=address, actor_seq=actor_seq, kind=event.TAG,
                         ts=self.wall_clock(), payload=as_dict(event))
        )


class StoreSnapshots:
    def __init__(self, writer: JournalWriter, reader: JournalReader, codec: Codec,
                 wall_clock: Callable[[], float] = time.time) -> None:
        self.writer = writer
        self.reader = reader
        self.codec = codec
        self.wall_clock = wall_clock
        self._tasks: set[asyncio.Future[Any]] = set()

    async def load(self, address: str) -> tuple[Message, int] | None:
        loop = asyncio.get_running_loop()
        snap = await loop.run_in_executor(None, self.reader.load_snapshot, address)
        if snap is None:
            return None
        try:
            return self.codec.decode(snap.state), snap.actor_seq
        except DecodeError as exc:
            # A snapshot from an incompatible build: say so and start the actor fresh.
            raise DecodeError(f"snapshot of {address} cannot be read: {exc}") from exc

    def save(self, address: str, state: Message, actor_seq: int) -> None:
        fut = asyncio.ensure_future(
            self.writer.save_snapshot(address, actor_seq, self.codec.encode(state), self.wall_clock())
        )
        self._tasks.add(fut)
        fut.add_done_callback(self._tasks.discard)

    def delete(self, address: str) -> None:
        # An empty state marks "stopped": the next activation starts from initial().
        self.save_raw(address)

    def save_raw(self, address: str) -> None:
        fut = asyncio.ensure_future(self.writer.save_snapshot(address, 2**62, b"", self.wall_clock()))
        self._tasks.add(fut)
        fut.add_done_callback(self._tasks.discard)
