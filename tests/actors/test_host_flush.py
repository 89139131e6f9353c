"""``flush_snapshots`` saves exactly the actors changed since the last flush.

It visits the cells marked changed rather than every cell of the host; these pin what it saves
either way: each changed actor once, in its latest state, nothing for untouched ones, nothing
for an actor that stopped, and timer changes (which leave the state alone) too.
"""

from __future__ import annotations

from actors.persistence import MemorySnapshots
from tests.actors.durable_support import Arm, Clock, Disarm, Halt, Log, Note, make_host, settle


class CountingSnapshots(MemorySnapshots):
    def __init__(self) -> None:
        super().__init__()
        self.saved: list[str] = []

    def save_with_timers(self, address, state, actor_seq, timers):  # type: ignore[no-untyped-def]
        self.saved.append(address)
        super().save_with_timers(address, state, actor_seq, timers)


async def test_only_changed_actors_are_saved_once_each_in_their_latest_state() -> None:
    store = CountingSnapshots()
    host = make_host(store, Clock(100.0))
    for name in ("a", "b", "c"):
        host.tell(f"timed/{name}", Note(label="one"))
    await settle()
    assert sorted(store.saved) == [] and host.flush_snapshots() == 3
    assert sorted(store.saved) == ["timed/a", "timed/b", "timed/c"]
    store.saved.clear()
    assert host.flush_snapshots() == 0 and store.saved == []  # nothing changed since
    host.tell("timed/b", Note(label="two"))
    host.tell("timed/b", Note(label="three"))
    await settle()
    assert host.flush_snapshots() == 1 and store.saved == ["timed/b"]
    state = store.rows["timed/b"].state
    assert isinstance(state, Log) and state.entries[-2:] == ("two", "three")


async def test_a_stopped_actor_is_not_saved_and_timer_changes_are() -> None:
    store = CountingSnapshots()
    host = make_host(store, Clock(100.0))
    host.tell("timed/a", Note(label="x"))
    host.tell("timed/b", Note(label="x"))
    await settle()
    host.tell("timed/a", Halt())  # changed, then stopped before the flush
    await settle()
    assert host.flush_snapshots() == 1 and store.saved == ["timed/b"]
    store.saved.clear()
    host.tell("timed/b", Arm(key="k", after_s=30.0, label="later"))  # state unchanged
    await settle()
    assert host.flush_snapshots() == 1 and store.saved == ["timed/b"]
    assert [t.key for t in store.rows["timed/b"].timers] == ["k"]
    store.saved.clear()
    host.tell("timed/b", Disarm(key="k"))
    await settle()
    assert host.flush_snapshots() == 1 and store.rows["timed/b"].timers == ()
