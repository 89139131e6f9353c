"""Two real processes over ZeroMQ on loopback: asks, tells, and malformed frames."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from typing import Any

import msgpack
import pytest
import zmq

from actors.bare_host import spawn
from actors.node import Node
from actors.placement import Placement
from actors.probe import ProbeCount, ProbeCounted
from bus.catalogue import default_codec
from bus.errors import RemoteError
from bus.system import Ping, Pong


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
async def pair() -> AsyncIterator[tuple[Node, list[dict[str, Any]], str]]:
    p1, p2 = free_port(), free_port()
    e1, e2 = f"tcp://127.0.0.1:{p1}", f"tcp://127.0.0.1:{p2}"
    proc = await spawn("h2", e2, {"h1": e1})
    dead: list[dict[str, Any]] = []
    loop = asyncio.get_running_loop()
    node = Node(
        host_id="h1",
        codec=default_codec(),
        bind=e1,
        peers={"h2": e2},
        placement=Placement({"probe": ("h2",)}),
        clock=loop.time,
        dead_letters=dead.append,
    )
    node.start()
    try:
        yield node, dead, e2
    finally:
        node.close()
        proc.terminate()
        proc.wait(timeout=5)


async def test_ask_across_processes(pair: tuple[Node, list[dict[str, Any]], str]) -> None:
    node, _, _ = pair
    reply = await node.host.ask("probe/x", Ping(payload=42), timeout=5)
    assert reply == Pong(payload=42, host="h2")


async def test_tells_arrive_in_order_and_complete(
    pair: tuple[Node, list[dict[str, Any]], str],
) -> None:
    node, _, _ = pair
    await node.host.ask("probe/x", Ping(), timeout=5)  # connection established
    for i in range(20_000):
        node.host.tell("probe/x", ProbeCounted(received=i))
    got = await node.host.ask("probe/x", ProbeCount(), timeout=10)
    assert got == ProbeCounted(received=20_000)


async def test_malformed_frames_do_not_break_the_peer(
    pair: tuple[Node, list[dict[str, Any]], str],
) -> None:
    node, _, e2 = pair
    ctx = zmq.Context.instance()
    raw = ctx.socket(zmq.PUSH)
    raw.connect(e2)
    raw.send(b"\xc1 not msgpack")
    raw.send(msgpack.packb([[9, "probe/x", "", 0, "x", 1, []]]))  # bad kind
    raw.send(msgpack.packb([[0, "probe/x", "", 0, "no.such.tag", 1, []]]))  # unknown message
    raw.close(linger=1000)
    # an ask with a bad field gets a typed error back
    bad = msgpack.packb([[1, "probe/x", "host/h1", 777, "sys.ping", 1, ["not-an-int"]]])
    fut = asyncio.get_running_loop().create_future()
    node.host._pending[777] = fut
    raw2 = ctx.socket(zmq.PUSH)
    raw2.connect(e2)
    raw2.send(bad)
    raw2.close(linger=1000)
    err = await asyncio.wait_for(fut, 5)
    assert err.code == "bus.field" and "sys.ping.payload: expected int" in err.text
    # and the peer still serves
    assert await node.host.ask("probe/x", Ping(payload=1), timeout=5) == Pong(payload=1, host="h2")


async def test_ask_to_unserved_kind_fails_fast(
    pair: tuple[Node, list[dict[str, Any]], str],
) -> None:
    node, _, _ = pair
    with pytest.raises(RemoteError, match="bus.no_route"):
        await node.host.ask("queue/sales", Ping(), timeout=5)


async def test_host_inbox_answers_ping(pair: tuple[Node, list[dict[str, Any]], str]) -> None:
    node, _, _ = pair
    assert await node.host.ask("host/h2", Ping(payload=3), timeout=5) == Pong(payload=3, host="h2")
