"""Actor timers that survive a restart of their process.

A host whose snapshot store implements :class:`TimerSnapshotStore` saves each actor's pending
timers with its snapshot, and re-arms them when the actor comes back: lazily (a message
reactivates it) or eagerly at start, by :func:`recover_timers`, for every actor of the host
whose snapshot has a timer pending - an actor that waits only for a timer (an IVR menu's
no-input timeout, an agent's wrap-up, a queue's max wait) has nobody else to wake it.

Deadlines are stored on the wall clock (epoch seconds), not on the host's monotonic clock:
CLOCK_MONOTONIC restarts at a reboot and is not shared between machines, so a monotonic
deadline read back after a power cut, or by another host taking the actor over, would be
meaningless. The host converts with the offset between its two clocks at save and at restore;
a wall-clock step in between (NTP) shifts the re-armed deadlines by that step.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from bus.message import Message

if TYPE_CHECKING:
    from actors.host import Host


@dataclass(frozen=True, slots=True, kw_only=True)
class PendingTimer:
    """A timer as persisted: its key, its deadline (wall clock, epoch s) and its message."""

    key: str
    deadline: float
    msg: Message


@dataclass(frozen=True, slots=True, kw_only=True)
class Restored:
    """An actor as its snapshot left it: state (``None``: stopped), journal sequence, timers."""

    address: str
    state: Message | None
    actor_seq: int
    timers: tuple[PendingTimer, ...] = ()
    #: the earliest timer deadline (epoch s); ``None`` without timers
    wake_at: float | None = None
    #: why the snapshot could not be read (in a recovery page; then no state, no timers)
    problem: str = ""


@runtime_checkable
class TimerSnapshotStore(Protocol):
    """A snapshot store that keeps pending timers with the state."""

    async def restore(self, address: str) -> Restored | None:
        """The actor's snapshot with its timers; ``None`` if it never persisted anything."""
        ...

    def save_with_timers(self, address: str, state: Message, actor_seq: int,
                         timers: Sequence[PendingTimer]) -> None: ...

    def delete(self, address: str, actor_seq: int) -> None: ...

    async def waking(self, kinds: Sequence[str], after: tuple[float, str] | None,
                     limit: int) -> list[Restored]:
        """Up to ``limit`` actors of ``kinds`` with pending timers, in (wake_at, address)
        order, strictly after the cursor ``after`` (keyset paging)."""
        ...


def owned_kinds(host: Host) -> list[str]:
    """The kinds this host runs behaviours for and is placed to serve."""
    return sorted(k for k in host.behaviours if host.host_id in host.placement.kinds.get(k, ()))


async def recover_timers(host: Host, store: TimerSnapshotStore, *, batch: int = 256,
                         retry_s: float = 0.5, retry_max_s: float = 5.0) -> int:
    """Reactivate every actor of ``host`` whose snapshot has pending timers; returns how many.

    Pages of ``batch`` actors, earliest deadline first, so the most overdue callers are served
    first and the loop is given back between pages (a start with 10,000 such actors never
    blocks it for long). A store failure is dead-lettered and the page retried with backoff:
    the actors must wake up eventually, and a message reactivates any of them meanwhile."""
    kinds = owned_kinds(host)
    after: tuple[float, str] | None = None
    adopted = 0
    delay = retry_s
    try:
        while kinds:
            try:
                page = await store.waking(kinds, after, batch)
            except Exception as exc:  # the database may still be starting: keep trying
                host.dead_letters({"reason": "timers.recovery_failed", "to": host.address,
                                   "text": repr(exc)})
                await asyncio.sleep(delay)
                delay = min(delay * 2, retry_max_s)
                continue
            delay = retry_s
            for restored in page:
                if restored.problem:
                    host.dead_letters({"reason": "snapshot.load_failed", "to": restored.address,
                                       "text": restored.problem})
                elif host.adopt(restored):
                    adopted += 1
            if len(page) < batch:
                break
            last = page[-1]
            assert last.wake_at is not None, "a recovery page holds only actors with timers"
            after = (last.wake_at, last.address)
            await asyncio.sleep(0)
    finally:
        host.recovered(adopted)
    return adopted
