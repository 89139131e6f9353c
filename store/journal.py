"""The append-only event journal and actor snapshots: records and the synchronous reader.

Events are written through :class:`store.journal_writer.JournalWriter` (asyncio,
batched, acknowledged after COMMIT); this module holds the shared records, the SQL and
the reader used by CDR builders, reports and crash recovery.

Ordering guarantee: every batch takes a transaction-level advisory lock before it
draws ``seq`` values and keeps it until COMMIT, so journal rows become visible in
``seq`` order even with several writer processes.  A tailing reader that remembers the
last ``seq`` it saw therefore never skips a row that commits later with a lower seq.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from psycopg_pool import ConnectionPool

# Arbitrary constant shared by every writer ("journal" in ASCII hex).
JOURNAL_LOCK_KEY = 0x6A6F75726E616C

# jsonb cannot store U+0000; json.dumps writes it as \u0000 (an escaped backslash
# before "u0000" is an ordinary character and must not match).
_NUL_ESCAPE = re.compile(r"(?<!\\)(?:\\\\)*\\u0000")


class JournalError(RuntimeError):
    """Base class of journal failures."""


class JournalWriteError(JournalError):
    """The database rejected an event or snapshot (it was not written)."""


class JournalClosedError(JournalError):
    """The writer is closed (or closing) and accepts nothing more."""


class JournalFullError(JournalError):
    """``append_nowait`` found the writer's queue full."""


@dataclass(frozen=True, slots=True, kw_only=True)
class JournalEvent:
    """A state change of one actor; ``(actor, actor_seq)`` identifies it for idempotence."""

    actor: str  # actor address, e.g. "call/abc"
    actor_seq: int  # per-actor, strictly increasing, >= 0
    kind: str  # event type, e.g. "call.answered"
    ts: float  # wall-clock time of the change, seconds since the epoch
    payload: Mapping[str, Any] = field(default_factory=dict)  # JSON object


@dataclass(frozen=True, slots=True, kw_only=True)
class JournalRecord:
    """A committed journal row."""

    seq: int  # global position, increasing in commit order (gaps are possible)
    ts: float
    actor: str
    actor_seq: int
    kind: str
    payload: dict[str, Any]


@dataclass(frozen=True, slots=True, kw_only=True)
class Snapshot:
    """The last persisted state of an actor, as of its event ``actor_seq``."""

    actor: str
    actor_seq: int
    state: bytes
    ts: float
    #: the actor's pending timers, opaque to the store (``None``: no timer pending)
    timers: bytes | None = None
    #: the earliest timer deadline, epoch seconds (``None`` exactly when ``timers`` is)
    wake_at: float | None = None


#: payloads are plain trees from ``as_dict`` (no cycles to look for); the encoder holds its
#: options only, and building one per event cost a good part of encoding it
_PAYLOAD_ENCODER = json.JSONEncoder(ensure_ascii=False, allow_nan=False, check_circular=False,
                                    separators=(",", ":"))


def encode_payload(event: JournalEvent) -> str:
    """The event's payload as jsonb text; raises ``TypeError``/``ValueError`` if unstorable."""
    if not isinstance(event.payload, Mapping):
        raise TypeError(f"journal payload of {event.actor}#{event.actor_seq} must be a "
                        f"mapping, got {type(event.payload).__name__}")
    text = _PAYLOAD_ENCODER.encode(event.payload)
    if "\\u0000" in text and _NUL_ESCAPE.search(text):
        raise ValueError(f"journal payload of {event.actor}#{event.actor_seq} contains "
                         "U+0000, which jsonb cannot store")
    if not text.isascii():
        _check_utf8(text, f"journal payload of {event.actor}#{event.actor_seq}")
    return text


def _check_utf8(text: str, what: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:  # lone surrogates
        raise ValueError(f"{what} is not valid Unicode: {exc.reason} at {exc.start}") from None


def check_timers(actor: str, timers: bytes | None, wake_at: float | None) -> None:
    """A snapshot has timers and their earliest deadline, or neither (the table checks too)."""
    if (timers is None) != (wake_at is None):
        raise ValueError(f"snapshot of {actor}: timers and wake_at go together; got "
                         f"{'no ' if timers is None else ''}timers, wake_at={wake_at!r}")
    if wake_at is not None and not math.isfinite(wake_at):
        raise ValueError(f"snapshot of {actor}: wake_at is {wake_at!r}, not a time")


def validate_event(event: JournalEvent) -> None:
    """Reject at append time what the database would reject later in a whole batch."""
    if not event.actor or "\x00" in event.actor:
        raise ValueError(f"journal event has an empty or NUL-bearing actor {event.actor!r}")
    if not event.kind or "\x00" in event.kind:
        raise ValueError(f"journal event {event.actor}#{event.actor_seq} has an empty or "
                         f"NUL-bearing kind {event.kind!r}")
    if not event.actor.isascii():
        _check_utf8(event.actor, "journal actor address")
    if not event.kind.isascii():
        _check_utf8(event.kind, f"kind of journal event {event.actor}#{event.actor_seq}")
    if event.actor_seq < 0:
        raise ValueError(f"journal event of {event.actor} has negative actor_seq "
                         f"{event.actor_seq}")
    if not math.isfinite(event.ts):
        raise ValueError(f"journal event {event.actor}#{event.actor_seq} has ts {event.ts!r}, "
                         "not a time")


# -- SQL shared with the writer ---------------------------------------------------------

LOCK_JOURNAL = "SELECT pg_advisory_xact_lock(%s)"

# A batch is ONE statement (one round trip, its own transaction in autocommit).  Its rows
# travel as JSON arrays - ``[ts, actor, actor_seq, kind, payload]`` per event (the payload
# spliced in as it is already JSON) and ``[actor, actor_seq, ts, offset, length,
# timers_hex, wake_at]`` per snapshot, whose states are cut from one binary parameter (all
# of them end to end) - which cost the client a fraction of what array parameters do.
# Every event row reaches the INSERT through the join with ``lock``, so the advisory lock
# is held before the first ``seq`` is drawn; seqs are drawn in array (append) order.  The
# statement returns one row per stored item: ``(0, actor, actor_seq)`` per inserted event,
# ``(1, actor, 0)`` per stored snapshot, and ``(2, actor, actor_seq)`` per snapshot row that
# existed before (so the writer can tell each coalesced save what saving it alone would
# have done).  A batch has one snapshot per actor at most (an ON CONFLICT DO UPDATE may
# touch a row only once per statement).
_BATCH_EVENTS = (
    "lock AS MATERIALIZED (SELECT pg_advisory_xact_lock(%s)),"
    " events AS (INSERT INTO journal (ts, actor, actor_seq, kind, payload)"
    " SELECT to_timestamp((e.item->>0)::float8), e.item->>1, (e.item->>2)::int8, e.item->>3,"
    " (e.item->4)::jsonb"
    " FROM json_array_elements(%s::json) WITH ORDINALITY AS e (item, ord) CROSS JOIN lock"
    " ORDER BY e.ord"
    " ON CONFLICT (actor, actor_seq) DO NOTHING"
    " RETURNING actor, actor_seq)"
)
# An older snapshot never overwrites a newer one (re-sends, out-of-order retries); one at the
# same actor_seq does: state may change without a journaled event (timers, counters).
_SNAPSHOT_CONFLICT = (
    " ON CONFLICT (actor) DO UPDATE SET actor_seq = EXCLUDED.actor_seq,"
    " ts = EXCLUDED.ts, state = EXCLUDED.state, timers = EXCLUDED.timers,"
    " wake_at = EXCLUDED.wake_at"
    " WHERE s.actor_seq <= EXCLUDED.actor_seq"
    " RETURNING actor"
)
_BATCH_SNAPSHOTS = (
    "incoming AS (SELECT n.item->>0 AS actor, (n.item->>1)::int8 AS actor_seq,"
    " to_timestamp((n.item->>2)::float8) AS ts,"
    " substring(%b::bytea FROM (n.item->>3)::int4 + 1 FOR (n.item->>4)::int4) AS state,"
    " decode(n.item->>5, 'hex') AS timers, (n.item->>6)::float8 AS wake_at"
    " FROM json_array_elements(%s::json) AS n (item)),"
    # the rows as they were before this statement (its sub-statements all see that state)
    " prior AS (SELECT s.actor, s.actor_seq FROM snapshot s JOIN incoming USING (actor)),"
    " snapshots AS (INSERT INTO snapshot AS s (actor, actor_seq, ts, state, timers, wake_at)"
    " SELECT actor, actor_seq, ts, state, timers, wake_at FROM incoming"
    + _SNAPSHOT_CONFLICT + ")"
)
_SNAPSHOT_ROWS = (" UNION ALL SELECT 1, actor, 0 FROM snapshots"
                  " UNION ALL SELECT 2, actor, actor_seq FROM prior")
#: a batch of events only: (lock key, events JSON)
WRITE_EVENTS = "WITH " + _BATCH_EVENTS + " SELECT 0, actor, actor_seq FROM events"
#: a batch of snapshots only: (states end to end, snapshots JSON); also
#: ``(2, actor, actor_seq)`` per actor that had a snapshot before
WRITE_SNAPSHOTS = ("WITH " + _BATCH_SNAPSHOTS + " SELECT 0, '', 0 WHERE false"
                   + _SNAPSHOT_ROWS)
#: both: (lock key, events JSON, states end to end, snapshots JSON)
WRITE_BOTH = ("WITH " + _BATCH_EVENTS + ", " + _BATCH_SNAPSHOTS
              + " SELECT 0, actor, actor_seq FROM events" + _SNAPSHOT_ROWS)
INSERT_ONE = (
    "INSERT INTO journal (ts, actor, actor_seq, kind, payload)"
    " VALUES (to_timestamp(%s), %s, %s, %s, %s::jsonb)"
    " ON CONFLICT (actor, actor_seq) DO NOTHING"
    " RETURNING seq"
)
UPSERT_SNAPSHOT = (
    "INSERT INTO snapshot AS s (actor, actor_seq, ts, state, timers, wake_at)"
    " VALUES (%s, %s, to_timestamp(%s), %s, %s, %s)" + _SNAPSHOT_CONFLICT
)
_SNAPSHOT_COLUMNS = (
    "s.actor, s.actor_seq, s.state, extract(epoch FROM s.ts)::float8, s.timers, s.wake_at"
)
# Keyset paging in (wake_at, actor) order over the partial index snapshot_wake_idx; the
# journal's last actor_seq comes along so a revived actor never reuses a sequence number.
_WAKING = (
    "SELECT " + _SNAPSHOT_COLUMNS + ","
    " (SELECT max(j.actor_seq) FROM journal j WHERE j.actor = s.actor)"
    " FROM snapshot s"
    " WHERE s.wake_at IS NOT NULL AND (s.wake_at, s.actor) > (%s, %s)"
    " AND split_part(s.actor, '/', 1) = ANY(%s)"
    " ORDER BY s.wake_at, s.actor LIMIT %s"
)
_SELECT = (
    "SELECT seq, extract(epoch FROM ts)::float8, actor, actor_seq, kind, payload FROM journal"
)
# Tombstones older than the cutoff, a batch at a time (short transactions, short locks),
# over the partial index snapshot_tombstone_ts_idx. Only those whose actor_seq the journal
# remembers too: an actor revived after the purge resumes numbering from the journal, so
# it must not be behind the tombstone (it is not, unless journal writes were lost).
_PURGE_TOMBSTONES = (
    "DELETE FROM snapshot WHERE actor IN ("
    " SELECT s.actor FROM snapshot s"
    " WHERE s.state = ''::bytea AND s.ts < to_timestamp(%s)"
    " AND s.actor_seq <= coalesce("
    "(SELECT max(j.actor_seq) FROM journal j WHERE j.actor = s.actor), 0)"
    " LIMIT %s FOR UPDATE SKIP LOCKED)"
    " AND state = ''::bytea"
)


def _snapshot(row: Sequence[Any]) -> Snapshot:
    actor, actor_seq, state, ts, timers, wake_at = row
    return Snapshot(actor=actor, actor_seq=actor_seq, state=bytes(state), ts=ts,
                    timers=None if timers is None else bytes(timers), wake_at=wake_at)


def _record(row: tuple[Any, ...]) -> JournalRecord:
    seq, ts, actor, actor_seq, kind, payload = row
    return JournalRecord(seq=seq, ts=ts, actor=actor, actor_seq=actor_seq, kind=kind,
                         payload=payload)


def purge_tombstones(url: str, retention_s: float, now: float) -> int:
    """Purge the tombstones saved more than ``retention_s`` before epoch ``now`` (0: none)
    in the database at ``url``: the periodic maintenance's entry point. The number purged."""
    if retention_s <= 0:
        return 0
    from store.db import open_pool  # the embedded server's machinery: only when called

    with open_pool(url, min_size=1, max_size=1, name="tombstone-purge") as pool:
        return JournalReader(pool).purge_tombstones(now - retention_s)


class JournalReader:
    """Synchronous queries over the journal and snapshots, through a connection pool."""

    def __init__(self, pool: ConnectionPool) -> None:
        self._pool = pool

    def read(self, after_seq: int = 0, limit: int = 1000) -> list[JournalRecord]:
        """Up to ``limit`` records with ``seq > after_seq``, in seq order (for tailing)."""
        with self._pool.connection() as conn:
            rows = conn.execute(_SELECT + " WHERE seq > %s ORDER BY seq LIMIT %s",
                                (after_seq, limit)).fetchall()
        return [_record(row) for row in rows]

    def read_actor(
        self, actor: str, after_actor_seq: int = -1, limit: int | None = None
    ) -> list[JournalRecord]:
        """The actor's records with ``actor_seq > after_actor_seq``, in actor_seq order."""
        with self._pool.connection() as conn:
            rows = conn.execute(
                _SELECT + " WHERE actor = %s AND actor_seq > %s ORDER BY actor_seq LIMIT %s",
                (actor, after_actor_seq, limit),
            ).fetchall()
        return [_record(row) for row in rows]

    def read_call(self, call_id: str, limit: int = 10_000) -> list[JournalRecord]:
        """Every record about one call, whichever actor wrote it, in seq order."""
        with self._pool.connection() as conn:
            rows = conn.execute(
                _SELECT + " WHERE payload->>'call_id' = %s OR actor = %s ORDER BY seq LIMIT %s",
                (call_id, f"call/{call_id}", limit),
            ).fetchall()
        return [_record(row) for row in rows]

    def last_actor_seq(self, actor: str) -> int | None:
        """Highest journalled ``actor_seq`` of the actor (resume numbering after it)."""
        with self._pool.connection() as conn:
            row = conn.execute("SELECT max(actor_seq) FROM journal WHERE actor = %s",
                               (actor,)).fetchone()
        return None if row is None or row[0] is None else int(row[0])

    def load_snapshot(self, actor: str) -> Snapshot | None:
        with self._pool.connection() as conn:
            row = conn.execute(
                "SELECT " + _SNAPSHOT_COLUMNS + " FROM snapshot s WHERE s.actor = %s", (actor,),
            ).fetchone()
        return None if row is None else _snapshot(row)

    def purge_tombstones(self, before: float, *, batch: int = 5000) -> int:
        """Delete the snapshots of stopped actors (empty state) saved before epoch ``before``;
        the number deleted. A late message to a purged actor still starts it empty with the
        journal's last ``actor_seq`` (:meth:`last_actor_seq`): the tombstone's."""
        purged = 0
        while True:
            with self._pool.connection() as conn:
                done = conn.execute(_PURGE_TOMBSTONES, (before, batch)).rowcount
            purged += max(done, 0)
            if done < batch:
                return purged

    def save_snapshot(self, actor: str, actor_seq: int, state: bytes, ts: float, *,
                      timers: bytes | None = None, wake_at: float | None = None) -> bool:
        """Store the snapshot unless a newer one exists; ``True`` if it was stored."""
        check_timers(actor, timers, wake_at)
        with self._pool.connection() as conn:
            row = conn.execute(UPSERT_SNAPSHOT,
                               (actor, actor_seq, ts, state, timers, wake_at)).fetchone()
        return row is not None

    def snapshots_waking(
        self, kinds: Sequence[str], after: tuple[float, str] | None = None, limit: int = 256
    ) -> list[tuple[Snapshot, int | None]]:
        """Up to ``limit`` snapshots of actors of ``kinds`` with timers pending, in
        ``(wake_at, actor)`` order after the cursor ``after``, each with the actor's last
        journalled ``actor_seq`` (crash recovery re-arms their timers)."""
        wake_at, actor = after if after is not None else (float("-inf"), "")
        with self._pool.connection() as conn:
            rows = conn.execute(_WAKING, (wake_at, actor, list(kinds), limit)).fetchall()
        return [(_snapshot(row[:6]), None if row[6] is None else int(row[6])) for row in rows]

    def recovery(self, actor: str) -> tuple[Snapshot | None, list[JournalRecord]]:
        """What an actor needs to rebuild its state: its snapshot and the events after it."""
        snapshot = self.load_snapshot(actor)
        after = snapshot.actor_seq if snapshot is not None else -1
        return snapshot, self.read_actor(actor, after_actor_seq=after)
