"""Bus benchmark: in-process and cross-process message rates, and ask latency.

    python scripts/bench/bus.py [--messages N] [--asks N] [--json PATH]

Baselines in the same run, so the figures can be read against the machine they ran on: a bare
``asyncio.Queue`` hand-off in one process (what a naive actor mailbox costs) and a raw blocking
ZeroMQ ping-pong between two processes (the floor under any cross-process ask).
Targets (issue 2): >= 500k msgs/s in-process, >= 200k msgs/s cross-process, ask p99 < 300 us.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from actors.bare_host import spawn
from actors.host import Host
from actors.node import Node
from actors.placement import Placement
from actors.probe import Probe, ProbeCount, ProbeCounted
from bus.catalogue import default_codec
from bus.system import Ping

TARGETS = {"in_process_msgs_per_s": 500_000, "cross_process_msgs_per_s": 200_000, "ask_p99_us": 300}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def baseline_queue(n: int) -> float:
    q: asyncio.Queue[int] = asyncio.Queue()

    async def consumer() -> None:
        for _ in range(n):
            await q.get()

    t0 = time.perf_counter()
    task = asyncio.ensure_future(consumer())
    for i in range(n):
        q.put_nowait(i)
    await task
    return n / (time.perf_counter() - t0)


async def in_process(n: int, actors: int = 1000) -> float:
    loop = asyncio.get_running_loop()
    host = Host(
        host_id="b",
        behaviours=[Probe("b")],
        placement=Placement.single("b", ("probe",)),
        clock=loop.time,
    )
    msg = ProbeCounted(received=0)
    addresses = [f"probe/{i}" for i in range(actors)]
    t0 = time.perf_counter()
    for i in range(n):
        host.tell(addresses[i % actors], msg)
    while host.drain(budget=1_000_000):
        pass
    elapsed = time.perf_counter() - t0
    total = 0
    for a in addresses:
        total += (await host.ask(a, ProbeCount())).received  # type: ignore[attr-defined]
    assert total == n, (total, n)
    return n / elapsed


async def cross_process(n: int, asks: int, transport: str) -> tuple[float, float, float]:
    if transport == "ipc":
        run = Path(tempfile.mkdtemp(prefix="contactor-bench-"))
        e1, e2 = f"ipc://{run}/h1.sock", f"ipc://{run}/h2.sock"
    else:
        e1, e2 = f"tcp://127.0.0.1:{free_port()}", f"tcp://127.0.0.1:{free_port()}"
    proc = await spawn("h2", e2, {"h1": e1})
    loop = asyncio.get_running_loop()
    node = Node(
        host_id="h1",
        codec=default_codec(),
        bind=e1,
        peers={"h2": e2},
        placement=Placement({"probe": ("h2",)}),
        clock=loop.time,
    )
    node.start()
    try:
        await node.host.ask("probe/warm", Ping(), timeout=10)
        lat: list[float] = []
        for i in range(asks):
            t = time.perf_counter()
            await node.host.ask("probe/lat", Ping(payload=i), timeout=5)
            lat.append((time.perf_counter() - t) * 1e6)
        lat.sort()
        msg = ProbeCounted(received=0)
        t0 = time.perf_counter()
        chunk = 5000
        for start in range(0, n, chunk):
            for _ in range(min(chunk, n - start)):
                node.host.tell("probe/sink", msg)
            await asyncio.sleep(0)  # let the mesh flush this batch
        got = await node.host.ask("probe/sink", ProbeCount(), timeout=60)
        elapsed = time.perf_counter() - t0
        assert got.received == n, got  # type: ignore[attr-defined]
        return n / elapsed, lat[len(lat) // 2], lat[int(len(lat) * 0.99)]
    finally:
        node.close()
        proc.terminate()
        proc.wait(timeout=5)


RAW_ECHO = """
import sys, zmq
ctx = zmq.Context()
pull, push = ctx.socket(zmq.PULL), ctx.socket(zmq.PUSH)
pull.bind(sys.argv[1])
push.connect(sys.argv[2])
print("ready", flush=True)
while (m := pull.recv()) != b"q":
    push.send(m)
"""


def raw_zmq_rtt(transport: str, n: int) -> tuple[float, float]:
    """Baseline: blocking PUSH/PULL ping-pong between two processes, no codec, no actors."""
    import zmq

    if transport == "ipc":
        run = Path(tempfile.mkdtemp(prefix="contactor-raw-"))
        e1, e2 = f"ipc://{run}/a.sock", f"ipc://{run}/b.sock"
    else:
        e1, e2 = f"tcp://127.0.0.1:{free_port()}", f"tcp://127.0.0.1:{free_port()}"
    ctx = zmq.Context()
    pull, push = ctx.socket(zmq.PULL), ctx.socket(zmq.PUSH)
    pull.bind(e1)
    proc = subprocess.Popen(
        [sys.executable, "-c", RAW_ECHO, e2, e1], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    proc.stdout.readline()
    push.connect(e2)
    lat = []
    for _ in range(n):
        t = time.perf_counter()
        push.send(b"x" * 48)
        pull.recv()
        lat.append((time.perf_counter() - t) * 1e6)
    push.send(b"q")
    proc.wait(timeout=5)
    ctx.destroy(linger=0)
    lat.sort()
    return lat[len(lat) // 2], lat[int(len(lat) * 0.99)]


async def run(messages: int, asks: int) -> dict[str, float]:
    raw_ipc = raw_zmq_rtt("ipc", asks)
    raw_tcp = raw_zmq_rtt("tcp", asks)
    base = await baseline_queue(messages)
    inproc = await in_process(messages)
    cross, p50, p99 = await cross_process(messages, asks, "ipc")
    tcross, tp50, tp99 = await cross_process(messages, asks, "tcp")
    return {
        "baseline_asyncio_queue_msgs_per_s": round(base),
        "baseline_raw_zmq_ipc_rtt_p50_us": round(raw_ipc[0], 1),
        "baseline_raw_zmq_ipc_rtt_p99_us": round(raw_ipc[1], 1),
        "baseline_raw_zmq_tcp_rtt_p50_us": round(raw_tcp[0], 1),
        "baseline_raw_zmq_tcp_rtt_p99_us": round(raw_tcp[1], 1),
        "in_process_msgs_per_s": round(inproc),
        "cross_process_msgs_per_s": round(cross),
        "ask_p50_us": round(p50, 1),
        "ask_p99_us": round(p99, 1),
        "tcp_cross_process_msgs_per_s": round(tcross),
        "tcp_ask_p50_us": round(tp50, 1),
        "tcp_ask_p99_us": round(tp99, 1),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--messages", type=int, default=500_000)
    ap.add_argument("--asks", type=int, default=5_000)
    ap.add_argument("--json", type=Path)
    a = ap.parse_args()
    try:
        import uvloop

        result = uvloop.run(run(a.messages, a.asks))
    except ImportError:
        result = asyncio.run(run(a.messages, a.asks))
    print(f"{'figure':36} {'value':>12} {'target':>12}")
    for k, v in result.items():
        target = TARGETS.get(k)
        print(f"{k:36} {v:>12,} {'' if target is None else f'{target:,}':>12}")
    if a.json:
        a.json.parent.mkdir(parents=True, exist_ok=True)
        a.json.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
