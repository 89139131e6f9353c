"""Run a bare actor host (probe actors only) outside supervision: for benchmarks and tests.

    python -m actors.bare_host --id h2 --bind tcp://127.0.0.1:7002 --peer h1=tcp://127.0.0.1:7001

Prints ``ready <endpoint>`` on stdout once it serves; stops on SIGTERM or when stdin closes.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import subprocess
import sys

from actors.node import Node
from actors.placement import Placement
from actors.probe import Probe
from bus.catalogue import default_codec


async def serve(host_id: str, bind: str, peers: dict[str, str]) -> None:
    loop = asyncio.get_running_loop()
    placement = Placement({"probe": (host_id,)})
    node = Node(
        host_id=host_id,
        codec=default_codec(),
        bind=bind,
        peers=peers,
        placement=placement,
        behaviours=[Probe(host_id)],
        clock=loop.time,
    )
    node.start()
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_reader(
        sys.stdin.fileno(), lambda: stop.set() if not os.read(sys.stdin.fileno(), 1) else None
    )
    print(f"ready {node.endpoint}", flush=True)
    await stop.wait()
    node.close()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--id", required=True)
    ap.add_argument("--bind", required=True)
    ap.add_argument("--peer", action="append", default=[], help="HOST_ID=ENDPOINT")
    a = ap.parse_args()
    peers = dict(p.split("=", 1) for p in a.peer)
    try:
        import uvloop

        uvloop.run(serve(a.id, a.bind, peers))
    except ImportError:
        asyncio.run(serve(a.id, a.bind, peers))


if __name__ == "__main__":
    main()


async def spawn(host_id: str, bind: str, peers: dict[str, str]) -> subprocess.Popen[str]:
    """Start a bare host in a child process and wait until it serves (tests, benchmarks).
    It stops when its stdin closes, so it never outlives the caller."""
    cmd = [sys.executable, "-m", "actors.bare_host", "--id", host_id, "--bind", bind]
    for peer_id, endpoint in peers.items():
        cmd += ["--peer", f"{peer_id}={endpoint}"]
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    line = await asyncio.get_running_loop().run_in_executor(None, proc.stdout.readline)
    if not line.startswith("ready"):
        proc.kill()
        raise RuntimeError(f"bare host {host_id} did not start: {line!r}")
    return proc
