"""The writer's batches: one statement per batch, snapshots coalesced per actor, group commit
that adapts to the load, acknowledgement only after COMMIT."""

from __future__ import annotations

import asyncio
import itertools
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from psycopg_pool import ConnectionPool

from store.db import open_pool
from store.journal import (
    JOURNAL_LOCK_KEY,
    JournalEvent,
    JournalReader,
    JournalWriteError,
)
from store.journal_writer import JournalWriter

NOW = 1_780_000_000.0


def _event(actor: str, seq: int) -> JournalEvent:
    return JournalEvent(actor=actor, actor_seq=seq, kind="call.state", ts=NOW + seq,
                        payload={"n": seq, "name": "Zoë \"q\" \\"})


def _run(body: Callable[[JournalWriter], Awaitable[None]], url: str, **options: Any) -> None:
    async def main() -> None:
        async with JournalWriter(url, **options) as writer:
            await body(writer)

    asyncio.run(main())


def _next_xid(url: str) -> int:
    """Each write transaction draws a transaction id; reading this one draws none."""
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute("SELECT pg_snapshot_xmax(pg_current_snapshot())::text").fetchone()
    assert row is not None
    return int(row[0])


@pytest.fixture
def pool(db_url: str) -> Iterator[ConnectionPool]:
    with open_pool(db_url, max_size=2) as pool:
        yield pool


def test_events_and_snapshots_of_one_turn_commit_in_one_transaction(
        db_url: str, pool: ConnectionPool) -> None:
    async def body(writer: JournalWriter) -> None:
        before = _next_xid(db_url)
        acks = [writer.append_nowait(_event(f"call/{i % 3}", i)) for i in range(30)]
        acks += [writer.save_snapshot_nowait(f"call/{i}", i, bytes([i]) * 700, NOW,
                                             timers=b"\x00t" if i else None,
                                             wake_at=NOW + i if i else None)
                 for i in range(3)]
        assert await asyncio.gather(*acks) == [True] * 33
        assert writer.committed_batches == 1
        assert _next_xid(db_url) == before + 1

    _run(body, db_url)
    reader = JournalReader(pool)
    records = reader.read()
    assert [(r.actor, r.actor_seq) for r in records] == [(f"call/{i % 3}", i) for i in range(30)]
    assert [r.seq for r in records] == sorted(r.seq for r in records)
    assert records[4].payload == {"n": 4, "name": "Zoë \"q\" \\"}
    assert records[4].ts == pytest.approx(NOW + 4, abs=1e-6)
    snap = reader.load_snapshot("call/2")
    assert snap is not None
    assert (snap.actor_seq, snap.state, snap.timers, snap.wake_at) == (2, b"\x02" * 700,
                                                                       b"\x00t", NOW + 2)
    first = reader.load_snapshot("call/0")
    assert first is not None and (first.timers, first.wake_at) == (None, None)


def test_names_with_quotes_and_non_ascii_survive_the_batch(
        db_url: str, pool: ConnectionPool) -> None:
    actor, kind = 'queue/ventes "été" \\ 1', "queue.réglée"

    async def body(writer: JournalWriter) -> None:
        acks = [writer.append_nowait(JournalEvent(actor=actor, actor_seq=1, kind=kind, ts=NOW,
                                                  payload={"k": "ü"})),
                writer.save_snapshot_nowait(actor, 1, b"\x00\xff", NOW, timers=b"\x01",
                                            wake_at=NOW + 0.5)]
        assert await asyncio.gather(*acks) == [True, True]

    _run(body, db_url)
    reader = JournalReader(pool)
    (record,) = reader.read_actor(actor)
    assert (record.kind, record.payload) == (kind, {"k": "ü"})
    snap = reader.load_snapshot(actor)
    assert snap is not None
    assert (snap.state, snap.timers, snap.wake_at) == (b"\x00\xff", b"\x01", NOW + 0.5)


def test_snapshots_of_one_actor_in_a_batch_store_only_the_newest(
        db_url: str, pool: ConnectionPool) -> None:
    async def body(writer: JournalWriter) -> None:
        saves = [writer.save_snapshot_nowait("queue/q", seq, state, NOW)
                 for seq, state in [(1, b"one"), (3, b"three"), (2, b"two"), (3, b"three again")]]
        # replaced by the newest: resolves as it did; behind a higher one: refused
        assert await asyncio.gather(*saves) == [True, True, False, True]
        assert writer.coalesced_snapshots == 3
        assert writer.committed_batches == 1

    _run(body, db_url)
    snap = JournalReader(pool).load_snapshot("queue/q")
    assert snap is not None and (snap.actor_seq, snap.state) == (3, b"three again")


_rounds = itertools.count()


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(stored=st.dictionaries(st.sampled_from("abc"), st.integers(0, 4), max_size=3),
       saves=st.lists(st.tuples(st.sampled_from("abc"), st.integers(0, 4)), min_size=1,
                      max_size=12))
def test_a_coalesced_batch_leaves_what_saving_one_by_one_would(
        db_url: str, pool: ConnectionPool, stored: dict[str, int],
        saves: list[tuple[str, int]]) -> None:
    """Same rows, and the same answer to each save, as saving them one at a time."""
    prefix = f"h{next(_rounds)}"
    reader = JournalReader(pool)
    model: dict[str, tuple[int, bytes]] = {}
    for name, seq in stored.items():
        assert reader.save_snapshot(f"{prefix}/{name}", seq, b"old", NOW)
        model[name] = (seq, b"old")
    expected: list[bool] = []
    for i, (name, seq) in enumerate(saves):
        kept = model.get(name)
        accepted = kept is None or kept[0] <= seq
        if accepted:
            model[name] = (seq, b"new%d" % i)
        expected.append(accepted)

    async def body(writer: JournalWriter) -> None:
        acks = [writer.save_snapshot_nowait(f"{prefix}/{name}", seq, b"new%d" % i, NOW)
                for i, (name, seq) in enumerate(saves)]
        assert await asyncio.gather(*acks) == expected
        assert writer.committed_batches == 1

    _run(body, db_url)
    for name, (seq, state) in model.items():
        snap = reader.load_snapshot(f"{prefix}/{name}")
        assert snap is not None and (snap.actor_seq, snap.state) == (seq, state)


@settings(max_examples=20, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(states=st.lists(st.binary(max_size=3000), min_size=1, max_size=8),
       timers=st.lists(st.none() | st.binary(min_size=1, max_size=40), min_size=8, max_size=8))
def test_states_and_timers_come_back_byte_for_byte(
        db_url: str, pool: ConnectionPool, states: list[bytes],
        timers: list[bytes | None]) -> None:
    prefix = f"b{next(_rounds)}"

    async def body(writer: JournalWriter) -> None:
        acks = [writer.save_snapshot_nowait(f"{prefix}/{i}", 1, state, NOW, timers=timers[i],
                                            wake_at=None if timers[i] is None else NOW + i)
                for i, state in enumerate(states)]
        assert await asyncio.gather(*acks) == [True] * len(states)

    _run(body, db_url)
    reader = JournalReader(pool)
    for i, state in enumerate(states):
        snap = reader.load_snapshot(f"{prefix}/{i}")
        assert snap is not None and (snap.state, snap.timers) == (state, timers[i])


def test_an_idle_writer_commits_at_once(db_url: str) -> None:
    """No lingering by default: an event alone is committed in about one round trip."""
    async def body(writer: JournalWriter) -> None:
        for i in range(5):
            assert await asyncio.wait_for(writer.append_nowait(_event("call/a", i)), 0.5)
        assert writer.committed_batches == 5

    _run(body, db_url)

    async def lingering(writer: JournalWriter) -> None:
        ack = writer.append_nowait(_event("call/b", 0))
        await asyncio.sleep(0.2)
        assert not ack.done()  # flush_interval asked for: it waits
        await writer.flush()  # flush does not
        assert ack.result() is True

    _run(lingering, db_url, flush_interval=30.0)


def test_appends_during_a_commit_form_the_next_batch(db_url: str, pool: ConnectionPool) -> None:
    """Group commit: whatever arrives while a batch commits goes out together, next."""
    async def body(writer: JournalWriter) -> None:
        with psycopg.connect(db_url) as blocker:
            blocker.execute("SELECT pg_advisory_xact_lock(%s)", (JOURNAL_LOCK_KEY,))
            first = writer.append_nowait(_event("call/a", 0))
            await asyncio.sleep(0.1)  # that batch now waits for the lock: not committed
            assert not first.done()
            assert not JournalReader(pool).read_actor("call/a")
            rest = [writer.append_nowait(_event("call/a", i)) for i in range(1, 40)]
            rest += [writer.save_snapshot_nowait("call/a", 39, b"s", NOW)]
            await asyncio.sleep(0.05)
            assert not any(a.done() for a in rest)
            blocker.rollback()
        assert await asyncio.wait_for(first, 5) is True
        assert await asyncio.wait_for(asyncio.gather(*rest), 5) == [True] * 40
        assert writer.committed_batches == 2

    _run(body, db_url)
    assert len(JournalReader(pool).read_actor("call/a")) == 40


def test_a_rejected_snapshot_fails_alone(db_url: str, pool: ConnectionPool) -> None:
    async def body(writer: JournalWriter) -> None:
        event = writer.append_nowait(_event("call/a", 1))
        good = writer.save_snapshot_nowait("call/a", 1, b"good", NOW)
        bad = writer.save_snapshot_nowait("call/b", 1, b"bad", 1e20)  # timestamp out of range
        other = writer.save_snapshot_nowait("call/c", 2, b"other", NOW)
        assert await event is True and await good is True and await other is True
        with pytest.raises(JournalWriteError, match=r"snapshot call/b#1: .*out of range"):
            await bad

    _run(body, db_url)
    reader = JournalReader(pool)
    assert [r.actor_seq for r in reader.read_actor("call/a")] == [1]
    assert reader.load_snapshot("call/b") is None
    assert reader.load_snapshot("call/c") is not None


def test_non_finite_times_are_refused_at_the_door(db_url: str) -> None:
    async def body(writer: JournalWriter) -> None:
        with pytest.raises(ValueError, match="ts inf, not a time"):
            writer.append_nowait(JournalEvent(actor="call/a", actor_seq=0, kind="k",
                                              ts=float("inf")))
        with pytest.raises(ValueError, match="snapshot of call/a: ts is nan"):
            writer.save_snapshot_nowait("call/a", 0, b"s", float("nan"))
        with pytest.raises(ValueError, match="wake_at is inf, not a time"):
            writer.save_snapshot_nowait("call/a", 0, b"s", NOW, timers=b"t",
                                        wake_at=float("inf"))
        assert writer.pending == 0

    _run(body, db_url)


_KILLED_WRITER = textwrap.dedent(
    """
    import asyncio, sys, time
    from store.journal import JournalEvent
    from store.journal_writer import JournalWriter

    async def main(url):
        async with JournalWriter(url) as writer:
            seq = 0
            while True:
                acks = []
                for _ in range(10):
                    actor = f"call/k{seq % 7}"
                    event = JournalEvent(actor=actor, actor_seq=seq, kind="tick",
                                         ts=time.time(), payload={"n": seq})
                    acks.append((f"e {actor} {seq}", writer.append_nowait(event)))
                    acks.append((f"s {actor} {seq}", writer.save_snapshot_nowait(
                        actor, seq, str(seq).encode(), time.time())))
                    seq += 1
                for line, ack in acks:
                    await ack
                    sys.stdout.write(line + "\\n")
                sys.stdout.flush()
                await asyncio.sleep(0)

    asyncio.run(main(sys.argv[1]))
    """
)


def test_acknowledged_means_committed_across_a_sigkill(db_url: str, pool: ConnectionPool) -> None:
    proc = subprocess.Popen([sys.executable, "-c", _KILLED_WRITER, db_url],
                            stdout=subprocess.PIPE, text=True)
    acked: list[list[str]] = []
    try:
        assert proc.stdout is not None
        deadline = time.monotonic() + 30
        while len(acked) < 600 and time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            acked.append(line.split())
        os.kill(proc.pid, signal.SIGKILL)  # mid-stream: later batches were in flight
    finally:
        proc.kill()
        proc.wait(10)
    assert len(acked) >= 600
    reader = JournalReader(pool)
    events = {(r.actor, r.actor_seq) for r in reader.read(limit=100_000)}
    for what, actor, seq in acked:
        if what == "e":
            assert (actor, int(seq)) in events
        else:
            snap = reader.load_snapshot(actor)
            assert snap is not None and snap.actor_seq >= int(seq)
