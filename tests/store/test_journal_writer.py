from __future__ import annotations

import asyncio
import math
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
from psycopg_pool import ConnectionPool

from store.db import open_pool
from store.journal import (
    JOURNAL_LOCK_KEY,
    JournalClosedError,
    JournalEvent,
    JournalFullError,
    JournalReader,
    JournalWriteError,
)
from store.journal_writer import JournalWriter

NOW = 1_780_000_000.0


def _event(actor: str, seq: int, kind: str = "call.state", **payload: Any) -> JournalEvent:
    return JournalEvent(actor=actor, actor_seq=seq, kind=kind, ts=NOW + seq, payload=payload)


def _run(body: Callable[[JournalWriter], Awaitable[None]], url: str, **options: Any) -> None:
    async def main() -> None:
        async with JournalWriter(url, **options) as writer:
            await body(writer)

    asyncio.run(main())


@pytest.fixture
def pool(db_url: str) -> Iterator[ConnectionPool]:
    with open_pool(db_url, max_size=2) as pool:
        yield pool


def test_acked_events_are_committed_in_order(db_url: str, pool: ConnectionPool) -> None:
    reader = JournalReader(pool)

    async def body(writer: JournalWriter) -> None:
        acks = [await writer.append(_event("call/a", i, n=i)) for i in range(3)]
        acks.append(await writer.append(_event("agent/1001", 0, "agent.ready")))
        assert await asyncio.gather(*acks) == [True] * 4
        # Acknowledged means committed: visible from any other connection.
        assert [r.actor_seq for r in reader.read_actor("call/a")] == [0, 1, 2]

    _run(body, db_url)
    records = reader.read()
    assert [(r.actor, r.actor_seq, r.kind) for r in records] == [
        ("call/a", 0, "call.state"), ("call/a", 1, "call.state"), ("call/a", 2, "call.state"),
        ("agent/1001", 0, "agent.ready"),
    ]
    assert [r.seq for r in records] == sorted(r.seq for r in records)
    assert records[2].payload == {"n": 2}
    assert records[2].ts == pytest.approx(NOW + 2, abs=1e-6)


def test_resent_events_are_idempotent(db_url: str, pool: ConnectionPool) -> None:
    async def body(writer: JournalWriter) -> None:
        assert await (await writer.append(_event("call/a", 1, v="first"))) is True
        assert await (await writer.append(_event("call/a", 1, v="resent"))) is False
        # Duplicates inside one batch: the first copy wins.
        twice = [await writer.append(_event("call/b", 5, v=v)) for v in ("x", "y")]
        assert await asyncio.gather(*twice) == [True, False]

    _run(body, db_url, flush_interval=0.05)
    reader = JournalReader(pool)
    assert [r.payload["v"] for r in reader.read_actor("call/a")] == ["first"]
    assert [r.payload["v"] for r in reader.read_actor("call/b")] == ["x"]


def test_unstorable_events_fail_at_append(db_url: str) -> None:
    async def body(writer: JournalWriter) -> None:
        with pytest.raises(ValueError, match="Out of range float"):
            await writer.append(_event("call/a", 1, x=math.nan))
        with pytest.raises(ValueError, match="U\\+0000"):
            await writer.append(_event("call/a", 1, x="a\x00b"))
        with pytest.raises(ValueError, match="negative actor_seq"):
            await writer.append(_event("call/a", -1))
        with pytest.raises(TypeError, match="must be a mapping"):
            await writer.append(
                JournalEvent(actor="call/a", actor_seq=1, kind="k", ts=NOW, payload=[1])  # type: ignore[arg-type]
            )
        # A literal backslash followed by "u0000" is an ordinary string.
        assert await (await writer.append(_event("call/a", 2, x="\\u0000"))) is True

    _run(body, db_url)


def test_rejected_row_fails_alone(db_url: str, pool: ConnectionPool) -> None:
    async def body(writer: JournalWriter) -> None:
        good = await writer.append(_event("call/a", 1))
        bad = await writer.append(
            JournalEvent(actor="call/a", actor_seq=2, kind="k", ts=1e20)  # timestamp overflow
        )
        also_good = await writer.append(_event("call/a", 3))
        assert await good is True and await also_good is True
        with pytest.raises(JournalWriteError, match=r"call/a#2: .*out of range"):
            await bad

    _run(body, db_url, flush_interval=0.05)
    assert [r.actor_seq for r in JournalReader(pool).read_actor("call/a")] == [1, 3]


def test_backpressure_while_database_blocks(db_url: str, pool: ConnectionPool) -> None:
    async def body(writer: JournalWriter) -> None:
        with psycopg.connect(db_url) as blocker:
            # Holding the journal lock stalls the writer's batch before COMMIT.
            blocker.execute("SELECT pg_advisory_xact_lock(%s)", (JOURNAL_LOCK_KEY,))
            acks = [writer.append_nowait(_event("call/a", i)) for i in range(2)]
            await asyncio.sleep(0.1)  # that batch of 2 is now stuck on the lock
            assert writer.pending == 0
            acks += [writer.append_nowait(_event("call/a", i)) for i in range(2, 6)]
            assert writer.pending == 4
            with pytest.raises(JournalFullError):
                writer.append_nowait(_event("call/a", 6))
            blocked = asyncio.ensure_future(writer.append(_event("call/a", 6)))
            await asyncio.sleep(0.05)
            assert not blocked.done() and not any(a.done() for a in acks)
            blocker.rollback()  # releases the lock
            acks.append(await asyncio.wait_for(blocked, 5))
            assert await asyncio.wait_for(asyncio.gather(*acks), 5) == [True] * 7

    _run(body, db_url, batch_size=2, max_pending=4)
    assert len(JournalReader(pool).read_actor("call/a")) == 7


def test_writer_reconnects_after_losing_its_connection(db_url: str, pool: ConnectionPool) -> None:
    async def body(writer: JournalWriter) -> None:
        assert await (await writer.append(_event("call/a", 1))) is True
        with psycopg.connect(db_url, autocommit=True) as admin:
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
                " AND application_name = ''"
            )
        assert await asyncio.wait_for(await writer.append(_event("call/a", 2)), 10) is True
        await writer.flush()

    _run(body, db_url, retry_max_delay=0.1)
    assert [r.actor_seq for r in JournalReader(pool).read_actor("call/a")] == [1, 2]


def test_close_drains_and_then_refuses(db_url: str, pool: ConnectionPool) -> None:
    async def main() -> None:
        writer = JournalWriter(db_url, flush_interval=1.0)
        await writer.start()
        acks = [writer.append_nowait(_event("call/a", i)) for i in range(10)]
        await writer.close()
        assert all(a.done() and a.result() is True for a in acks)
        with pytest.raises(JournalClosedError):
            writer.append_nowait(_event("call/a", 99))

    asyncio.run(main())
    assert len(JournalReader(pool).read_actor("call/a")) == 10


def test_snapshots_through_writer(db_url: str, pool: ConnectionPool) -> None:
    async def body(writer: JournalWriter) -> None:
        first = await writer.save_snapshot("queue/sales", 3, b"\x81\xa1s\x03", NOW)
        stale = await writer.save_snapshot("queue/sales", 2, b"old", NOW)
        assert await first is True
        assert await stale is False

    _run(body, db_url)
    snapshot = JournalReader(pool).load_snapshot("queue/sales")
    assert snapshot is not None
    assert (snapshot.actor_seq, snapshot.state) == (3, b"\x81\xa1s\x03")


_KILLED_WRITER = textwrap.dedent(
    """
    import asyncio, sys, time
    from store.journal import JournalEvent
    from store.journal_writer import JournalWriter

    async def main(url):
        async with JournalWriter(url, batch_size=50, flush_interval=0.002) as writer:
            seq = 0
            while True:
                acks = []
                for _ in range(20):
                    event = JournalEvent(actor="call/k", actor_seq=seq, kind="tick",
                                         ts=time.time(), payload={"n": seq})
                    acks.append((seq, await writer.append(event)))
                    seq += 1
                for n, ack in acks:
                    await ack
                    sys.stdout.write(f"{n}\\n")
                sys.stdout.flush()
                await asyncio.sleep(0.001)

    asyncio.run(main(sys.argv[1]))
    """
)


def test_acked_events_survive_sigkill_of_writer_process(db_url: str, pool: ConnectionPool) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-c", _KILLED_WRITER, db_url],
        stdout=subprocess.PIPE, text=True,
    )
    acked: list[int] = []
    try:
        assert proc.stdout is not None
        deadline = time.monotonic() + 30
        while len(acked) < 300 and time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            acked.append(int(line))
        os.kill(proc.pid, signal.SIGKILL)  # mid-stream: later events were in flight
    finally:
        proc.kill()
        proc.wait(10)
    assert len(acked) >= 300
    stored = {r.actor_seq for r in JournalReader(pool).read_actor("call/k")}
    assert set(acked) <= stored
