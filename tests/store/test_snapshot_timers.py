"""Snapshots carry their actor's pending timers; recovery pages through them earliest first."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import psycopg
import pytest
from psycopg_pool import ConnectionPool

from store.db import open_pool
from store.journal import JournalEvent, JournalReader
from store.journal_writer import JournalWriter

NOW = 1_780_000_000.0


@pytest.fixture
def pool(db_url: str) -> Iterator[ConnectionPool]:
    with open_pool(db_url, max_size=2) as pool:
        yield pool


def test_timers_round_trip_and_a_save_without_them_clears_them(pool: ConnectionPool) -> None:
    reader = JournalReader(pool)
    assert reader.save_snapshot("agent/anna", 4, b"s", NOW, timers=b"\x01\x02",
                                wake_at=NOW + 10.25)
    snap = reader.load_snapshot("agent/anna")
    assert snap is not None
    assert (snap.state, snap.timers, snap.wake_at) == (b"s", b"\x01\x02", NOW + 10.25)
    assert reader.save_snapshot("agent/anna", 4, b"s2", NOW)
    snap = reader.load_snapshot("agent/anna")
    assert snap is not None and (snap.timers, snap.wake_at) == (None, None)
    assert reader.snapshots_waking(["agent"]) == []


def test_timers_and_wake_at_go_together(pool: ConnectionPool, db_url: str) -> None:
    reader = JournalReader(pool)
    with pytest.raises(ValueError, match="agent/x: timers and wake_at go together"):
        reader.save_snapshot("agent/x", 0, b"s", NOW, timers=b"t")
    with pytest.raises(ValueError, match="wake_at is nan, not a time"):
        reader.save_snapshot("agent/x", 0, b"s", NOW, timers=b"t", wake_at=float("nan"))
    with psycopg.connect(db_url) as conn, pytest.raises(psycopg.errors.CheckViolation):
        conn.execute("INSERT INTO snapshot (actor, actor_seq, state, wake_at)"
                     " VALUES ('agent/x', 0, '', 1.0)")


def test_waking_pages_by_deadline_then_address_for_the_kinds_asked(
        pool: ConnectionPool) -> None:
    reader = JournalReader(pool)
    # deadlines in another order than addresses, two with the same deadline
    wakes = {"queue/a": 30.0, "queue/b": 10.0, "agent/c": 20.0, "agent/d": 10.0,
             "call/e": 5.0}
    for actor, wake in wakes.items():
        reader.save_snapshot(actor, 1, b"s", NOW, timers=b"t", wake_at=NOW + wake)
    reader.save_snapshot("queue/idle", 1, b"s", NOW)  # no timer: never listed
    seen: list[str] = []
    after = None
    while page := reader.snapshots_waking(["queue", "agent"], after, limit=2):
        assert len(page) <= 2
        seen += [snap.actor for snap, _ in page]
        last = page[-1][0]
        assert last.wake_at is not None
        after = (last.wake_at, last.actor)
    assert seen == ["agent/d", "queue/b", "agent/c", "queue/a"]


def test_waking_brings_the_journal_sequence_along(db_url: str, pool: ConnectionPool) -> None:
    reader = JournalReader(pool)

    async def main() -> None:
        async with JournalWriter(db_url) as writer:
            for seq in (1, 2, 7):
                ack = await writer.append(JournalEvent(actor="agent/a", actor_seq=seq,
                                                       kind="agent.transition", ts=NOW))
                assert await ack
            saved = await writer.save_snapshot("agent/a", 2, b"s", NOW, timers=b"t",
                                               wake_at=NOW + 1)
            assert await saved
            late = await writer.save_snapshot("agent/b", 0, b"s", NOW, timers=b"u",
                                              wake_at=NOW + 2)
            assert await late

    asyncio.run(main())
    rows = reader.snapshots_waking(["agent"])
    assert [(s.actor, s.actor_seq, s.timers, last) for s, last in rows] == [
        ("agent/a", 2, b"t", 7), ("agent/b", 0, b"u", None)]


def test_an_older_snapshot_does_not_bring_back_timers(pool: ConnectionPool) -> None:
    reader = JournalReader(pool)
    assert reader.save_snapshot("call/x", 5, b"s", NOW)  # the timer was cancelled at seq 5
    assert not reader.save_snapshot("call/x", 4, b"old", NOW, timers=b"t", wake_at=NOW)
    assert reader.snapshots_waking(["call"]) == []
