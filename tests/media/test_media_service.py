"""The media service as a supervised process: kill -9 mid-recording, orphans, restart."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from actors.node import Node
from bus.catalogue import default_codec
from bus.errors import AskTimeout, RemoteError
from bus.message import Message
from media.messages import Bridge, EndpointOpened, OpenEndpoint, Record, SetRemote
from media.recording_store import RecordingStore
from media.wav import read_wav
from store.db import open_pool
from supervision.composition import Center
from supervision.control import Control, NotRunning, launch
from supervision.messages import StartTree
from supervision.spec import ChildSpec, SupervisorSpec
from tests.media.phones import Phone, stream
from tests.supervision.procs import daemons, wait_until

CONFIG = """
[center]
name = "media test"
data_dir = "data"
[store]
url = "{db_url}"
[media]
workers = 1
rtp_port_min = 33000
rtp_port_max = 33099
recording_format = "flac"
recordings_dir = "data/recordings"
min_free_mb = 1
"""


@pytest.fixture
def center(tmp_path: Path, db_url: str) -> Iterator[tuple[Center, Control]]:
    config = tmp_path / "contactor.toml"
    config.write_text(CONFIG.format(db_url=db_url))
    data = (tmp_path / "data").resolve()
    c = Center.load(config, data)
    plan = c.process("media-1")
    spec = SupervisorSpec(children=(ChildSpec(id=plan.id, start=plan.start,
                                              args=dict(plan.args)),),
                          intensity=3, period_s=30.0)
    launch(data, StartTree(spec=spec, data_dir=data, config_path=config))
    control = Control.attach(data)
    try:
        yield c, control
    finally:
        control.close()
        with contextlib.suppress(NotRunning), Control.attach(data) as again:
            again.shutdown(timeout=15)
        with contextlib.suppress(AssertionError):
            wait_until(lambda: not daemons(data), 5.0, "daemons to exit")
        for pid in daemons(data):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


@pytest.fixture
async def node(center: tuple[Center, Control]) -> AsyncIterator[Node]:
    """This test plays ``actors-1``, the process call actors live in."""
    c, _ = center
    c.topology.prepare()
    n = Node(host_id="actors-1", codec=default_codec(), bind=c.endpoint("actors-1"),
             peers=c.endpoints(), placement=c.placement(),
             clock=asyncio.get_running_loop().time)
    n.start()
    tells: list[Message] = []
    n.host.add_port("call", lambda env: tells.append(env.msg))
    try:
        yield n
    finally:
        n.close()


async def ask(node: Node, msg: Message, timeout: float = 10.0) -> Message:
    """Ask ``media/call``, retrying while the worker (re)starts."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        try:
            return await node.host.ask(f"media/{getattr(msg, 'call_id', 'x')}", msg,
                                       timeout=1.0)
        except (AskTimeout, RemoteError):
            if loop.time() > deadline:
                raise
            await asyncio.sleep(0.1)


async def recorded_call(node: Node, call_id: str) -> tuple[list[Any], dict[str, Any]]:
    caller, agent = Phone(), Phone()
    legs = {}
    for name, phone in (("caller", caller), ("agent", agent)):
        opened = await ask(node, OpenEndpoint(call_id=call_id, leg=name))
        assert isinstance(opened, EndpointOpened)
        await node.host.ask(f"media/{call_id}", SetRemote(
            endpoint=opened.endpoint, host="127.0.0.1", port=phone.port, payload_type=0))
        legs[name] = opened
    await node.host.ask(f"media/{call_id}", Bridge(a=legs["caller"].endpoint,
                                                    b=legs["agent"].endpoint))
    await node.host.ask(f"media/{call_id}", Record(
        call_id=call_id, left=legs["caller"].endpoint, right=legs["agent"].endpoint,
        agent="anna", queue="sales"))
    sources = [(caller, 440.0, (legs["caller"].host, legs["caller"].port)),
               (agent, 880.0, (legs["agent"].host, legs["agent"].port))]
    return sources, legs


def worker_pid(control: Control) -> int | None:
    child = control.status().children[0]
    return child.pid if child.state == "running" else None


async def test_kill_9_mid_recording_keeps_the_audio_and_the_pool_serves_again(
        center: tuple[Center, Control], node: Node, db_url: str) -> None:
    _c, control = center
    control.wait_running(20.0)
    first, _ = await recorded_call(node, "kill-1")
    second, _ = await recorded_call(node, "kill-2")
    await stream(first + second, 1.6)
    victim = worker_pid(control)
    assert victim is not None
    os.kill(victim, signal.SIGKILL)
    await asyncio.to_thread(wait_until, lambda: worker_pid(control) not in (None, victim),
                            10.0, "media-1 to be restarted")

    # New calls get media from the restarted worker.
    third, _legs = await recorded_call(node, "after")
    await stream(third, 0.5)
    caller, agent = third[0][0], third[1][0]
    assert len(caller.received) >= 15 and len(agent.received) >= 15

    # The killed calls' WAVs were registered at restart, marked incomplete, readable.
    pool = open_pool(db_url, max_size=1)
    try:
        store = RecordingStore(pool)

        def registered() -> bool:
            return all(store.find(call_id=cid) for cid in ("kill-1", "kill-2"))

        await asyncio.to_thread(wait_until, registered, 15.0, "orphans to be registered")
        for call_id in ("kill-1", "kill-2"):
            (row,) = store.find(call_id=call_id)
            assert not row.complete and row.format == "flac"
            # 1.6 s were streamed; flushes come at least once a second
            assert 0.55 <= row.duration_s <= 1.7, row.duration_s
            data = subprocess.run(["sox", row.path, "-t", "wav", "-"], capture_output=True,
                                  check=True).stdout
            wav = read_wav(data)
            assert wav.channels == 2 and abs(len(wav.samples) / 8000 - row.duration_s) < 0.05
            assert abs(wav.samples[:, 0]).mean() > 1000 and abs(wav.samples[:, 1]).mean() > 1000
        status = control.status().children[0]
        assert status.restarts == 1
    finally:
        pool.close()
    for phone, _, _ in first + second + third:
        phone.close()


def test_media_processes_follow_the_worker_count(tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    config.write_text("[media]\nworkers = 3\nrtp_port_min = 40000\nrtp_port_max = 40999\n")
    c = Center.load(config, tmp_path)
    media = [p for p in c.plans if p.kinds == ("media",)]
    assert [p.id for p in media] == ["media-1", "media-2", "media-3"]
    assert [p.args for p in media] == [{"worker": k, "workers": 3} for k in range(3)]
    indexes = [p.index for p in c.plans]
    assert len(set(indexes)) == len(indexes)
    assert [p.index for p in media] == list(range(media[0].index, media[0].index + 3))
    assert set(c.placement().kinds["media"]) == {"media-1", "media-2", "media-3"}
