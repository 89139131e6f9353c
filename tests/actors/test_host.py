"""The actor host on a real asyncio loop: delivery, asks, restarts, poison, journal ordering."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import pytest

from actors.effects import Effect, Fail, Journal, Reply, Send, StartTimer, Stop
from actors.host import Host
from actors.placement import Placement
from bus.errors import AskTimeout, RemoteError
from bus.message import Message, message


@message("t.count")
class CountState(Message):
    total: int = 0


@message("t.add")
class Add(Message):
    n: int


@message("t.get")
class Get(Message):
    pass


@message("t.value")
class Value(Message):
    total: int


@message("t.boom")
class Boom(Message):
    pass


@message("t.flaky")
class Flaky(Message):
    pass


@message("t.later")
class Later(Message):
    after_s: float


@message("t.forward")
class Forward(Message):
    to: str
    n: int


@message("t.done")
class Done(Message):
    pass


class Counter:
    kind = "counter"

    def __init__(self) -> None:
        self.flaky_calls = 0

    def initial(self, address: str) -> CountState:
        return CountState()

    def decide(
        self, state: CountState, msg: Message, now: float
    ) -> tuple[CountState, Sequence[Effect]]:
        if isinstance(msg, Add):
            return CountState(total=state.total + msg.n), ()
        if isinstance(msg, Get):
            return state, (Reply(msg=Value(total=state.total)),)
        if isinstance(msg, Boom):
            raise RuntimeError("boom")
        if isinstance(msg, Flaky):
            self.flaky_calls += 1
            if self.flaky_calls == 1:
                raise RuntimeError("first time only")
            return CountState(total=state.total + 100), (Reply(msg=Value(total=state.total + 100)),)
        if isinstance(msg, Later):
            return state, (StartTimer(key="t", after_s=msg.after_s, msg=Add(n=7)),)
        if isinstance(msg, Forward):
            return state, (
                Journal(event=Add(n=msg.n)),
                Send(to=msg.to, msg=Add(n=msg.n)),
                Reply(msg=Value(total=msg.n)),
            )
        if isinstance(msg, Done):
            return state, (Stop(),)
        return state, (Fail(code="counter.unknown", text=f"counter does not take {msg.TAG}"),)


class SlowJournal:
    """A journal whose commits we release by hand, to see what waits for them."""

    def __init__(self) -> None:
        self.rows: list[tuple[str, int, Message]] = []
        self.gate = asyncio.Event()

    def append(self, address: str, actor_seq: int, event: Message) -> Any:
        self.rows.append((address, actor_seq, event))
        return asyncio.ensure_future(self.gate.wait())


def make_host(**kw: Any) -> tuple[Host, list[dict[str, Any]], Counter]:
    dead: list[dict[str, Any]] = []
    beh = Counter()
    loop = asyncio.get_running_loop()
    host = Host(
        host_id="h1",
        behaviours=[beh],
        placement=Placement.single("h1", ("counter",)),
        clock=loop.time,
        dead_letters=dead.append,
        **kw,
    )
    return host, dead, beh


async def test_tell_then_ask_sees_state() -> None:
    host, _, _ = make_host()
    for i in range(1000):
        host.tell("counter/a", Add(n=i))
    reply = await host.ask("counter/a", Get())
    assert reply == Value(total=sum(range(1000)))
    assert host.stats()["actors_by_kind"] == {"counter": 1}


async def test_poison_message_dead_lettered_and_sender_told() -> None:
    host, dead, _ = make_host()
    host.tell("counter/a", Add(n=5))
    with pytest.raises(RemoteError) as info:
        await host.ask("counter/a", Boom())
    assert info.value.code == "actor.crashed"
    assert [d["reason"] for d in dead] == ["actor.poison"]
    assert "RuntimeError: boom" in dead[0]["traceback"]
    # restarted from its last good state, and still serving
    assert await host.ask("counter/a", Get()) == Value(total=5)


async def test_crash_once_then_succeeds_on_redelivery() -> None:
    host, dead, beh = make_host()
    host.tell("counter/a", Add(n=1))
    assert await host.ask("counter/a", Flaky()) == Value(total=101)
    assert beh.flaky_calls == 2
    assert dead == []


async def test_other_actors_unaffected_by_crashes() -> None:
    host, _, _ = make_host()
    host.tell("counter/b", Add(n=2))
    with pytest.raises(RemoteError):
        await host.ask("counter/a", Boom())
    assert await host.ask("counter/b", Get()) == Value(total=2)


async def test_intensity_exceeded_stops_actor_and_fails_its_mail() -> None:
    host, dead, _ = make_host(intensity=3, period_s=60)
    asks = [asyncio.ensure_future(host.ask("counter/a", Boom())) for _ in range(3)]
    results = await asyncio.gather(*asks, return_exceptions=True)
    codes = sorted(r.code for r in results if isinstance(r, RemoteError))
    assert "actor.failed" in codes
    assert any(d["reason"] == "actor.intensity" for d in dead)
    # reactivated fresh by the next message
    assert await host.ask("counter/a", Get()) == Value(total=0)


async def test_unknown_kind_and_bad_address_answer_typed_errors() -> None:
    host, _, _ = make_host()
    with pytest.raises(RemoteError) as info:
        await host.ask("nosuch/a", Get())
    assert info.value.code == "bus.no_route"
    with pytest.raises(RemoteError) as info2:
        await host.ask("no-slash", Get())
    assert info2.value.code == "bus.no_route"


async def test_unhandled_message_fails_with_actor_code() -> None:
    host, _, _ = make_host()
    with pytest.raises(RemoteError) as info:
        await host.ask("counter/a", Value(total=1))
    assert info.value.code == "counter.unknown"


async def test_timer_delivers_message() -> None:
    host, _, _ = make_host()
    host.tell("counter/a", Later(after_s=0.02))
    await asyncio.sleep(0.06)
    assert await host.ask("counter/a", Get()) == Value(total=7)


async def test_ask_timeout_is_typed() -> None:
    host, _, _ = make_host()
    host.tell("counter/a", Later(after_s=5))  # nothing answers an Add
    with pytest.raises(AskTimeout):
        await host.ask("counter/a", Add(n=1), timeout=0.05)


async def test_sends_wait_for_journal_commit() -> None:
    journal = SlowJournal()
    host, _, _ = make_host(journal=journal)
    reply = asyncio.ensure_future(host.ask("counter/a", Forward(to="counter/b", n=9)))
    await asyncio.sleep(0.02)
    assert journal.rows and journal.rows[0][:2] == ("counter/a", 1)
    assert not reply.done()
    assert await host.ask("counter/b", Get()) == Value(total=0)  # the send is held back
    journal.gate.set()
    assert await reply == Value(total=9)
    assert await host.ask("counter/b", Get()) == Value(total=9)


async def test_stop_drops_actor() -> None:
    host, _, _ = make_host()
    host.tell("counter/a", Add(n=3))
    host.tell("counter/a", Done())
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    assert "counter/a" not in host.cells
    assert await host.ask("counter/a", Get()) == Value(total=0)


async def test_port_receives_effects_and_answers_asks() -> None:
    host, _, _ = make_host()
    host.placement = Placement({"counter": ("h1",), "io": ("h1",)})
    seen: list[Message] = []

    def port(env: Any) -> None:
        seen.append(env.msg)
        host.reply(env, Value(total=len(seen)))

    host.add_port("io/disk", port)
    host.tell("io/disk", Add(n=1))
    assert await host.ask("io/disk", Get()) == Value(total=2)
    assert seen == [Add(n=1), Get()]


async def test_timer_due_now_on_uvloop() -> None:
    """A timer armed with no delay left (uvloop hands back a plain Handle for it)."""
    import uvloop

    async def scenario() -> int:
        loop = asyncio.get_running_loop()
        host = Host(host_id="h1", behaviours=[Counter()],
                    placement=Placement.single("h1", ("counter",)), clock=loop.time)
        host.tell("counter/a", Later(after_s=0.0))
        host.tell("counter/a", Later(after_s=0.0))  # re-arms while the first handle is live
        await asyncio.sleep(0.05)
        return (await host.ask("counter/a", Get())).total  # type: ignore[attr-defined, no-any-return]

    total = await asyncio.get_running_loop().run_in_executor(None, uvloop.run, scenario())
    assert total == 7
