"""Glue between the actor host and the store: journal appends and state snapshots.

The host speaks messages; the store speaks rows. Events become JSON (``bus.message.as_dict``)
so reports can query their fields; snapshots are the codec's bytes so a restarted actor gets
back exactly the record it had - and so are its pending timers (:func:`encode_timers`), saved
with the state so that a restarted host re-arms them (:mod:`actors.durable_timers`).
:class:`MemorySnapshots` is the same contract in memory, for tests and bare hosts.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from typing import Any

import msgpack

from actors.durable_timers import PendingTimer, Restored
from bus.codec import Codec
from bus.errors import DecodeError
from bus.message import Message, as_dict
from store.journal import JournalEvent, JournalFullError, JournalReader, Snapshot
from store.journal_writer import JournalWriter

#: version of the timers blob: [TIMERS_FORMAT, [[key, deadline, message], ...]]
TIMERS_FORMAT = 1


def encode_timers(codec: Codec, timers: Sequence[PendingTimer]) -> bytes | None:
    """The timers as one msgpack blob (``None`` for no timer: the row's NULL)."""
    if not timers:
        return None
    rows = [[t.key, float(t.deadline), codec.to_obj(t.msg)] for t in timers]
    packed: bytes = msgpack.packb([TIMERS_FORMAT, rows], use_bin_type=True)
    return packed


def decode_timers(codec: Codec, data: bytes | None) -> tuple[PendingTimer, ...]:
    """Inverse of :func:`encode_timers`; raises :class:`DecodeError` naming the bad timer."""
    if not data:
        return ()
    try:
        obj = msgpack.unpackb(data, raw=False, use_list=False, strict_map_key=False)
    except Exception as exc:  # msgpack raises several unrelated types
        raise DecodeError(f"timers: not msgpack: {exc}") from None
    if not isinstance(obj, tuple) or len(obj) != 2 or obj[0] != TIMERS_FORMAT:
        raise DecodeError(f"timers: expected [{TIMERS_FORMAT}, [...]], got {obj!r:.80}")
    out = []
    for i, row in enumerate(obj[1]):
        if (not isinstance(row, tuple) or len(row) != 3 or not isinstance(row[0], str)
                or not isinstance(row[1], float)):
            raise DecodeError(f"timers[{i}]: expected [key, deadline, message], got {row!r:.80}")
        try:
            msg = codec.from_obj(row[2])
        except DecodeError as exc:
            raise DecodeError(f"timers[{i}] (key {row[0]!r}): {exc}") from exc
        out.append(PendingTimer(key=row[0], deadline=row[1], msg=msg))
    return tuple(out)


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
    """Snapshots in the store's ``snapshot`` table; a :class:`TimerSnapshotStore`."""

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
        restored = await self.restore(address)
        return None if restored is None else (restored.state, restored.actor_seq)

    async def restore(self, address: str) -> Restored | None:
        """Like :meth:`load`, with the actor's pending timers."""
        loop = asyncio.get_running_loop()
        snap, last = await loop.run_in_executor(None, self._read, address)
        if snap is None and last is None:
            return None
        return self._restored(address, snap, last, strict=True)

    def _read(self, address: str) -> tuple[Snapshot | None, int | None]:
        return self.reader.load_snapshot(address), self.reader.last_actor_seq(address)

    def _restored(self, address: str, snap: Snapshot | None, last: int | None, *,
                  strict: bool) -> Restored:
        seq = max(snap.actor_seq if snap is not None else 0, last or 0)
        wake_at = snap.wake_at if snap is not None else None
        if snap is None or not snap.state:
            return Restored(address=address, state=None, actor_seq=seq, wake_at=wake_at)
        try:
            state = self.codec.decode(snap.state)
            timers = decode_timers(self.codec, snap.timers)
        except DecodeError as exc:
            # A snapshot from an incompatible build: say so; the host starts the actor fresh.
            text = f"snapshot of {address} cannot be read: {exc}"
            if strict:
                raise DecodeError(text) from exc
            return Restored(address=address, state=None, actor_seq=seq, wake_at=wake_at,
                            problem=text)
        return Restored(address=address, state=state, actor_seq=seq, timers=timers,
                        wake_at=wake_at)

    async def waking(self, kinds: Sequence[str], after: tuple[float, str] | None,
                     limit: int) -> list[Restored]:
        """A page of actors of ``kinds`` with timers pending, earliest first (recovery);
        decoded off the loop, an unreadable one carries its ``problem``."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(None, self._waking, list(kinds), after, limit)

    def _waking(self, kinds: list[str], after: tuple[float, str] | None,
                limit: int) -> list[Restored]:
        rows = self.reader.snapshots_waking(kinds, after, limit)
        return [self._restored(snap.actor, snap, last, strict=False) for snap, last in rows]

    def save(self, address: str, state: Message, actor_seq: int) -> None:
        self.save_with_timers(address, state, actor_seq, ())

    def save_with_timers(self, address: str, state: Message, actor_seq: int,
                         timers: Sequence[PendingTimer]) -> None:
        wake_at = min((t.deadline for t in timers), default=None)
        self._save(address, actor_seq, self.codec.encode(state),
                   encode_timers(self.codec, timers), wake_at)

    def delete(self, address: str, actor_seq: int) -> None:
        # An empty state marks "stopped": the next activation starts from initial(), but
        # keeps counting the actor's journal sequence from here. A stopped actor has no timer.
        self._save(address, actor_seq, b"", None, None)

    def _save(self, address: str, actor_seq: int, state: bytes, timers: bytes | None,
              wake_at: float | None) -> None:
        ts = self.wall_clock()
        if not self._tasks:  # else queue behind the saves that wait for room, in order
            try:
                self.writer.save_snapshot_nowait(address, actor_seq, state, ts, timers=timers,
                                                 wake_at=wake_at)
                return
            except JournalFullError:
                pass  # the queue is full: wait for room in a task, the host does not wait
        fut = asyncio.ensure_future(
            self.writer.save_snapshot(address, actor_seq, state, ts, timers=timers,
                                      wake_at=wake_at)
        )
        self._tasks.add(fut)
        fut.add_done_callback(self._tasks.discard)


class MemorySnapshots:
    """The snapshot contract in memory (a :class:`TimerSnapshotStore`), for tests and bare
    hosts: one instance shared by two hosts in turn stands for the database across a crash.

    Records are kept as they are (messages are immutable); like the table, an older
    ``actor_seq`` never overwrites a newer one."""

    def __init__(self) -> None:
        self.rows: dict[str, Restored] = {}
        self.saves = 0

    async def load(self, address: str) -> tuple[Message | None, int] | None:
        restored = await self.restore(address)
        return None if restored is None else (restored.state, restored.actor_seq)

    async def restore(self, address: str) -> Restored | None:
        await asyncio.sleep(0)  # a real store answers later, never inline
        return self.rows.get(address)

    def save(self, address: str, state: Message, actor_seq: int) -> None:
        self.save_with_timers(address, state, actor_seq, ())

    def save_with_timers(self, address: str, state: Message, actor_seq: int,
                         timers: Sequence[PendingTimer]) -> None:
        self._put(Restored(address=address, state=state, actor_seq=actor_seq,
                           timers=tuple(timers),
                           wake_at=min((t.deadline for t in timers), default=None)))

    def delete(self, address: str, actor_seq: int) -> None:
        self._put(Restored(address=address, state=None, actor_seq=actor_seq))

    def _put(self, restored: Restored) -> None:
        old = self.rows.get(restored.address)
        if old is None or old.actor_seq <= restored.actor_seq:
            self.rows[restored.address] = restored
            self.saves += 1

    async def waking(self, kinds: Sequence[str], after: tuple[float, str] | None,
                     limit: int) -> list[Restored]:
        await asyncio.sleep(0)
        cursor = after if after is not None else (float("-inf"), "")
        wanted = set(kinds)
        page = sorted(
            (r.wake_at, r.address) for r in self.rows.values()
            if r.wake_at is not None and r.address.partition("/")[0] in wanted
            and (r.wake_at, r.address) > cursor
        )[:limit]
        return [self.rows[address] for _, address in page]
