"""Actor timers survive a crash of their host: saved with the snapshot, re-armed on restart."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from typing import Any

import pytest

from actors.durable_timers import PendingTimer, Restored
from actors.persistence import MemorySnapshots
from actors.placement import Placement
from bus.message import Message
from tests.actors.durable_support import (
    WALL_OFFSET,
    Arm,
    Clock,
    Disarm,
    Fired,
    Halt,
    Log,
    Note,
    entries,
    make_host,
    restarted,
    settle,
)

A = "timed/a"


async def armed(store: MemorySnapshots, clock: Clock, *arms: Arm, **kw: Any) -> None:
    """A host that arms ``arms`` on ``A``, persists them, and dies."""
    host = make_host(store, clock, **kw)
    for arm in arms:
        host.tell(A, arm)
    await settle()
    assert host.flush_snapshots() == 1


async def test_a_timer_fires_at_its_deadline_on_the_restarted_host() -> None:
    store, clock = MemorySnapshots(), Clock(1000.0)
    await armed(store, clock, Arm(key="menu", after_s=30, label="no_input"))
    [saved] = store.rows[A].timers
    assert (saved.key, saved.deadline, saved.msg) == ("menu", 1030 + WALL_OFFSET,
                                                      Fired(label="no_input"))
    clock.now = 1010.0  # killed; the new process starts 10 s later
    new = await restarted(store, clock)
    assert A in new.cells and new.recovered_actors == 1
    assert new.stats()["timers_recovered"] == 1
    assert new.timers.next_deadline() == pytest.approx(1030.0, abs=1e-6)
    assert new.fire_timers(1029.99) == 0
    assert new.fire_timers(1030.01) == 1
    assert await entries(new, A) == ("no_input",)
    new.flush_snapshots()
    assert store.rows[A].timers == () and store.rows[A].wake_at is None


async def test_the_restarted_host_fires_it_by_itself_on_the_real_loop() -> None:
    store = MemorySnapshots()
    loop = asyncio.get_running_loop()
    old = make_host(store, Clock(0.0))  # only to build the row through a host
    old.clock, old.wall_clock = loop.time, time.time
    old.tell(A, Arm(key="k", after_s=0.3, label="woke"))
    await settle()
    old.flush_snapshots()
    new = make_host(store, Clock(0.0))
    new.clock, new.wall_clock = loop.time, time.time
    new.start()
    assert new.recovery is not None
    await new.recovery
    assert await entries(new, A) == ()
    await asyncio.sleep(0.5)
    assert await entries(new, A) == ("woke",)


async def test_after_a_reboot_the_deadline_keeps_its_wall_clock_time() -> None:
    store, clock = MemorySnapshots(), Clock(1000.0)
    await armed(store, clock, Arm(key="wrap", after_s=30, label="done"))
    # the machine rebooted: the monotonic clock starts over, the wall clock went on by 10 s
    rebooted = Clock(5.0, offset=WALL_OFFSET + 1010.0 - 5.0)
    new = await restarted(store, rebooted)
    assert new.timers.next_deadline() == pytest.approx(25.0, abs=1e-6)


async def test_a_cancelled_timer_does_not_come_back() -> None:
    store, clock = MemorySnapshots(), Clock(1000.0)
    host = make_host(store, clock)
    host.tell(A, Arm(key="menu", after_s=30, label="no_input"))
    host.tell("timed/b", Arm(key="menu", after_s=30, label="no_input"))
    await settle()
    host.flush_snapshots()
    host.tell(A, Disarm(key="menu"))  # a decision that changes only the timers
    host.tell("timed/b", Arm(key="ring", after_s=5, label="x"))
    host.tell("timed/b", Disarm(key="ring"))  # armed and cancelled between two flushes
    await settle()
    assert host.flush_snapshots() == 2
    assert store.rows[A].timers == ()
    assert [t.key for t in store.rows["timed/b"].timers] == ["menu"]
    new = await restarted(store, Clock(1010.0))
    assert A not in new.cells and "timed/b" in new.cells
    assert new.fire_timers(10_000.0) == 1
    assert await entries(new, A) == ()
    assert await entries(new, "timed/b") == ("no_input",)


async def test_a_replaced_timer_comes_back_once_with_its_new_deadline() -> None:
    store, clock = MemorySnapshots(), Clock(1000.0)
    await armed(store, clock, Arm(key="k", after_s=30, label="first"),
                Arm(key="k", after_s=60, label="second"))
    new = await restarted(store, clock)
    assert [(k, m) for k, _, m in new.timers.of(A)] == [("k", Fired(label="second"))]
    assert new.timers.next_deadline() == pytest.approx(1060.0, abs=1e-6)


async def test_a_fired_timer_does_not_come_back() -> None:
    store, clock = MemorySnapshots(), Clock(1000.0)
    host = make_host(store, clock)
    host.tell(A, Arm(key="k", after_s=5, label="x"))
    await settle()
    host.flush_snapshots()
    clock.now = 1005.0
    assert host.fire_timers(clock.now) == 1
    assert await entries(host, A) == ("x",)
    host.flush_snapshots()
    new = await restarted(store, clock)
    assert A not in new.cells and new.recovered_actors == 0
    assert await entries(new, A) == ("x",)  # reactivated lazily: state kept, no timer
    assert len(new.timers) == 0


async def test_a_timer_fired_but_not_yet_decided_on_survives_the_crash() -> None:
    store, clock = MemorySnapshots(), Clock(1000.0)
    host = make_host(store, clock, batch=1)
    host.tell(A, Arm(key="k", after_s=5, label="x"))
    await settle()
    host.flush_snapshots()
    clock.now = 1005.0
    host.tell(A, Note(label="n"))
    host.fire_timers(clock.now)  # mailbox: the note, then the timer's message
    host.drain(budget=1)  # the note only: the actor is dirty, its timer message waits
    assert host.flush_snapshots() == 1
    assert store.rows[A].state == Log(entries=("n",))
    assert [t.key for t in store.rows[A].timers] == ["k"]
    new = await restarted(store, Clock(1006.0))
    assert await entries(new, A) == ("n", "x")


async def test_a_fired_timer_and_its_rearmed_successor_both_come_back() -> None:
    store, clock = MemorySnapshots(), Clock(1000.0)
    host = make_host(store, clock, batch=1)
    host.tell(A, Arm(key="k", after_s=5, label="x"))
    await settle()
    clock.now = 1005.0
    host.tell(A, Arm(key="k", after_s=60, label="y"))
    host.fire_timers(clock.now)  # mailbox: the new arm, then the first timer's message
    host.drain(budget=1)  # "k" armed again while its fired message still waits
    host.flush_snapshots()
    assert sorted(t.key for t in store.rows[A].timers) == ["k", "k"]
    # restarted after the wall clock was stepped back 10 s: the fired one looks pending
    new = await restarted(store, Clock(1006.0, offset=WALL_OFFSET - 10.0))
    assert await entries(new, A) == ("x",)
    assert [(k, m) for k, _, m in new.timers.of(A)] == [("k", Fired(label="y"))]


async def test_overdue_timers_fire_at_once_in_deadline_order() -> None:
    store, clock = MemorySnapshots(), Clock(1000.0)
    await armed(store, clock, Arm(key="c", after_s=3, label="c"),
                Arm(key="a", after_s=1, label="a"), Arm(key="b", after_s=2, label="b"),
                Arm(key="later", after_s=60, label="later"))
    new = await restarted(store, Clock(1010.0))
    await settle()
    assert await entries(new, A) == ("a", "b", "c")
    assert [k for k, _, _ in new.timers.of(A)] == ["later"]
    new.flush_snapshots()
    assert [t.key for t in store.rows[A].timers] == ["later"]


async def test_overdue_timers_come_before_the_mail_that_reactivated_the_actor() -> None:
    store, clock = MemorySnapshots(), Clock(1000.0)
    await armed(store, clock, Arm(key="b", after_s=2, label="b"),
                Arm(key="a", after_s=1, label="a"), Arm(key="c", after_s=60, label="c"))
    new = make_host(store, Clock(1010.0))  # no eager recovery: reactivated by a message
    new.tell(A, Note(label="late"))
    assert await entries(new, A) == ("a", "b", "late")
    assert [k for k, _, _ in new.timers.of(A)] == ["c"]


class PageCounter:
    """Counts the pages recovery asks for."""

    def __init__(self, inner: MemorySnapshots) -> None:
        self.inner = inner
        self.pages = 0

    async def restore(self, address: str) -> Restored | None:
        return await self.inner.restore(address)

    async def load(self, address: str) -> tuple[Message | None, int] | None:
        return await self.inner.load(address)

    def save(self, address: str, state: Message, actor_seq: int) -> None:
        self.inner.save(address, state, actor_seq)

    def save_with_timers(self, address: str, state: Message, actor_seq: int,
                         timers: Sequence[PendingTimer]) -> None:
        self.inner.save_with_timers(address, state, actor_seq, timers)

    def delete(self, address: str, actor_seq: int) -> None:
        self.inner.delete(address, actor_seq)

    async def waking(self, kinds: Sequence[str], after: tuple[float, str] | None,
                     limit: int) -> list[Restored]:
        self.pages += 1
        return await self.inner.waking(kinds, after, limit)


def seed(store: MemorySnapshots, n: int, base: float, kind: str = "timed") -> list[str]:
    """``n`` actors with one timer each, deadlines shuffled against address order."""
    addresses = []
    for i in range(n):
        address = f"{kind}/{i:05d}"
        deadline = base + ((i * 7919) % n) + 1
        timer = PendingTimer(key="k", deadline=deadline, msg=Fired(label=str(i)))
        store.save_with_timers(address, Log(), 0, [timer])
        addresses.append(address)
    return addresses


async def test_many_actors_come_back_in_pages_earliest_first_and_the_loop_keeps_running() -> None:
    memory, clock = MemorySnapshots(), Clock(1000.0)
    seed(memory, 2000, 1000.0 + WALL_OFFSET)
    store = PageCounter(memory)
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0)

    task = asyncio.get_running_loop().create_task(ticker())
    try:
        new = await restarted(store, clock, recovery_batch=100)
    finally:
        task.cancel()
    assert new.recovered_actors == 2000 and len(new.timers) == 2000
    assert store.pages == 21  # 20 full pages, then an empty one
    assert ticks >= 20  # other tasks ran between pages
    wake = [memory.rows[a].wake_at or 0.0 for a in new.cells]
    assert wake == sorted(wake)  # activated earliest deadline first
    assert new.fire_timers(1000.0 + 2000.5) == 2000


async def test_recovery_takes_only_the_actors_this_host_owns() -> None:
    store, clock = MemorySnapshots(), Clock(1000.0)
    timed = seed(store, 60, 2000.0 + WALL_OFFSET)
    seed(store, 5, 2000.0 + WALL_OFFSET, kind="other")
    placement = Placement({"timed": ("h1", "h2"), "other": ("h2",)})
    h1 = await restarted(store, clock, host_id="h1", placement=placement,
                         kinds=("timed", "other"))
    mine = {a for a in timed if placement.host_of(a) == "h1"}
    assert 0 < len(mine) < len(timed)
    assert set(h1.cells) == mine


class Gated(PageCounter):
    """Reads a page, then waits for the gate: the page is stale by the time it returns."""

    def __init__(self, inner: MemorySnapshots) -> None:
        super().__init__(inner)
        self.gate = asyncio.Event()

    async def waking(self, kinds: Sequence[str], after: tuple[float, str] | None,
                     limit: int) -> list[Restored]:
        page = await super().waking(kinds, after, limit)
        await self.gate.wait()
        return page


async def test_an_actor_stopped_while_recovery_reads_its_page_is_not_revived() -> None:
    memory, clock = MemorySnapshots(), Clock(1000.0)
    await armed(memory, clock, Arm(key="k", after_s=30, label="x"))
    store = Gated(memory)
    new = make_host(store, clock)
    new.start()
    await settle()
    assert store.pages == 1
    new.tell(A, Halt())  # reactivated by a message (its timer with it), then stopped
    await settle()
    assert A not in new.cells and memory.rows[A].state is None
    store.gate.set()
    assert new.recovery is not None
    assert await new.recovery == 0
    assert A not in new.cells and len(new.timers) == 0


async def test_a_poisonous_timer_is_dead_lettered_once_and_not_rearmed() -> None:
    store, clock = MemorySnapshots(), Clock(1000.0)
    await armed(store, clock, Arm(key="k", after_s=1, label="boom"))
    dead: list[dict[str, Any]] = []
    new = await restarted(store, Clock(1010.0), dead=dead)
    await settle()
    assert [d["reason"] for d in dead] == ["actor.poison"]
    new.flush_snapshots()
    assert store.rows[A].timers == ()
    again = await restarted(store, Clock(1020.0))
    assert again.recovered_actors == 0


async def test_a_stopped_actor_leaves_no_timer_behind() -> None:
    store, clock = MemorySnapshots(), Clock(1000.0)
    host = make_host(store, clock)
    host.tell(A, Arm(key="k", after_s=30, label="x"))
    await settle()
    host.flush_snapshots()
    host.tell(A, Halt())
    await settle()
    assert store.rows[A] == Restored(address=A, state=None, actor_seq=0)
    assert (await restarted(store, clock)).recovered_actors == 0


class PlainSnapshots:
    """A store without timers (the contract before durable timers)."""

    def __init__(self) -> None:
        self.saved: list[str] = []

    async def load(self, address: str) -> tuple[Message | None, int] | None:
        return None

    def save(self, address: str, state: Message, actor_seq: int) -> None:
        self.saved.append(address)

    def delete(self, address: str, actor_seq: int) -> None:
        pass


async def test_a_store_without_timers_keeps_them_in_memory_as_before() -> None:
    store = PlainSnapshots()
    host = make_host(store, Clock(1000.0))
    assert host.durable is None
    host.start()
    assert host.recovery is None
    host.tell(A, Arm(key="k", after_s=30, label="x"))
    await settle()
    assert host.flush_snapshots() == 0 and store.saved == []  # a timer alone saves nothing
    host.tell(A, Note(label="n"))
    await settle()
    assert host.flush_snapshots() == 1 and store.saved == [A]


class FlakyPages(PageCounter):
    async def waking(self, kinds: Sequence[str], after: tuple[float, str] | None,
                     limit: int) -> list[Restored]:
        page = await super().waking(kinds, after, limit)
        if self.pages == 1:
            raise ConnectionError("the database is still starting")
        return page


async def test_a_store_failure_during_recovery_is_reported_and_retried() -> None:
    memory, clock = MemorySnapshots(), Clock(1000.0)
    await armed(memory, clock, Arm(key="k", after_s=30, label="x"))
    dead: list[dict[str, Any]] = []
    new = await restarted(FlakyPages(memory), clock, dead=dead)
    assert [d["reason"] for d in dead] == ["timers.recovery_failed"]
    assert "still starting" in dead[0]["text"]
    assert A in new.cells and new.recovered_actors == 1
