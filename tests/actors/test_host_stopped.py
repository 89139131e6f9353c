"""An actor that stopped is not revived from the snapshot whose deletion is still being
written: a late message (an agent offering a call that just ended) finds it empty."""

from __future__ import annotations

from actors.persistence import MemorySnapshots
from tests.actors.durable_support import Clock, Halt, Note, entries, make_host, settle


class LaggingDeletes(MemorySnapshots):
    """Deletes are written behind: until ``commit()``, reads still see the last snapshot."""

    def __init__(self) -> None:
        super().__init__()
        self.pending: list[tuple[str, int]] = []

    def delete(self, address: str, actor_seq: int) -> None:
        self.pending.append((address, actor_seq))

    def commit(self) -> None:
        for address, seq in self.pending:
            super().delete(address, seq)
        self.pending.clear()


async def test_a_late_message_finds_a_stopped_actor_empty_not_its_last_snapshot() -> None:
    store = LaggingDeletes()
    host = make_host(store, Clock(100.0))
    host.tell("timed/a", Note(label="queued"))
    await settle()
    assert host.flush_snapshots() == 1  # the snapshot says "queued"
    host.tell("timed/a", Halt())  # the call ended: the actor stops, the delete is pending
    await settle()
    assert "timed/a" not in host.cells and store.pending
    assert await entries(host, "timed/a") == ()  # not ("queued",): not revived
    store.commit()


async def test_without_the_memory_a_new_host_reads_the_store_as_it_is() -> None:
    store = LaggingDeletes()
    host = make_host(store, Clock(100.0))
    host.tell("timed/a", Note(label="queued"))
    await settle()
    host.flush_snapshots()
    host.tell("timed/a", Halt())
    await settle()
    store.commit()
    fresh = make_host(store, Clock(101.0))  # a restarted process: the delete was written
    assert await entries(fresh, "timed/a") == ()
