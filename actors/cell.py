"""One entity actor as its host keeps it, and what a host is plugged into.

A :class:`Cell` is an address, a behaviour, one immutable state record, a mailbox and the
bookkeeping of restarts, journal acks and snapshots. The protocols name the host's pluggable
sinks: the transport to other hosts, the journal, the snapshot store and the publisher.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from functools import partial
from typing import Any, Protocol

from actors.behaviour import Behaviour
from bus.envelope import Envelope
from bus.message import Message


class Outbound(Protocol):
    def send(self, host_id: str, env: Envelope) -> None: ...


class JournalSink(Protocol):
    def append(self, address: str, actor_seq: int, event: Message) -> Awaitable[Any]: ...


class SnapshotStore(Protocol):
    async def load(self, address: str) -> tuple[Message | None, int] | None: ...
    def save(self, address: str, state: Message, actor_seq: int) -> None: ...
    def delete(self, address: str, actor_seq: int) -> None: ...


class Publisher(Protocol):
    def publish(self, topic: str, msg: Message) -> None: ...


DeadLetterSink = Callable[[dict[str, Any]], None]
Item = tuple[Message, str, int, int]  # msg, reply_to, corr, envelope kind


class Cell:
    __slots__ = (
        "address",
        "behaviour",
        "dirty",
        "fired",
        "loading",
        "mailbox",
        "outbox",
        "queued",
        "restarts",
        "retrying",
        "seq",
        "state",
    )

    def __init__(self, address: str, behaviour: Behaviour[Any]) -> None:
        self.address = address
        self.behaviour = behaviour
        self.state: Message | None = None
        self.mailbox: deque[Item] = deque()
        self.queued = False
        self.loading = False
        self.restarts: deque[float] = deque()
        self.retrying: Item | None = None
        self.seq = 0  # journal sequence of this actor (idempotent re-sends)
        self.dirty = False
        # (journal acks, envelopes held until they commit), in order
        self.outbox: deque[tuple[list[asyncio.Future[Any]], list[Envelope]]] = deque()
        # timers that fired and whose message waits in the mailbox: (key, deadline, item);
        # still pending for the snapshot, so a crash before the decision does not lose them
        self.fired: deque[tuple[str, float, Item]] = deque()


class DirtyCells:
    """The cells changed since their last snapshot, in the order they changed: a flush, every
    few tens of ms, visits those rather than every cell of the host."""

    __slots__ = ("_cells",)

    def __init__(self) -> None:
        self._cells: dict[str, Cell] = {}

    def __bool__(self) -> bool:
        return bool(self._cells)

    def mark(self, cell: Cell) -> None:
        cell.dirty = True
        self._cells[cell.address] = cell

    def discard(self, cell: Cell) -> None:
        cell.dirty = False
        self._cells.pop(cell.address, None)

    def take(self, live: Mapping[str, Cell]) -> list[Cell]:
        """The marked cells to save now - still changed, still ``live`` (not stopped or
        replaced) and loaded - forgotten here; one not loaded yet stays marked."""
        marked, self._cells = self._cells, {}
        ready: list[Cell] = []
        for address, cell in marked.items():
            if not cell.dirty or live.get(address) is not cell:
                continue
            if cell.state is None:
                self._cells[address] = cell
            else:
                ready.append(cell)
        return ready


def release_outbox(cell: Cell, deliver: Callable[[Envelope], None],
                   dead_letters: DeadLetterSink, _done: object = None) -> None:
    """Deliver ``cell``'s held envelopes whose journal acks are all in, in decision order;
    then wait - a done-callback, not a task per decision - for the first ack still out."""
    outbox = cell.outbox
    while outbox:
        acks, out = outbox[0]
        while acks:
            ack = acks[0]
            if not ack.done():
                ack.add_done_callback(partial(release_outbox, cell, deliver, dead_letters))
                return
            del acks[0]
            if ack.cancelled() or ack.exception() is not None:
                # Sent anyway, as before: the decision was taken and its state kept.
                problem = "cancelled" if ack.cancelled() else repr(ack.exception())
                dead_letters({"reason": "journal.failed", "to": cell.address, "text": problem})
        outbox.popleft()
        for env in out:
            deliver(env)
