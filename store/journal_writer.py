"""Batched, acknowledged journal writes off the actors' hot path (asyncio).

``append`` queues an event and returns a future that resolves only after the batch
holding it is COMMITTED, so a crash of the writer's process loses nothing that was
acknowledged.  Snapshots ride in the same batches, in queue order.

Group commit that adapts to the load: an idle writer lets the loop turn once (so what the
messages already received produce joins in) and commits - or waits ``flush_interval``
seconds first, if set; while a batch commits, the next one fills, and goes as soon as the
database answered.  So a lone event waits about one round trip, and under load each commit
carries everything that arrived during the previous one (up to ``batch_size`` items).
A batch is one statement - one round trip, one transaction (see
``store.journal.WRITE_BOTH``) - and several snapshots of one actor in a batch are written
as the newest only.  The queue is bounded: ``append`` waits for room (backpressure).

If the connection fails, the whole batch is retried on a new connection: rows are
idempotent on ``(actor, actor_seq)``, so a batch whose COMMIT outcome was unknown
is not duplicated.  Rows the database rejects fail only their own futures.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import math
from dataclasses import dataclass
from json.encoder import encode_basestring_ascii as _quoted
from types import TracebackType
from typing import Any

import psycopg

from store.journal import (
    INSERT_ONE,
    JOURNAL_LOCK_KEY,
    LOCK_JOURNAL,
    UPSERT_SNAPSHOT,
    WRITE_BOTH,
    WRITE_EVENTS,
    WRITE_SNAPSHOTS,
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
    """One connection, one flusher task; create and use it inside a running event loop.

    ``flush_interval``: how long an idle writer waits for more items before it commits
    (0: no wait - the commit in flight is what gathers the next batch)."""

    def __init__(
        self,
        url: str,
        *,
        batch_size: int = 500,
        flush_interval: float = 0.0,
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
        #: batches committed (one transaction each; rows retried one by one after a
        #: rejection count in ``committed_items`` only)
        self.committed_batches = 0
        self.committed_items = 0
        #: snapshots not written because a newer one of the same actor was in their batch
        self.coalesced_snapshots = 0

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
        ``wake_at``, or neither); committed with or after the events queued before it.

        Resolves to ``True`` once it is stored (or replaced in its batch by a newer one of
        the same actor that was), ``False`` if a snapshot with a higher actor_seq was there
        before it - stored already, or saved earlier in the same batch."""
        row = _snapshot_row(actor, actor_seq, state, ts, timers, wake_at)
        while len(self._items) >= self._max_pending and not self._closing:
            self._has_room.clear()
            await self._has_room.wait()
        return self._enqueue(row)

    def save_snapshot_nowait(
        self, actor: str, actor_seq: int, state: bytes, ts: float, *,
        timers: bytes | None = None, wake_at: float | None = None,
    ) -> asyncio.Future[bool]:
        """Like :meth:`save_snapshot` but raises :class:`JournalFullError` instead of
        waiting (no task per snapshot: the host saves hundreds a second)."""
        row = _snapshot_row(actor, actor_seq, state, ts, timers, wake_at)
        if len(self._items) >= self._max_pending:
            raise JournalFullError(f"journal writer has {len(self._items)} items pending")
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
        # autocommit: a batch is one statement, hence its own transaction
        return await psycopg.AsyncConnection.connect(self._url, autocommit=True)

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
                    if self._flush_interval > 0:
                        with contextlib.suppress(TimeoutError):
                            await asyncio.wait_for(self._batch_ready.wait(),
                                                   self._flush_interval)
                    else:
                        await asyncio.sleep(0)
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
        rows: list[tuple[int, _Row]] = []
        newest: dict[str, _SnapshotRow] = {}  # per actor, the snapshot its batch stores
        for i, (item, _) in enumerate(batch):
            if isinstance(item, _Row):
                rows.append((i, item))
                continue
            kept = newest.get(item.actor)
            if kept is None or kept.actor_seq <= item.actor_seq:
                newest[item.actor] = item
        snaps = list(newest.values())
        params: list[object] = []
        if rows:
            params += [JOURNAL_LOCK_KEY, "[" + ",".join(_event_json(r) for _, r in rows) + "]"]
        if snaps:
            params += _snapshot_params_batch(snaps)
        query = WRITE_BOTH if rows and snaps else WRITE_EVENTS if rows else WRITE_SNAPSHOTS
        cur = await conn.execute(query, params)
        inserted: set[tuple[str, int]] = set()
        stored: set[str] = set()
        before: dict[str, int] = {}
        for what, actor, actor_seq in await cur.fetchall():
            if what == 0:
                inserted.add((actor, actor_seq))
            elif what == 1:
                stored.add(actor)
            else:
                before[actor] = actor_seq
        results = [False] * len(batch)
        for i, r in rows:
            key = (r.actor, r.actor_seq)
            # A key repeated inside the batch was inserted once: by its first copy.
            results[i] = key in inserted
            inserted.discard(key)
        # Each snapshot resolves as saving the batch's snapshots one by one would have: the
        # newest of an actor was stored (else none was), an older one only if nothing higher
        # came before it.
        highest = dict(before)
        for i, (item, _) in enumerate(batch):
            if (isinstance(item, _SnapshotRow) and item.actor in stored
                    and item.actor_seq >= highest.get(item.actor, -1)):
                highest[item.actor] = item.actor_seq
                results[i] = True
        self.coalesced_snapshots += len(batch) - len(rows) - len(snaps)
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


def _snapshot_row(actor: str, actor_seq: int, state: bytes, ts: float, timers: bytes | None,
                  wake_at: float | None) -> _SnapshotRow:
    if not actor or actor_seq < 0:
        raise ValueError(f"snapshot needs an actor and actor_seq >= 0; got {actor!r}#{actor_seq}")
    if not math.isfinite(ts):
        raise ValueError(f"snapshot of {actor}: ts is {ts!r}")
    check_timers(actor, timers, wake_at)
    return _SnapshotRow(actor, actor_seq, ts, bytes(state),
                        None if timers is None else bytes(timers), wake_at)


# Rows are written out by hand (times are finite, checked at the door; the payload is JSON
# already): a json.dumps per row cost more than the rest of the batch's encoding.


def _event_json(r: _Row) -> str:
    return f"[{r.ts!r},{_quoted(r.actor)},{r.actor_seq},{_quoted(r.kind)},{r.payload}]"


def _snapshot_params_batch(snaps: list[_SnapshotRow]) -> list[object]:
    """The states end to end (one binary parameter), and each snapshot's JSON row naming
    its slice: hex-encoding kilobytes of state into JSON cost more than the rest of a batch."""
    rows = []
    offset = 0
    for s in snaps:
        timers = "null" if s.timers is None else f'"{s.timers.hex()}"'
        wake_at = "null" if s.wake_at is None else repr(s.wake_at)
        rows.append(f"[{_quoted(s.actor)},{s.actor_seq},{s.ts!r},{offset},{len(s.state)},"
                    f"{timers},{wake_at}]")
        offset += len(s.state)
    return [b"".join(s.state for s in snaps), "[" + ",".join(rows) + "]"]


def _snapshot_params(item: _SnapshotRow) -> tuple[object, ...]:
    return (item.actor, item.actor_seq, item.ts, item.state, item.timers, item.wake_at)


def _describe(item: _Row | _SnapshotRow) -> str:
    what = "event" if isinstance(item, _Row) else "snapshot"
    return f"journal {what} {item.actor}#{item.actor_seq}"
