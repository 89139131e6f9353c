"""Tombstones (snapshots of stopped actors) are purged past their retention, and an actor
revived by a late message after the purge still resumes its journal sequence."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest
from psycopg_pool import ConnectionPool

from actors.persistence import StoreJournal, StoreSnapshots
from bus.catalogue import default_codec
from store.db import open_pool
from store.journal import JournalReader, purge_tombstones
from store.journal_writer import JournalWriter
from telephony.messages import Peer

NOW = 1_780_000_000.0
DAY = 86_400.0


@pytest.fixture
def pool(db_url: str) -> Iterator[ConnectionPool]:
    with open_pool(db_url, max_size=2) as pool:
        yield pool


def journal(db_url: str, actor: str, last_seq: int) -> None:
    """Events 1..last_seq of ``actor``, as its turns journalled them."""
    with psycopg.connect(db_url) as conn:
        for seq in range(1, last_seq + 1):
            conn.execute("INSERT INTO journal (ts, actor, actor_seq, kind)"
                         " VALUES (to_timestamp(%s), %s, %s, 'call.test')",
                         (NOW - 2 * DAY, actor, seq))


def actors(pool: ConnectionPool) -> set[str]:
    with pool.connection() as conn:
        return {row[0] for row in conn.execute("SELECT actor FROM snapshot").fetchall()}


def test_only_old_tombstones_the_journal_covers_are_purged(db_url: str,
                                                           pool: ConnectionPool) -> None:
    reader = JournalReader(pool)
    for actor, seq in (("call/old", 7), ("call/recent", 3), ("call/lost", 2)):
        journal(db_url, actor, seq)
    reader.save_snapshot("call/old", 7, b"", NOW - 2 * DAY)  # ended two days ago
    reader.save_snapshot("call/silent", 0, b"", NOW - 2 * DAY)  # stopped, never journalled
    reader.save_snapshot("call/recent", 3, b"", NOW - 3600)  # ended an hour ago
    reader.save_snapshot("call/lost", 5, b"", NOW - 2 * DAY)  # events 3-5 never reached it
    reader.save_snapshot("agent/anna", 9, b"state", NOW - 30 * DAY)  # alive, just quiet
    assert reader.purge_tombstones(NOW - DAY) == 2
    assert actors(pool) == {"call/recent", "call/lost", "agent/anna"}
    assert reader.purge_tombstones(NOW - DAY) == 0  # nothing left to do


def test_the_purge_runs_in_batches_until_done(pool: ConnectionPool) -> None:
    reader = JournalReader(pool)
    for n in range(7):
        reader.save_snapshot(f"call/c{n}", 0, b"", NOW - 2 * DAY)
    assert reader.purge_tombstones(NOW - DAY, batch=3) == 7
    assert actors(pool) == set()


def test_the_maintenance_entry_point_honours_the_retention(db_url: str,
                                                           pool: ConnectionPool) -> None:
    reader = JournalReader(pool)
    reader.save_snapshot("call/a", 0, b"", NOW - 2 * DAY)
    reader.save_snapshot("call/b", 0, b"", NOW - 10)
    assert purge_tombstones(db_url, 0.0, NOW) == 0  # 0: kept forever
    assert actors(pool) == {"call/a", "call/b"}
    assert purge_tombstones(db_url, DAY, NOW) == 1
    assert actors(pool) == {"call/b"}


def test_the_partial_index_serves_the_purge(pool: ConnectionPool) -> None:
    """The purge's predicate matches the index's (the planner may use it, never a scan of
    live actors' snapshots) - with sequential scans off, the plan names the index."""
    with pool.connection() as conn:
        conn.execute("SET enable_seqscan = off")
        plan = "\n".join(row[0] for row in conn.execute(
            "EXPLAIN SELECT s.actor FROM snapshot s"
            " WHERE s.state = ''::bytea AND s.ts < to_timestamp(%s)", (NOW,)).fetchall())
    assert "snapshot_tombstone_ts_idx" in plan, plan


async def test_a_late_message_after_the_purge_resumes_the_journal_sequence(
        db_url: str, pool: ConnectionPool) -> None:
    reader = JournalReader(pool)
    codec = default_codec()
    address = "call/late"
    journal(db_url, address, 4)
    async with JournalWriter(db_url) as writer:
        snapshots = StoreSnapshots(writer, reader, codec, wall_clock=lambda: NOW - 2 * DAY)
        snapshots.save(address, Peer(transport="UDP", host="192.0.2.1", port=5060), 4)
        snapshots.delete(address, 4)  # the call ended: its tombstone keeps sequence 4
        await writer.flush()
        before = await snapshots.restore(address)
        assert before is not None and (before.state, before.actor_seq) == (None, 4)

        assert reader.purge_tombstones(NOW - DAY) == 1
        assert reader.load_snapshot(address) is None

        # what the host asks when a late message activates the call again
        after = await snapshots.restore(address)
        assert after is not None and (after.state, after.actor_seq) == (None, 4)
        assert await snapshots.load(address) == (None, 4)
        # so its next event is number 5: stored, not taken for a re-send of number 4
        stored = await StoreJournal(writer, wall_clock=lambda: NOW).append(
            address, after.actor_seq + 1, Peer(transport="UDP", host="192.0.2.1", port=5060))
        assert stored is True
        await writer.flush()
    assert reader.last_actor_seq(address) == 5
