"""A real center for end-to-end tests: the demo config on free ports, started with the CLI."""

from __future__ import annotations

import contextlib
import json
import random
import re
import shutil
import socket
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.cli.conftest import contactor

REPO = Path(__file__).resolve().parents[2]


#: where a test center's listening ports come from: below the kernel's ephemeral range
#: (32768-60999 here), so that no outgoing socket - a SIPp, PostgreSQL's own UDP socket, a
#: client connection - can be handed one of them between the choice and the bind
LISTEN_PORTS = range(10_000, 19_000)
#: ports from [bus] base_port a center may use in tcp mode (base + offsets, base + 10 + host)
BUS_PORTS = 32
RTP_PORTS = range(21_000, 31_000)  # media ranges of test centers (the demo's is 20000-20999)


def _free(port: int, kinds: tuple[int, ...]) -> bool:
    for kind in kinds:
        with socket.socket(socket.AF_INET, kind) as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                return False
    return True


def free_port_in(band: range, *, count: int = 1, udp: bool = False,
                 rng: random.Random | None = None, taken: set[int] | None = None) -> int:
    """A port of ``band`` with the ``count - 1`` next ones also free (TCP, and UDP too).

    ``taken``: ports already chosen for the same center (not bound yet, so they look free);
    the ports chosen here are added to it."""
    kinds = (socket.SOCK_STREAM, socket.SOCK_DGRAM) if udp else (socket.SOCK_STREAM,)
    rng = rng or random.Random()
    taken = set() if taken is None else taken
    for _ in range(200):
        port = rng.randrange(band.start, band.stop - count)
        chosen = set(range(port, port + count))
        if not chosen & taken and all(_free(p, kinds) for p in chosen):
            taken |= chosen
            return port
    raise RuntimeError(f"no {count} free port(s) in {band.start}-{band.stop}")


@dataclass
class Center:
    workdir: Path
    config: Path
    data: Path
    sip_port: int
    gateway_port: int

    def cli(self, *args: str | Path, timeout: float = 60.0) -> Any:
        return contactor(*args, "--data", self.data, "--config", self.config,
                         cwd=self.workdir, timeout=timeout)

    def status(self) -> dict[str, Any]:
        out = self.cli("status", "--json")
        assert out.returncode == 0, out.stderr
        return json.loads(out.stdout)  # type: ignore[no-any-return]

    def process(self, name: str) -> dict[str, Any]:
        return next(p for p in self.status()["processes"] if p["name"] == name)

    @property
    def gateway(self) -> tuple[str, str]:
        return f"tcp://127.0.0.1:{self.gateway_port}", f"tcp://127.0.0.1:{self.gateway_port + 1}"


def write_config(workdir: Path) -> Center:
    """Copy the demo config (and its IVR schemes) with every port made free."""
    conf = workdir / "conf"
    shutil.copytree(REPO / "conf" / "ivr", conf / "ivr")
    text = (REPO / "conf" / "contactor.toml").read_text()
    taken: set[int] = set()  # chosen but not bound yet: no two roles may get one port
    sip_port = free_port_in(LISTEN_PORTS, udp=True, taken=taken)
    # the gateway's PUB takes the next one
    gateway_port = free_port_in(LISTEN_PORTS, count=2, taken=taken)
    base_port = free_port_in(LISTEN_PORTS, count=BUS_PORTS, taken=taken)
    metrics_port = free_port_in(LISTEN_PORTS, taken=taken)
    rtp = free_port_in(RTP_PORTS, udp=True) // 2 * 2
    subs = {
        r'^data_dir = .*$': 'data_dir = "../var"',
        # tests log agents in without phones; the reconciler would (rightly) log them out
        r'^reconcile_every_s = .*$': "reconcile_every_s = 0",
        r'^base_port = .*$': f"base_port = {base_port}",
        r'^gateway_port = .*$': f"gateway_port = {gateway_port}",
        r'^listen = "127\.0\.0\.1:5060"$': f'listen = "127.0.0.1:{sip_port}"',
        r'^rtp_port_min = .*$': f"rtp_port_min = {rtp}",
        r'^rtp_port_max = .*$': f"rtp_port_max = {rtp + 400}",
        r'^metrics_port = .*$': f"metrics_port = {metrics_port}",
    }
    for pattern, value in subs.items():
        text, n = re.subn(pattern, value, text, flags=re.M)
        assert n == 1, f"demo config changed: {pattern} matched {n} times"
    config = conf / "contactor.toml"
    config.write_text(text)
    return Center(workdir=workdir, config=config, data=workdir / "var", sip_port=sip_port,
                  gateway_port=gateway_port)


@contextlib.contextmanager
def running_center(prefix: str = "contactor-e2e-",
                   prepare: Callable[[Center], None] | None = None) -> Iterator[Center]:
    """A demo-config center on free ports (``prepare`` may edit its files first), started
    with ``contactor up --detach`` and always stopped and removed afterwards."""
    # Not under pytest's tmp (0700 root): the embedded PostgreSQL runs as its own user.
    workdir = Path(tempfile.mkdtemp(prefix=prefix))
    workdir.chmod(0o755)
    c = write_config(workdir)
    if prepare is not None:
        prepare(c)
    up = c.cli("up", "--detach", timeout=120)
    assert up.returncode == 0, f"up failed:\n{up.stdout}\n{up.stderr}"
    try:
        yield c
    finally:
        down = c.cli("down", timeout=60)
        shutil.rmtree(workdir, ignore_errors=True)
        assert down.returncode == 0, down.stderr
