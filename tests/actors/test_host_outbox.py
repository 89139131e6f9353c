"""What a decision sends waits for its journal acks, in decision order, without a task each."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from actors.effects import Effect, Journal, Send
from actors.host import Host
from actors.placement import Placement
from bus.message import Message, message


@message("t.outbox.state")
class Seen(Message):
    notes: tuple[int, ...] = ()


@message("t.outbox.note")
class Note(Message):
    n: int
    journal: bool = True


class Relay:
    """``relay/*`` journals each note (if asked) and passes it to ``relay/sink``."""

    kind = "relay"

    def initial(self, address: str) -> Seen:
        return Seen()

    def decide(self, state: Seen, msg: Message, now: float) -> tuple[Seen, Sequence[Effect]]:
        assert isinstance(msg, Note)
        state = Seen(notes=(*state.notes, msg.n))
        if msg.n < 0:  # the sink
            return state, ()
        effects: list[Effect] = [Send(to="relay/sink", msg=Note(n=-msg.n - 1))]
        if msg.journal:
            effects.insert(0, Journal(event=msg))
        return state, effects


class HandJournal:
    """Acks resolved by the test, in any order."""

    def __init__(self) -> None:
        self.acks: list[asyncio.Future[Any]] = []

    def append(self, address: str, actor_seq: int, event: Message) -> asyncio.Future[Any]:
        ack: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self.acks.append(ack)
        return ack


def _host(journal: HandJournal) -> tuple[Host, list[dict[str, Any]]]:
    dead: list[dict[str, Any]] = []
    host = Host(host_id="h1", behaviours=[Relay()], placement=Placement.single("h1", ("relay",)),
                clock=asyncio.get_running_loop().time, journal=journal, dead_letters=dead.append)
    return host, dead


def _sink(host: Host) -> tuple[int, ...]:
    cell = host.cells.get("relay/sink")
    return () if cell is None or cell.state is None else tuple(
        -n - 1 for n in cell.state.notes)  # type: ignore[attr-defined]


async def _turns(n: int = 5) -> None:
    for _ in range(n):
        await asyncio.sleep(0)


async def test_sends_leave_in_decision_order_whatever_order_the_acks_come_in() -> None:
    journal = HandJournal()
    host, dead = _host(journal)
    for n in (1, 2, 3):
        host.tell("relay/a", Note(n=n))
    host.tell("relay/a", Note(n=4, journal=False))  # waits behind the others all the same
    await _turns()
    assert len(journal.acks) == 3 and _sink(host) == ()
    journal.acks[2].set_result(True)
    journal.acks[1].set_result(True)
    await _turns()
    assert _sink(host) == ()  # the first decision's ack is still out
    journal.acks[0].set_result(True)
    await _turns()
    assert _sink(host) == (1, 2, 3, 4)
    assert not dead
    assert not host.cells["relay/a"].outbox


async def test_an_already_committed_ack_sends_at_once() -> None:
    journal = HandJournal()
    host, _ = _host(journal)
    host.tell("relay/a", Note(n=1))
    await _turns()
    journal.acks[0].set_result(True)
    await _turns()
    host.tell("relay/a", Note(n=2))
    await _turns(1)  # drained: the ack is pending
    journal.acks[1].set_result(True)
    await _turns()
    assert _sink(host) == (1, 2)


async def test_a_failed_ack_is_dead_lettered_once_and_the_sends_still_leave() -> None:
    journal = HandJournal()
    host, dead = _host(journal)
    host.tell("relay/a", Note(n=1))
    host.tell("relay/a", Note(n=2))
    await _turns()
    journal.acks[0].set_exception(RuntimeError("database said no"))
    await _turns()
    assert _sink(host) == (1,)
    assert [d["reason"] for d in dead] == ["journal.failed"]
    assert "database said no" in dead[0]["text"] and dead[0]["to"] == "relay/a"
    journal.acks[1].set_result(True)
    await _turns()
    assert _sink(host) == (1, 2)
    assert len(dead) == 1


async def test_a_coroutine_journal_is_awaited_too() -> None:
    """The protocol allows any awaitable; the host turns it into a future."""
    gate = asyncio.Event()

    class Gated(HandJournal):
        def append(self, address: str, actor_seq: int, event: Message) -> Any:
            return gate.wait()

    host, dead = _host(Gated())
    host.tell("relay/a", Note(n=7))
    await _turns()
    assert _sink(host) == ()
    gate.set()
    await _turns()
    assert _sink(host) == (7,) and not dead
