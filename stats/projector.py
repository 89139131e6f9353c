"""The reporting projector: tails the journal by ``seq`` into the reporting tables, exactly once.

Each batch runs in one transaction that locks the position row, reads the journal after it,
applies :func:`stats.facts.derive`'s operations and moves the position: the rows and the
position commit together, so a crash replays nothing twice and skips nothing (journal rows
become visible in seq order, see :mod:`store.journal`).  :func:`rebuild` empties the tables
and projects the whole journal again in one transaction.
"""

from __future__ import annotations

import json
from typing import Any

import psycopg

from stats.definitions import Interval, Visit
from stats.facts import (
    AgentState,
    CallUpdate,
    CloseVisit,
    Op,
    OpenVisit,
    VisitCallback,
    derive,
)
from store.journal import JournalRecord

POSITION = "reporting"
_TIME_COLUMNS = frozenset({"started_at", "enqueued_at", "offered_at", "answered_at", "ended_at"})
_TEXT_COLUMNS = frozenset({"caller", "dialled", "route", "queue", "agent", "result", "end_cause",
                           "recording_id"})
_SECONDS_COLUMNS = frozenset({"wait_s", "talk_s", "hold_s", "wrap_s"})
_LIST_COLUMNS = frozenset({"ivr_path", "legs", "queues", "quality"})
#: columns that keep the lowest value they were given (the call's worst leg)
_LEAST_COLUMNS = frozenset({"mos"})
_TABLES = ("report_queue_visit", "report_agent_interval", "report_call")


class ProjectionError(RuntimeError):
    """An operation names a column the reporting tables do not have."""


def project_batch(conn: psycopg.Connection[Any], limit: int = 1000) -> list[JournalRecord]:
    """Project up to ``limit`` new journal records; returns the records folded in."""
    with conn.transaction():
        row = conn.execute("SELECT seq FROM report_position WHERE name = %s FOR UPDATE",
                           (POSITION,)).fetchone()
        after = int(row[0]) if row else 0
        records = read_journal(conn, after, limit)
        for r in records:
            for op in derive(r, lambda agent: _open_interval(conn, agent)):
                apply_op(conn, op)
        if records:
            conn.execute("UPDATE report_position SET seq = %s WHERE name = %s",
                         (records[-1].seq, POSITION))
    return records


def project_all(conn: psycopg.Connection[Any], batch: int = 1000) -> int:
    total = 0
    while n := len(project_batch(conn, batch)):
        total += n
    return total


def rebuild(conn: psycopg.Connection[Any], batch: int = 5000) -> int:
    """Empty the reporting tables and project the whole journal again (one transaction)."""
    total = 0
    with conn.transaction():
        conn.execute("SELECT seq FROM report_position WHERE name = %s FOR UPDATE", (POSITION,))
        conn.execute("TRUNCATE " + ", ".join(_TABLES))
        conn.execute("UPDATE report_position SET seq = 0 WHERE name = %s", (POSITION,))
        while n := len(project_batch(conn, batch)):  # nested: savepoints inside this one
            total += n
    return total


def position(conn: psycopg.Connection[Any]) -> int:
    row = conn.execute("SELECT seq FROM report_position WHERE name = %s", (POSITION,)).fetchone()
    return int(row[0]) if row else 0


def read_journal(conn: psycopg.Connection[Any], after: int, limit: int) -> list[JournalRecord]:
    rows = conn.execute(
        "SELECT seq, extract(epoch FROM ts)::float8, actor, actor_seq, kind, payload"
        " FROM journal WHERE seq > %s ORDER BY seq LIMIT %s", (after, limit)).fetchall()
    return [JournalRecord(seq=s, ts=ts, actor=a, actor_seq=n, kind=k, payload=p)
            for s, ts, a, n, k, p in rows]


def _open_interval(
    conn: psycopg.Connection[Any], agent: str
) -> tuple[str, str | None, float] | None:
    row = conn.execute(
        "SELECT state, call_id, extract(epoch FROM started_at)::float8 FROM report_agent_interval"
        " WHERE agent = %s AND ended_at IS NULL ORDER BY opened_seq DESC LIMIT 1",
        (agent,)).fetchone()
    return None if row is None else (row[0], row[1], float(row[2]))


def apply_op(conn: psycopg.Connection[Any], op: Op) -> None:
    if isinstance(op, OpenVisit):
        conn.execute(
            "INSERT INTO report_queue_visit (call_id, queue, queued_at, opened_seq)"
            " VALUES (%s, %s, to_timestamp(%s), %s) ON CONFLICT DO NOTHING",
            (op.call_id, op.queue, op.queued_at, op.seq))
    elif isinstance(op, CloseVisit):
        conn.execute(
            "UPDATE report_queue_visit SET ended_at = to_timestamp(%s), result = %s, wait_s = %s,"
            " agent = %s, overflow_reason = %s, overflow_target = %s"
            " WHERE (call_id, queue, opened_seq) = (SELECT call_id, queue, opened_seq"
            "  FROM report_queue_visit WHERE call_id = %s AND queue = %s AND result IS NULL"
            "  ORDER BY opened_seq DESC LIMIT 1)",
            (op.ended_at, op.result, op.wait_s, op.agent, op.overflow_reason,
             op.overflow_target, op.call_id, op.queue))
    elif isinstance(op, VisitCallback):
        conn.execute("UPDATE report_queue_visit SET callback = %s"
                     " WHERE call_id = %s AND queue = %s AND result IS NULL",
                     (op.number, op.call_id, op.queue))
    elif isinstance(op, AgentState):
        conn.execute("UPDATE report_agent_interval SET ended_at = to_timestamp(%s)"
                     " WHERE agent = %s AND ended_at IS NULL", (op.at, op.agent))
        conn.execute(
            "INSERT INTO report_agent_interval"
            " (agent, opened_seq, state, reason, call_id, queue, started_at)"
            " VALUES (%s, %s, %s, %s, %s, %s, to_timestamp(%s)) ON CONFLICT DO NOTHING",
            (op.agent, op.seq, op.state, op.reason, op.call_id, op.queue, op.at))
    else:
        _update_call(conn, op)


def _update_call(conn: psycopg.Connection[Any], op: CallUpdate) -> None:
    sets: list[str] = []
    values: list[Any] = []
    for name, value in op.first.items():
        sets.append(f"{_column(name)} = coalesce({name}, {_placeholder(name)})")
        values.append(value)
    for name, value in op.last.items():
        sets.append(f"{_column(name)} = {_placeholder(name)}")
        values.append(value)
    for name, seconds in op.add.items():
        if name not in _SECONDS_COLUMNS:
            raise ProjectionError(f"report_call.{name} is not a seconds column")
        sets.append(f"{name} = coalesce({name}, 0) + %s")
        values.append(seconds)
    for name, low in op.least.items():
        if name not in _LEAST_COLUMNS:
            raise ProjectionError(f"report_call.{name} is not a lowest-value column")
        sets.append(f"{name} = least({name}, %s)")  # least() skips NULL: the first one wins
        values.append(low)
    for name, item in op.append.items():
        if name not in _LIST_COLUMNS:
            raise ProjectionError(f"report_call.{name} is not a list column")
        sets.append(f"{name} = {name} || jsonb_build_array(%s::jsonb)")
        values.append(json.dumps(item))
    conn.execute("INSERT INTO report_call (call_id) VALUES (%s) ON CONFLICT DO NOTHING",
                 (op.call_id,))
    if sets:
        conn.execute(f"UPDATE report_call SET {', '.join(sets)} WHERE call_id = %s",
                     (*values, op.call_id))


def _column(name: str) -> str:
    if name not in _TIME_COLUMNS | _TEXT_COLUMNS | _SECONDS_COLUMNS:
        raise ProjectionError(f"report_call has no column {name!r}")
    return name


def _placeholder(name: str) -> str:
    return "to_timestamp(%s)" if name in _TIME_COLUMNS else "%s"


# ------------------------------------------------------------------ reading facts back


def load_facts(
    conn: psycopg.Connection[Any], start: float, end: float
) -> tuple[list[Visit], list[Interval]]:
    """Visits offered in ``[start, end)`` and agent intervals overlapping it."""
    visits = [
        Visit(call_id=c, queue=q, queued_at=qa, ended_at=ea, result=res, wait_s=w, agent=a)
        for c, q, qa, ea, res, w, a in conn.execute(
            "SELECT call_id, queue, extract(epoch FROM queued_at)::float8,"
            " extract(epoch FROM ended_at)::float8, result, wait_s, agent"
            " FROM report_queue_visit WHERE queued_at >= to_timestamp(%s)"
            " AND queued_at < to_timestamp(%s) ORDER BY queued_at, opened_seq",
            (start, end)).fetchall()
    ]
    intervals = [
        Interval(agent=a, state=s, reason=r, call_id=c, queue=q, started_at=sa, ended_at=ea)
        for a, s, r, c, q, sa, ea in conn.execute(
            "SELECT agent, state, reason, call_id, queue, extract(epoch FROM started_at)::float8,"
            " extract(epoch FROM ended_at)::float8 FROM report_agent_interval"
            " WHERE started_at < to_timestamp(%s)"
            " AND (ended_at IS NULL OR ended_at > to_timestamp(%s))"
            " ORDER BY started_at, opened_seq", (end, start)).fetchall()
    ]
    return visits, intervals


CALL_COLUMNS = ("call_id", "caller", "queue", "agent", "enqueued_at", "offered_at",
                "answered_at", "ended_at", "wait_s", "talk_s", "hold_s", "wrap_s", "result",
                "end_cause", "recording_id", "queues", "legs", "ivr_path", "mos", "quality")


def load_calls(conn: psycopg.Connection[Any], start: float, end: float) -> list[dict[str, Any]]:
    """Call detail records of calls that started (or were queued) in ``[start, end)``."""
    cols = ", ".join(f"extract(epoch FROM {c})::float8" if c in _TIME_COLUMNS else c
                     for c in CALL_COLUMNS)
    rows = conn.execute(
        f"SELECT {cols} FROM report_call"
        " WHERE coalesce(enqueued_at, started_at) >= to_timestamp(%s)"
        " AND coalesce(enqueued_at, started_at) < to_timestamp(%s)"
        " ORDER BY coalesce(enqueued_at, started_at), call_id", (start, end)).fetchall()
    return [dict(zip(CALL_COLUMNS, row, strict=True)) for row in rows]
