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

    async def load(self, address: str) -> tuple[Message | None, int] | None:
        """The last state (``None`` if the actor had stopped) and the actor's journal sequence.

        The sequence is the larger of the snapshot's and the journal's, so an actor whose
        snapshot lagged its last events never reuses a sequence number (which the journal
        would silently treat as a re-send)."""
        loop = asyncio.get_running_loop()
        snap, last = await loop.run_in_executor(None, self._read, address)
        if snap is None and last is None:
            return None
        seq = max(snap.actor_seq if snap is not None else 0, last or 0)
        if snap is None or not snap.state:
            return None, seq
        try:
            return self.codec.decode(snap.state), seq
        except DecodeError as exc:
            # A snapshot from an incompatible build: say so; the host starts the actor fresh.
            raise DecodeError(f"snapshot of {address} cannot be read: {exc}") from exc

    def _read(self, address: str) -> tuple[Any, int | None]:
        return self.reader.load_snapshot(address), self.reader.last_actor_seq(address)

    def save(self, address: str, state: Message, actor_seq: int) -> None:
        self._save(address, actor_seq, self.codec.encode(state))

    def delete(self, address: str, actor_seq: int) -> None:
        # An empty state marks "stopped": the next activation starts from initial(), but
        # keeps counting the actor's journal sequence from here.
        self._save(address, actor_seq, b"")

    def _save(self, address: str, actor_seq: int, state: bytes) -> None:
        fut = asyncio.ensure_future(
            self.writer.save_snapshot(address, actor_seq, state, self.wall_clock())
        )
        self._tasks.add(fut)
        fut.add_done_callback(self._tasks.discard)
