"""The ``recording`` table (``store/migrations/002_recordings.sql``): register, list, find.

Synchronous psycopg on a :class:`psycopg_pool.ConnectionPool` (``store.db.open_pool``): the
media service calls it from a worker thread, the CLI directly.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass
from typing import Any

from psycopg.rows import dict_row

_COLUMNS = ("call_id", "agent", "queue", "started_at", "ended_at", "duration_s", "path",
            "format", "sha256", "bytes", "complete")
_SELECT = "SELECT id, " + ", ".join(_COLUMNS) + ", archived_at FROM recording"


@dataclass(frozen=True, slots=True, kw_only=True)
class RecordingRow:
    call_id: str
    agent: str
    queue: str
    started_at: dt.datetime
    ended_at: dt.datetime
    duration_s: float
    path: str
    format: str
    sha256: str
    bytes: int
    complete: bool = True
    archived_at: dt.datetime | None = None
    id: int | None = None

    def as_json(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        for key in ("started_at", "ended_at", "archived_at"):
            if out[key] is not None:
                out[key] = out[key].isoformat()
        return out


def _row(record: dict[str, Any]) -> RecordingRow:
    return RecordingRow(**record)


class RecordingStore:
    def __init__(self, pool: Any) -> None:
        self.pool = pool

    def insert(self, row: RecordingRow) -> RecordingRow:
        """Register ``row``; an already registered path returns the existing row."""
        values = [getattr(row, c) for c in _COLUMNS]
        with self.pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
            cur.execute(
                f"INSERT INTO recording ({', '.join(_COLUMNS)}) "
                f"VALUES ({', '.join(['%s'] * len(_COLUMNS))}) "
                "ON CONFLICT (path) DO NOTHING",
                values,
            )
            cur.execute(f"{_SELECT} WHERE path = %s", (row.path,))
            found = cur.fetchone()
        assert found is not None
        return _row(found)

    def find(self, *, call_id: str | None = None, limit: int = 1000) -> list[RecordingRow]:
        with self.pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
            if call_id is None:
                cur.execute(f"{_SELECT} ORDER BY started_at DESC, id DESC LIMIT %s", (limit,))
            else:
                cur.execute(f"{_SELECT} WHERE call_id = %s ORDER BY started_at, id LIMIT %s",
                            (call_id, limit))
            return [_row(r) for r in cur.fetchall()]

    def older_than(self, queue: str, before: dt.datetime, *, archived: bool | None = None
                   ) -> list[RecordingRow]:
        """Recordings of ``queue`` that started before ``before`` (for retention)."""
        condition = "" if archived is None else (
            " AND archived_at IS NOT NULL" if archived else " AND archived_at IS NULL")
        with self.pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
            cur.execute(f"{_SELECT} WHERE queue = %s AND started_at < %s{condition} "
                        "ORDER BY started_at", (queue, before))
            return [_row(r) for r in cur.fetchall()]

    def mark_archived(self, row_id: int, path: str, at: dt.datetime) -> None:
        with self.pool.connection() as conn:
            conn.execute("UPDATE recording SET path = %s, archived_at = %s WHERE id = %s",
                         (path, at, row_id))

    def delete(self, row_id: int) -> None:
        with self.pool.connection() as conn:
            conn.execute("DELETE FROM recording WHERE id = %s", (row_id,))
