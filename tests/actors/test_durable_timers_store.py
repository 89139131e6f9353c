"""Durable timers through the real store: a host's timers come back from PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import msgpack
import pytest
from psycopg_pool import ConnectionPool

from actors.durable_timers import PendingTimer
from actors.persistence import StoreSnapshots, decode_timers, encode_timers
from bus.errors import DecodeError
from store.db import open_pool
from store.journal import JournalReader
from store.journal_writer import JournalWriter
from tests.actors.durable_support import (
    WALL_OFFSET,
    Arm,
    Clock,
    Disarm,
    Fired,
    Log,
    codec,
    entries,
    make_host,
    restarted,
    settle,
)


@pytest.fixture
def pool(db_url: str) -> Iterator[ConnectionPool]:
    with open_pool(db_url, max_size=4) as pool:
        yield pool


def test_the_timers_blob_round_trips_and_names_what_it_cannot_read() -> None:
    c = codec()
    timers = (PendingTimer(key="a", deadline=1.5, msg=Fired(label="x")),
              PendingTimer(key="b", deadline=2.0, msg=Log(entries=("y",))))
    assert encode_timers(c, ()) is None and decode_timers(c, None) == ()
    assert decode_timers(c, encode_timers(c, timers)) == timers
    bad = msgpack.packb([1, [["a", 1.5, ["no.such", 1, []]]]])
    with pytest.raises(DecodeError, match=r"timers\[0\] \(key 'a'\)"):
        decode_timers(c, bad)
    with pytest.raises(DecodeError, match="expected"):
        decode_timers(c, msgpack.packb([2, []]))


async def test_timers_survive_a_crash_through_the_database(db_url: str,
                                                           pool: ConnectionPool) -> None:
    reader = JournalReader(pool)
    clock = Clock(1000.0)
    async with JournalWriter(db_url) as writer:
        old = make_host(StoreSnapshots(writer, reader, codec(), clock.wall), clock)
        old.tell("timed/menu", Arm(key="menu", after_s=30, label="no_input"))
        old.tell("timed/wrap", Arm(key="wrap", after_s=2, label="ready"))
        old.tell("timed/gone", Arm(key="ring", after_s=5, label="x"))
        for address in ("timed/menu", "timed/wrap", "timed/gone"):
            await entries(old, address)  # loaded from the (empty) store and served
        assert old.flush_snapshots() == 3
        old.tell("timed/gone", Disarm(key="ring"))
        await entries(old, "timed/gone")
        assert old.flush_snapshots() == 1
        await asyncio.sleep(0.05)  # the save tasks enqueue
        await writer.flush()
    snap = reader.load_snapshot("timed/menu")
    assert snap is not None and snap.wake_at == pytest.approx(1030 + WALL_OFFSET)

    clock.now = 1010.0  # a new process: the wrap-up timer is overdue by now
    async with JournalWriter(db_url) as writer:
        store = StoreSnapshots(writer, reader, codec(), clock.wall)
        dead: list[dict[str, object]] = []
        new = await restarted(store, clock, dead=dead)
        assert dead == []
        assert set(new.cells) == {"timed/wrap", "timed/menu"}
        await settle()
        assert await entries(new, "timed/wrap") == ("ready",)
        assert new.timers.next_deadline() == pytest.approx(1030.0, abs=1e-6)
        new.flush_snapshots()
        await asyncio.sleep(0.05)
        await writer.flush()
    assert [s.actor for s, _ in reader.snapshots_waking(["timed"])] == ["timed/menu"]
