"""baresip, a real softphone, as an agent's phone on a running center (``contactor up``).

baresip runs headless: a config of its own (SIP and RTP on 127.0.0.1, a WAV tone as
microphone, no sound card, no console UI) and ``ctrl_tcp``, its JSON-over-netstring control
socket, over which the account is added and which reports registration and call events.
It registers with digest as an agent's extension; a SIPp carrier caller dials the agent's
queue; baresip auto-answers; the caller hangs up with BYE; the center's journal, ``contactor
explain`` and ``contactor report calls`` credit that agent. With a wrong password the
registrar refuses it (403), keeps no binding, and a queue call for that agent never reaches
it. Nothing here depends on the media mode (relay or anchored): the caller's scenario takes
the answer from whoever gives it.
"""

from __future__ import annotations

import contextlib
import csv
import json
import math
import os
import re
import select
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import time
import wave
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
import pytest

from store.embedded import embedded_status
from tests.e2e.center import Center, running_center
from tests.e2e.test_center_queues import agent, journal, wait_for
from tests.telephony.harness import CARRIER_IP, PHONE_IP, Sipp, free_port, sipp

SCENARIOS = Path(__file__).resolve().parent / "scenarios"
MODULES = Path("/usr/lib/baresip/modules")
BARESIP = shutil.which("baresip") or "/usr/bin/baresip"


def prepare(c: Center) -> None:
    """The demo config with the carrier on 127.0.0.2 (phones are on 127.0.0.1) and short
    wrap-up and no-answer times; the media mode is left as the center's default."""
    text = c.config.read_text()
    subs = {
        r'^host = "127\.0\.0\.1"\nport = 5080\nallow = \["127\.0\.0\.1"\]':
            f'host = "{CARRIER_IP}"\nport = 5080\nallow = ["{CARRIER_IP}"]',
        r"^wrap_up_s = \d+$": "wrap_up_s = 1",
        r"^no_answer_s = 20$": "no_answer_s = 3",
    }
    for pattern, value in subs.items():
        text, n = re.subn(pattern, value, text, flags=re.M)
        assert n >= 1, f"demo config changed: {pattern} matched {n} times"
    c.config.write_text(text)


@pytest.fixture(scope="module")
def center() -> Iterator[Center]:
    with running_center("contactor-e2e-baresip-", prepare) as c:
        yield c


# ---------------------------------------------------------------- baresip


def netstrings(buffer: bytes) -> tuple[list[bytes], bytes]:
    """The complete netstrings (``<len>:<data>,``) at the head of ``buffer``, and the rest."""
    out: list[bytes] = []
    while buffer:
        head, colon, rest = buffer.partition(b":")
        if not head.isdigit() or len(head) > 9:
            raise ValueError(f"ctrl_tcp: not a netstring: {buffer[:40]!r}")
        size = int(head)
        if not colon or len(rest) < size + 1:
            break  # the rest is still on its way
        if rest[size:size + 1] != b",":
            raise ValueError(f"ctrl_tcp: netstring of {size} bytes not closed by ','")
        out.append(rest[:size])
        buffer = rest[size + 1:]
    return out, buffer


@dataclass
class Baresip:
    """A running baresip and its control connection; every event it sent is kept."""

    proc: subprocess.Popen[bytes]
    home: Path
    ctrl: socket.socket
    sip_port: int
    events: list[dict[str, Any]] = field(default_factory=list)
    replies: list[dict[str, Any]] = field(default_factory=list)
    pending: bytes = b""

    def log(self) -> str:
        """Its output: the SIP trace (-s) and what it tells its user."""
        return (self.home / "baresip.log").read_text(errors="replace")

    def _pump(self, timeout: float) -> None:
        ready, _, _ = select.select([self.ctrl], [], [], max(0.0, timeout))
        if not ready:
            return
        chunk = self.ctrl.recv(65536)
        assert chunk, f"baresip closed its control socket\n{self.log()[-4000:]}"
        messages, self.pending = netstrings(self.pending + chunk)
        for raw in messages:
            doc = json.loads(raw)
            (self.events if doc.get("event") else self.replies).append(doc)

    def wait_event(self, *types: str, timeout: float) -> dict[str, Any]:
        """The first event of one of ``types`` (seen before or arriving within ``timeout``)."""
        deadline = time.monotonic() + timeout
        while True:
            for event in self.events:
                if event.get("type") in types:
                    return event
            left = deadline - time.monotonic()
            assert left > 0, (f"baresip sent no {'/'.join(types)} in {timeout} s; events "
                              f"{[e.get('type') for e in self.events]}\n{self.log()[-4000:]}")
            assert self.proc.poll() is None, f"baresip exited\n{self.log()[-4000:]}"
            self._pump(left)

    def drain(self, seconds: float) -> None:
        """Collect events for ``seconds``."""
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            self._pump(left)

    def command(self, command: str, params: str = "", timeout: float = 5.0) -> dict[str, Any]:
        token = f"t{len(self.replies)}-{time.monotonic_ns()}"
        body = json.dumps({"command": command, "params": params, "token": token}).encode()
        self.ctrl.sendall(b"%d:%s," % (len(body), body))
        deadline = time.monotonic() + timeout
        while True:
            for reply in self.replies:
                if reply.get("token") == token:
                    return reply
            left = deadline - time.monotonic()
            assert left > 0, f"baresip did not answer {command!r}\n{self.log()[-4000:]}"
            self._pump(left)


def write_tone(path: Path, seconds: float = 10.0, hz: float = 440.0) -> None:
    """An 8 kHz mono 16-bit WAV sine: baresip 1.0's ``aufile`` source does not resample
    (its ``ausine`` makes 48 kHz stereo only, which a G.711 call cannot take)."""
    rate = 8000
    samples = (8000 * math.sin(2 * math.pi * hz * n / rate) for n in range(int(seconds * rate)))
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(b"".join(struct.pack("<h", int(s)) for s in samples))


def baresip_config(sip_port: int, ctrl_port: int, tone: Path) -> str:
    # No stdio console (no terminal here), no sound card: a WAV tone is the microphone,
    # aubridge the loudspeaker. SIP and RTP on the loopback only (net_interface 127.0.0.1:
    # its SDP offers 127.0.0.1, so no media leaves this machine), no STUN/TURN/ICE.
    return f"""
poll_method		epoll
sip_listen		127.0.0.1:{sip_port}
net_interface		127.0.0.1
call_local_timeout	120
call_max_calls		4
audio_player		aubridge,speaker
audio_alert		aubridge,alert
audio_source		aufile,{tone}
audio_level		no
rtp_stats		no
jitter_buffer_delay	5-10
module_path		{MODULES}
module			g711.so
module			aufile.so
module			aubridge.so
module_tmp		account.so
module_app		menu.so
module_app		ctrl_tcp.so
ctrl_tcp_listen		127.0.0.1:{ctrl_port}
"""


def free_sip_port() -> int:
    """A port for baresip's SIP: it listens on UDP and TCP there, and TLS on the next one."""
    for _ in range(50):
        port = free_port(PHONE_IP)
        with socket.socket() as tls:
            try:
                tls.bind((PHONE_IP, port + 1))
            except OSError:
                continue
        return port
    raise RuntimeError("no port free for baresip's SIP transports")


@contextlib.contextmanager
def baresip_phone(extension: str, password: str, registrar_port: int, *,
                  transport: str = "udp", tone_s: float = 10.0) -> Iterator[Baresip]:
    """baresip registered (or trying to) as ``extension`` over ``transport`` to the
    registrar's ``registrar_port``; always killed afterwards."""
    home = Path(tempfile.mkdtemp(prefix=f"contactor-baresip-{transport}-"))
    sip_port = free_sip_port()
    ctrl_port = free_port(PHONE_IP)
    while ctrl_port in (sip_port, sip_port + 1):
        ctrl_port = free_port(PHONE_IP)
    write_tone(home / "tone.wav", seconds=tone_s)
    (home / "config").write_text(baresip_config(sip_port, ctrl_port, home / "tone.wav"))
    # No account at start: it is added over ctrl_tcp once connected, so that its REGISTER
    # events reach us (ctrl_tcp does not replay events sent before a client connects).
    (home / "accounts").write_text("")
    (home / "contacts").write_text("")
    # the AOR carries the registrar's port; the registrar keys bindings on user@host only
    account = (f"<sip:{extension}@127.0.0.1:{registrar_port};transport={transport}>;"
               f"auth_user={extension};auth_pass={password};answermode=auto;regint=60;"
               "audio_codecs=PCMU,PCMA")
    proc: subprocess.Popen[bytes] | None = None
    ctrl: socket.socket | None = None
    try:
        with (home / "baresip.log").open("wb") as log:
            # -s: SIP trace in the log (what it received is part of the evidence); its own
            # session, so that the whole process group can be killed
            proc = subprocess.Popen([BARESIP, "-f", str(home), "-s"], cwd=home,
                                    stdin=subprocess.DEVNULL, stdout=log,
                                    stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 10
        while ctrl is None:
            assert proc.poll() is None, (
                f"baresip exited {proc.returncode}\n"
                f"{(home / 'baresip.log').read_text(errors='replace')[-3000:]}")
            try:
                ctrl = socket.create_connection(("127.0.0.1", ctrl_port), timeout=1)
            except OSError:
                assert time.monotonic() < deadline, "baresip's ctrl_tcp never listened"
                time.sleep(0.1)
        phone = Baresip(proc=proc, home=home, ctrl=ctrl, sip_port=sip_port)
        added = phone.command("uanew", account)
        assert added.get("ok"), (added, phone.log()[-4000:])
        yield phone
    finally:
        if ctrl is not None:
            ctrl.close()
        if proc is not None:
            _kill(proc)
        shutil.rmtree(home, ignore_errors=True)


def _kill(proc: subprocess.Popen[bytes]) -> None:
    for sig, grace in ((signal.SIGTERM, 3.0), (signal.SIGKILL, 5.0)):
        if proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(grace)


def registration(phone: Baresip) -> dict[str, Any]:
    """baresip's REGISTER_OK or REGISTER_FAIL event.

    baresip 1.0 (libre 1.x, Debian's) gives up with ENOSYS on a 401 that offers an algorithm
    it does not know, so the center offers MD5 alone by default (``[sip] digest_algorithms``):
    the challenge must not carry SHA-256."""
    event = phone.wait_event("REGISTER_OK", "REGISTER_FAIL", timeout=10)
    assert not re.search(r"^WWW-Authenticate: .*algorithm=SHA-256", phone.log(), flags=re.M)
    return event


# ---------------------------------------------------------------- the center's side


def bindings(center: Center, aor: str) -> list[tuple[str, str]]:
    """(contact, user agent) of the registrar's persisted bindings of ``aor``."""
    running = embedded_status(center.data)
    assert running is not None
    with psycopg.connect(running.url) as conn:
        rows = conn.execute("SELECT contact, user_agent FROM sip_binding WHERE aor = %s "
                            "AND expires_at > extract(epoch FROM now())", (aor,)).fetchall()
    return [(str(r[0]), str(r[1])) for r in rows]


def telephony_bindings(center: Center) -> int:
    stats = center.process("telephony")["stats"] or {}
    return int(stats.get("bindings", 0))


def call_from_carrier(center: Center, procs: list[Sipp], number: str, talk_ms: int) -> Sipp:
    proc = sipp("caller", str(SCENARIOS / "caller_baresip.xml"), local_ip=CARRIER_IP,
                local_port=free_port(CARRIER_IP, tcp_too=False),
                remote=f"127.0.0.1:{center.sip_port}",
                extra=["-s", number, "-d", str(talk_ms)])
    procs.append(proc)
    return proc


def calls_report(center: Center, login: str) -> list[dict[str, str]]:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "calls.csv"
        done = center.cli("report", "calls", "--agent", login, "--csv", out)
        assert done.returncode == 0, done.stdout + done.stderr
        with out.open() as f:
            return list(csv.DictReader(f))


# ---------------------------------------------------------------- tests


def test_baresip_registers_answers_a_queue_call_and_the_center_credits_its_agent(
        center: Center, procs: list[Sipp]) -> None:
    since = time.time()
    with baresip_phone("1001", "anna-1001", center.sip_port) as phone:
        registered = registration(phone)
        assert registered["type"] == "REGISTER_OK", (registered, phone.log()[-4000:])
        [(contact, user_agent)] = wait_for(lambda: bindings(center, "sip:1001@127.0.0.1"),
                                           "anna's binding", timeout=5)
        assert "baresip" in user_agent.lower() and "127.0.0.1" in contact
        agent(center, "login", "anna", "--phone", "sip:1001@127.0.0.1")
        agent(center, "ready", "anna")
        caller = call_from_carrier(center, procs, "2000", talk_ms=2000)
        established = phone.wait_event("CALL_ESTABLISHED", timeout=15)  # auto-answered
        closed = phone.wait_event("CALL_CLOSED", timeout=15)
        assert caller.wait(15) == 0, caller.errors()
        trace = phone.log()
    assert established["direction"] == "incoming", established
    assert established["accountaor"].startswith("sip:1001@127.0.0.1"), established
    # the caller's BYE, passed on by the center: baresip names a BYE it receives ECONNRESET
    assert closed["id"] == established["id"], (established, closed)
    assert closed["param"] == "Connection reset by peer", closed
    assert re.search(rf"-> 127\.0\.0\.1:{phone.sip_port}\s*\nBYE sip:", trace), trace[-4000:]
    [answered] = wait_for(lambda: journal(center, since, "call.answered"), "the answer")
    assert (answered["agent"], answered["queue"]) == ("anna", "sales")
    call_id = answered["call_id"]
    [ended] = wait_for(lambda: journal(center, since, "call.ended"), "the end")
    assert ended["call_id"] == call_id and ended["cause"] == "caller_hangup", ended
    explained = center.cli("explain", call_id)
    assert explained.returncode == 0, explained.stderr
    assert "answered by anna" in explained.stdout, explained.stdout
    rows = wait_for(lambda: [r for r in calls_report(center, "anna") if r["call_id"] == call_id],
                    "the call in the calls report")
    assert rows[0]["agent"] == "anna" and rows[0]["queue"] == "sales", rows
    agent(center, "pause", "anna", "--reason", "test")


def test_a_wrong_password_is_refused_and_its_agent_queue_call_never_rings_baresip(
        center: Center, procs: list[Sipp]) -> None:
    since = time.time()
    before = telephony_bindings(center)
    with baresip_phone("1004", "not-davids-password", center.sip_port) as phone:
        refused = registration(phone)
        assert refused["type"] == "REGISTER_FAIL", (refused, phone.log()[-4000:])
        assert "403" in str(refused.get("param", "")), refused
        assert bindings(center, "sip:1004@127.0.0.1") == []
        # david logs in naming that phone and is ready: the registrar has nowhere to ring
        agent(center, "login", "david", "--phone", "sip:1004@127.0.0.1")
        agent(center, "ready", "david")
        caller = call_from_carrier(center, procs, "2001", talk_ms=4000)
        [queued] = wait_for(lambda: journal(center, since, "call.queued"), "the call queued")
        assert queued["queue"] == "support"
        assert caller.wait(20) == 0, caller.errors()  # it gave up: BYE or CANCEL
        phone.drain(0.5)
        assert not [e for e in phone.events if str(e.get("type", "")).startswith("CALL_")], \
            phone.events
        assert not re.search(r"^INVITE sip:", phone.log(), flags=re.M), phone.log()[-4000:]
    assert telephony_bindings(center) <= before
    assert not journal(center, since, "call.answered")
    explained = center.cli("explain", queued["call_id"])
    assert explained.returncode == 0 and "answered by" not in explained.stdout, explained.stdout
    shown = agent(center, "show", "david")
    assert "talking" not in shown, shown
    agent(center, "logout", "david")
