"""Batched, acknowledged journal writes off the actors' hot path (asyncio).

``append`` queues an event and returns a future that resolves only after the batch
holding it is COMMITTED, so a crash of the writer's process loses nothing that was
acknowledged.  Batches flush when ``batch_size`` items wait or ``flush_interval``
seconds after the first one arrived; while one batch commits the next one fills
(group commit).  The queue is bounded: ``append`` waits for room (backpressure).

If the connection fails, the whole batch is retried on a new connection: rows are
idempotent on ``(actor, actor_seq)``, so a batch whose COMMIT outcome was unknown
is not duplicated.  Rows the database rejects fail only their own futures.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import psycopg

from store.journal import (
    COPY_STAGE,
    CREATE_STAGE,
    INSERT_FROM_STAGE,
    INSERT_ONE,
    JOURNAL_LOCK_KEY,
    LOCK_JOURNAL,
    UPSERT_SNAPSHOT,
    JournalClosedError,
    JournalEvent,
    JournalFullError,
    JournalWriteError,
    check_timers,
    encode_payload,
    validate_event,
)


@dataclass(frozen=True, slots=True)
class _Row:
    """An event ready for COPY (``payload`` already JSON text)."""

    ts: float
    actor: str
    actor_seq: int
    kind: str
    payload: str


@dataclass(frozen=True, slots=True)
class _SnapshotRow:
    actor: str
    actor_seq: int
    ts: float
    state: bytes
    timers: bytes | None = None
    wake_at: float | None = None


_Item = tuple[_Row | _SnapshotRow, "asyncio.Future[bool]"]


class JournalWriter:
    """One connection, one flusher task; create and use it inside a running event loop."""

    def __init__(
        self,
        url: str,
        *,
        batch_size: int = 500,
        flush_interval: float = 0.005,
        max_pending: int = 10_000,
        retry_max_delay: float = 1.0,
    ) -> None:
        if batch_size < 1 or max_pending < batch_size:
            raise ValueError("need 1 <= batch_size <= max_pending")
        self._url = url
        self._batch_size = batch_size
        self._flush_interval = flush_interval
        self._max_pending = max_pending
        self._retry_max_delay = retry_max_delay
        self._items: collections.deque[_Item] = collections.deque()
        self._has_items = asyncio.Event()
        self._batch_ready = asyncio.Event()
        self._has_room = asyncio.Event()
        self._has_room.set()
        self._closing = False
        self._conn: psycopg.AsyncConnection[Any] | None = None
        self._task: asyncio.Task[None] | None = None
        self._inflight: list[_Item] = []
        self.committed_batches = 0
        self.committed_items = 0

    async def start(self) -> None:
        """Connect and start flushing (the first connection error is raised here)."""
        if self._task is not None:
            return
        self._conn = await self._connect()
        self._task = asyncio.create_task(self._run(), name="journal-writer")

    async def __aenter__(self) -> JournalWriter:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    @property
    def pending(self) -> int:
        """Items queued and not yet taken into a batch."""
        return len(self._items)

    async def append(self, event: JournalEvent) -> asyncio.Future[bool]:
        """Queue ``event``, waiting while the queue is full; the returned future resolves
        to ``True`` once committed, ``False`` if ``(actor, actor_seq)`` was already there."""
        row = self._row(event)
        while len(self._items) >= self._max_pending and not self._closing:
            self._has_room.clear()
            await self._has_room.wait()
        return self._enqueue(row)

    def append_nowait(self, event: JournalEvent) -> asyncio.Future[bool]:
        """Like :meth:`append` but raises :class:`JournalFullError` instead of waiting."""
        row = self._row(event)
        if len(self._items) >= self._max_pending:
            raise JournalFullError(f"journal writer has {len(self._items)} items pending")
        return self._enqueue(row)

    async def save_snapshot(
        self, actor: str, actor_seq: int, state: bytes, ts: float, *,
        timers: bytes | None = None, wake_at: float | None = None,
    ) -> asyncio.Future[bool]:
        """Queue a snapshot (with the actor's pending ``timers`` and their earliest deadline
        ``wake_at``, or neither); committed in order with the events queued before it.
        Resolves to ``False`` if a snapshot with a higher actor_seq exists."""
        if not actor or actor_seq < 0:
            raise ValueError(f"snapshot needs an actor and actor_seq >= 0; got "
                             f"{actor!r}#{actor_seq}")
        check_timers(actor, timers, wake_at)
        while len(self._items) >= self._max_pending and not self._closing:
            self._has_room.clear()
            await self._has_room.wait()
        row = _SnapshotRow(actor, actor_seq, ts, bytes(state),
                           None if timers is None else bytes(timers), wake_at)
        return self._enqueue(row)

    async def flush(self) -> None:
        """Wait until everything queued so far is committed (or failed), without lingering."""
        futures = [future for _, future in [*self._inflight, *self._items]]
        self._batch_ready.set()
        if futures:
            await asyncio.wait(futures)

    async def close(self, timeout: float | None = None) -> None:
        """Commit everything queued, then disconnect.  Further appends raise.

        If the database stays unreachable for ``timeout`` seconds, give up: the
        futures not yet resolved fail with :class:`JournalClosedError`.
        """
        self._closing = True
        self._has_room.set()
        self._has_items.set()
        self._batch_ready.set()
        if self._task is not None:
            done, _ = await asyncio.wait([self._task], timeout=timeout)
            if not done:
                self._task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._task
        if self._conn is not None:
            await self._conn.close()
            self._conn = None

    def _row(self, event: JournalEvent) -> _Row:
        validate_event(event)
        return _Row(event.ts, event.actor, event.actor_seq, event.kind, encode_payload(event))

    def _enqueue(self, row: _Row | _SnapshotRow) -> asyncio.Future[bool]:
        if self._closing or self._task is None or self._task.done():
            raise JournalClosedError("journal writer is not running")
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._items.append((row, future))
        self._has_items.set()
        if len(self._items) >= self._batch_size:
            self._batch_ready.set()
        return future

    async def _connect(self) -> psycopg.AsyncConnection[Any]:
        conn = await psycopg.AsyncConnection.connect(self._url, autocommit=True)
        await conn.execute(CREATE_STAGE)
        return conn

    async def _run(self) -> None:
        try:
            while True:
                await self._has_items.wait()
                if not self._items:
                    if self._closing:
                        return
                    self._has_items.clear()
                    continue
                if len(self._items) < self._batch_size and not self._closing:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._batch_ready.wait(), self._flush_interval)
                self._batch_ready.clear()
                count = min(self._batch_size, len(self._items))
                self._inflight = [self._items.popleft() for _ in range(count)]
                if len(self._items) < self._max_pending:
                    self._has_room.set()
                await self._write_with_retry(self._inflight)
                self._inflight = []
        finally:
            for _, future in [*self._inflight, *self._items]:
                if not future.done():
                    future.set_exception(JournalClosedError("journal writer stopped"))
            self._inflight = []
            self._items.clear()

    async def _write_with_retry(self, batch: list[_Item]) -> None:
        delay = 0.05
        while True:
            try:
                if self._conn is None or self._conn.closed:
                    self._conn = await self._connect()
                results = await self._write(self._conn, batch)
            except psycopg.OperationalError:
                # COMMIT outcome unknown: retry on a new connection; idempotent rows
                # make a second attempt harmless.
                if self._conn is not None:
                    await self._conn.close()
                    self._conn = None
                await asyncio.sleep(delay)
                delay = min(delay * 2, self._retry_max_delay)
                continue
            except Exception:  # rejected data: find and fail only the culprits
                await self._write_one_by_one(batch)
                return
            for (_, future), inserted in zip(batch, results, strict=True):
                if not future.done():
                    future.set_result(inserted)
            self.committed_batches += 1
            self.committed_items += len(batch)
            return

    async def _write(self, conn: psycopg.AsyncConnection[Any], batch: list[_Item]) -> list[bool]:
        rows = [(i, item) for i, (item, _) in enumerate(batch) if isinstance(item, _Row)]
        results = [False] * len(batch)
        async with conn.transaction(), conn.cursor() as cur:
            if rows:
                async with cur.copy(COPY_STAGE) as copy:
                    for i, r in rows:
                        await copy.write_row((i, r.ts, r.actor, r.actor_seq, r.kind, r.payload))
                await cur.execute(LOCK_JOURNAL, (JOURNAL_LOCK_KEY,))
                await cur.execute(INSERT_FROM_STAGE)
                inserted = {(actor, actor_seq) for actor, actor_seq in await cur.fetchall()}
                for i, r in rows:
                    key = (r.actor, r.actor_seq)
                    # A key repeated inside the batch was inserted once: by its first copy.
                    results[i] = key in inserted
                    inserted.discard(key)
            for i, (item, _) in enumerate(batch):
                if isinstance(item, _SnapshotRow):
                    await cur.execute(UPSERT_SNAPSHOT, _snapshot_params(item))
                    results[i] = await cur.fetchone() is not None
        return results

    async def _write_one_by_one(self, batch: list[_Item]) -> None:
        """Isolate the rows the database rejects; the others still commit."""
        for item, future in batch:
            while True:
                try:
                    if self._conn is None or self._conn.closed:
                        self._conn = await self._connect()
                    result = await self._write_single(self._conn, item)
                except psycopg.OperationalError:
                    if self._conn is not None:
                        await self._conn.close()
                        self._conn = None
                    await asyncio.sleep(self._retry_max_delay)
                    continue
                except Exception as exc:
                    if not future.done():
                        future.set_exception(JournalWriteError(f"{_describe(item)}: {exc}"))
                    break
                if not future.done():
                    future.set_result(result)
                self.committed_items += 1
                break

    async def _write_single(
        self, conn: psycopg.AsyncConnection[Any], item: _Row | _SnapshotRow
    ) -> bool:
        async with conn.transaction(), conn.cursor() as cur:
            if isinstance(item, _Row):
                await cur.execute(LOCK_JOURNAL, (JOURNAL_LOCK_KEY,))
                await cur.execute(INSERT_ONE, (item.ts, item.actor, item.actor_seq,
                                               item.kind, item.payload))
            else:
                await cur.execute(UPSERT_SNAPSHOT, _snapshot_params(item))
            return await cur.fetchone() is not None


def _snapshot_params(item: _SnapshotRow) -> tuple[object, ...]:
    return (item.actor, item.actor_seq, item.ts, item.state, item.timers, item.wake_at)


def _describe(item: _Row | _SnapshotRow) -> str:
    what = "event" if isinstance(item, _Row) else "snapshot"
    return f"journal {what} {item.actor}#{item.actor_seq}"
