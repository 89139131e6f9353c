"""A timer-driven test actor, a fake clock pair and a host factory for the durable-timer tests.

One :class:`actors.persistence.MemorySnapshots` shared by two hosts in turn stands for the
database across a crash: the first host is simply dropped (nothing flushed at the end, like
``kill -9``), the second starts over the same store.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from actors.effects import CancelTimer, Effect, Fail, Reply, StartTimer, Stop
from actors.host import Host
from actors.placement import Placement
from bus.codec import Catalogue, Codec
from bus.message import Message, message

#: the wall clock minus the host's clock (any constant: the monotonic clock's origin is boot)
WALL_OFFSET = 1_700_000_000.0


@message("dt.log")
class Log(Message):
    entries: tuple[str, ...] = ()


@message("dt.arm")
class Arm(Message):
    key: str
    after_s: float
    label: str


@message("dt.disarm")
class Disarm(Message):
    key: str


@message("dt.fired")
class Fired(Message):
    label: str


@message("dt.note")
class Note(Message):
    label: str


@message("dt.get")
class GetLog(Message):
    pass


@message("dt.halt")
class Halt(Message):
    pass


def codec() -> Codec:
    return Codec(Catalogue([Log, Arm, Disarm, Fired, Note, GetLog, Halt]))


class Timed:
    """Logs what reaches it; arms and disarms timers on request. ``Fired("boom")`` crashes."""

    def __init__(self, kind: str = "timed") -> None:
        self.kind = kind

    def initial(self, address: str) -> Log:
        return Log()

    def decide(self, state: Log, msg: Message, now: float) -> tuple[Log, Sequence[Effect]]:
        if isinstance(msg, Arm):  # the state does not change: only the timer does
            return state, (StartTimer(key=msg.key, after_s=msg.after_s,
                                      msg=Fired(label=msg.label)),)
        if isinstance(msg, Disarm):
            return state, (CancelTimer(key=msg.key),)
        if isinstance(msg, Fired):
            if msg.label == "boom":
                raise RuntimeError("a poisonous timer")
            return Log(entries=(*state.entries, msg.label)), ()
        if isinstance(msg, Note):
            return Log(entries=(*state.entries, msg.label)), ()
        if isinstance(msg, GetLog):
            return state, (Reply(msg=state),)
        if isinstance(msg, Halt):
            return state, (Stop(),)
        return state, (Fail(code="timed.unknown", text=f"timed does not take {msg.TAG}"),)


class Clock:
    """The host's clock (monotonic, origin anywhere) and the wall clock, moved by hand."""

    def __init__(self, now: float, offset: float = WALL_OFFSET) -> None:
        self.now = now
        self.offset = offset

    def mono(self) -> float:
        return self.now

    def wall(self) -> float:
        return self.now + self.offset


def make_host(store: Any, clock: Clock, *, host_id: str = "h1",
              placement: Placement | None = None, kinds: Sequence[str] = ("timed",),
              dead: list[dict[str, Any]] | None = None, **kw: Any) -> Host:
    return Host(
        host_id=host_id,
        behaviours=[Timed(k) for k in kinds],
        placement=placement or Placement.single(host_id, tuple(kinds)),
        clock=clock.mono,
        wall_clock=clock.wall,
        snapshots=store,
        dead_letters=(dead if dead is not None else []).append,
        **kw,
    )


async def restarted(store: Any, clock: Clock, **kw: Any) -> Host:
    """A new host over ``store`` (the old one crashed), its timer recovery finished."""
    host = make_host(store, clock, **kw)
    host.start()
    assert host.recovery is not None
    await host.recovery
    return host


async def entries(host: Host, address: str) -> tuple[str, ...]:
    log = await host.ask(address, GetLog())
    assert isinstance(log, Log)
    return log.entries


async def settle() -> None:
    """Let the loop run queued drains and loads."""
    for _ in range(5):
        await asyncio.sleep(0)

