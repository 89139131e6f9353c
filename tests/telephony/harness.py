"""A running telephony service for tests, and the peers that talk to it (raw UDP, SIPp).

The service runs in-process through the supervision runner (its own loop thread), on a
config with free ports, against a fresh database of the session's embedded PostgreSQL.
Carriers send from 127.0.0.2 (the trunk's allow-list); phones from 127.0.0.1.
"""

from __future__ import annotations

import contextlib
import select
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import structlog

from supervision.service import ServiceRunner, load_entry

SCENARIOS = Path(__file__).resolve().parent / "scenarios"
CARRIER_IP = "127.0.0.2"
PHONE_IP = "127.0.0.1"
PASSWORDS = {"1001": "anna-secret", "1002": "bruno-secret", "1003": "chloe-secret"}


def free_port(host: str = "127.0.0.1", tcp_too: bool = True) -> int:
    """A port free for UDP (and TCP) on ``host``."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            udp.bind((host, 0))
            port = int(udp.getsockname()[1])
            if not tcp_too:
                return port
            with socket.socket() as tcp:
                try:
                    tcp.bind((host, port))
                except OSError:
                    continue
                return port
    raise RuntimeError("no free port")


@dataclass(frozen=True, slots=True, kw_only=True)
class Ports:
    sip: int
    far_end: int  # the carrier's SIP port for outbound calls (a SIPp UAS)


def config_text(db_url: str, ports: Ports, *, t1: float = 0.1) -> str:
    return f"""
[center]
name = "telephony test"

[store]
url = "{db_url}"

[sip]
listen = "127.0.0.1:{ports.sip}"
transports = ["udp", "tcp"]
domain = "127.0.0.1"
t1 = {t1}

[media]
workers = 1

[[trunk]]
name = "carrier"
host = "{CARRIER_IP}"
port = {ports.far_end}
allow = ["{CARRIER_IP}"]
country_code = "33"

[[route]]
match = "5000"
target = "agent:anna"

[[route]]
match = "5001"
target = "agent:bruno"

[[route]]
match = "5002"
target = "agent:chloe"

[[route]]
match = "_06XXXXXXXX"
target = "external:+33612345678"

[[route]]
match = "7000"
target = "queue:sales"

[[queue]]
name = "sales"

[[agent]]
login = "anna"
name = "Anna"
password = "{PASSWORDS['1001']}"
extension = "1001"

[[agent]]
login = "bruno"
name = "Bruno"
password = "{PASSWORDS['1002']}"
extension = "1002"

[[agent]]
login = "chloe"
name = "Chloe"
password = "{PASSWORDS['1003']}"
extension = "1003"
"""


class Service:
    """The telephony service on its own loop thread, stopped by :meth:`stop`."""

    def __init__(self, config_path: Path, data_dir: Path, **args: object) -> None:
        self.runner = ServiceRunner(load_entry("telephony.service:main"), name="telephony",
                                    config_path=config_path, data_dir=data_dir, args=args,
                                    log=structlog.get_logger().bind(service="telephony"))

    def start(self, timeout: float = 20.0) -> None:
        self.runner.start()
        deadline = time.monotonic() + timeout
        while not self.runner.is_ready:
            if self.runner.is_done:
                raise RuntimeError(f"telephony service failed to start:\n{self.runner.error}")
            if time.monotonic() > deadline:
                raise RuntimeError("telephony service not ready in time")
            select.select([self.runner.wake_fd], [], [], 0.2)
            self.runner.drain_wakeups()

    @property
    def stats(self) -> dict[str, object]:
        return dict(self.runner.stats)

    def stop(self) -> None:
        self.runner.stop_and_join(5.0)
        error = self.runner.error
        self.runner.close()
        if error:
            raise RuntimeError(f"telephony service crashed:\n{error}")


@contextlib.contextmanager
def udp_client(host: str = PHONE_IP) -> Iterator[socket.socket]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((host, 0))
    try:
        yield sock
    finally:
        sock.close()


def receive_all(sock: socket.socket, window: float) -> list[bytes]:
    """Every datagram arriving within ``window`` seconds."""
    out: list[bytes] = []
    deadline = time.monotonic() + window
    while (left := deadline - time.monotonic()) > 0:
        ready, _, _ = select.select([sock], [], [], left)
        if ready:
            out.append(sock.recv(65535))
    return out


def options(port: int, *, host: str = PHONE_IP, branch: str = "z9hG4bKping1") -> bytes:
    return (
        f"OPTIONS sip:127.0.0.1:{port} SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP {host}:5999;branch={branch}\r\n"
        "Max-Forwards: 70\r\n"
        "From: <sip:probe@127.0.0.1>;tag=probe1\r\n"
        f"To: <sip:127.0.0.1:{port}>\r\n"
        f"Call-ID: {branch}@probe\r\n"
        "CSeq: 1 OPTIONS\r\n"
        "Content-Length: 0\r\n\r\n"
    ).encode()


def status_of(data: bytes) -> int:
    first = data.split(b"\r\n", 1)[0].split(b" ")
    return int(first[1]) if first[0].startswith(b"SIP/") else 0


# ---------------------------------------------------------------- SIPp


@dataclass(slots=True)
class Sipp:
    proc: subprocess.Popen[str]
    name: str
    workdir: Path

    def wait(self, timeout: float) -> int:
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError(f"sipp {self.name} did not finish in {timeout} s\n"
                                 f"{self.errors()}") from None

    def errors(self) -> str:
        text = []
        for path in sorted(self.workdir.glob("*")):
            if path.suffix in (".log",) or path.name.endswith("errors.log"):
                text.append(f"--- {path.name}\n{path.read_text(errors='replace')[-3000:]}")
        out = self.proc.stdout.read() if self.proc.stdout and self.proc.poll() is not None else ""
        return "\n".join(text) + (out or "")[-2000:]

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def sipp(name: str, scenario: str, *, local_ip: str, local_port: int, remote: str | None,
         extra: Sequence[str] = (), keys: dict[str, str] | None = None,
         calls: int = 1) -> Sipp:
    """Start SIPp on ``scenario`` (a file in ``scenarios/``), logging errors to a temp dir."""
    workdir = Path(tempfile.mkdtemp(prefix=f"sipp-{name}-"))
    cmd = ["sipp", "-sf", str(SCENARIOS / scenario), "-i", local_ip, "-p", str(local_port),
           "-m", str(calls), "-bg" if False else "-nostdin", "-trace_err",
           "-error_file", str(workdir / "errors.log"), "-timeout", "30", "-timeout_error",
           "-max_recv_loops", "100", "-trace_msg", *extra]
    for key, value in (keys or {}).items():
        cmd.extend(["-key", key, value])
    if remote:
        cmd.append(remote)
    proc = subprocess.Popen(cmd, cwd=workdir, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    return Sipp(proc=proc, name=name, workdir=workdir)
