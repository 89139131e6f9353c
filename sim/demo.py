"""The demo's living traffic: real SIP phones for the agents and a carrier placing calls.

``contactor up --demo`` starts this once the center is ready. Every configured agent gets a
SIPp phone that registers with digest and answers calls; the agents log in and go ready
through the gateway; two SIPp callers from the trunk's address call the demo queues' numbers
at a gentle rate and talk for 8-25 s. Everything is on loopback and bounded (a maximum number of
calls and of concurrent calls); :meth:`DemoFeeder.stop` ends it all.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SCENARIOS = Path(__file__).resolve().parent / "sipp"
#: numbers the demo callers dial, and how fast (calls per second each)
DEMO_CALLS = (("2000", 0.1), ("2001", 0.08))  # ~5 erlangs on 5 agents: busy, not swamped
#: the public number: callers walk the IVR (RFC 4733 "1" for sales), calls per second
DEMO_IVR_CALLS = ("+33140000000", 0.03)
MAX_CALLS = 5000  # per caller: the demo stops placing calls after this many
MAX_CONCURRENT = 8
REREGISTER_S = 240.0


def _free_port() -> int:
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            udp.bind(("127.0.0.1", 0))
            port = int(udp.getsockname()[1])
        with socket.socket() as tcp:
            try:
                tcp.bind(("127.0.0.1", port))
            except OSError:
                continue
        return port
    raise RuntimeError("no free port for a demo phone")


@dataclass
class DemoFeeder:
    config: Any  # conf.schema.Config
    login: Callable[[str, str], None]  # (agent login, phone uri): log in and make ready
    say: Callable[[str], None] = print
    _procs: list[subprocess.Popen[bytes]] = field(default_factory=list)
    _phones: list[tuple[str, str, int]] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _workdir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="contactor-demo-")))

    @property
    def sip_target(self) -> str:
        listen = self.config.sip.listen
        return f"{listen.host}:{listen.port}"

    def start(self) -> None:
        if shutil.which("sipp") is None:
            raise RuntimeError("the demo needs SIPp (Debian package sip-tester)")
        domain = self.config.sip.domain
        for agent in self.config.agents:
            port = _free_port()
            # -aa: answer the registrar's OPTIONS keepalives (else the phone is "unreachable")
            self._spawn(f"phone-{agent.login}", "demo_phone.xml", port, ["-aa"])
            self._phones.append((agent.extension, agent.password, port))
        time.sleep(0.3)
        registered = [ext for ext, pw, port in self._phones if self._register(ext, pw, port)]
        self.say(f"demo: {len(registered)} of {len(self._phones)} agent phones registered")
        for agent in self.config.agents:
            if agent.extension in registered:
                try:
                    self.login(agent.login, f"sip:{agent.extension}@{domain}")
                except Exception as exc:  # one agent's refusal must not stop the demo
                    self.say(f"demo: agent {agent.login} could not log in: {exc}")
        trunk_ip = self.config.trunks[0].host if self.config.trunks else "127.0.0.1"
        for number, rate in DEMO_CALLS:
            # one call right away per number, so a newcomer sees traffic at once ...
            self._spawn(f"first-{number}", "demo_caller.xml", _free_port(), [
                "-i", trunk_ip, "-s", number, "-m", "1", self.sip_target])
            # ... then a steady trickle
            self._spawn(f"caller-{number}", "demo_caller.xml", _free_port(), [
                "-i", trunk_ip, "-s", number, "-r", str(rate), "-l", str(MAX_CONCURRENT),
                "-m", str(MAX_CALLS), self.sip_target])
        number, rate = DEMO_IVR_CALLS
        if any(r.match == number and r.target.kind == "ivr" for r in self.config.routes):
            media = ["-mi", trunk_ip, "-mp", str(_free_port())]
            self._spawn("first-ivr", "demo_ivr_caller.xml", _free_port(), [
                "-i", trunk_ip, "-s", number, "-m", "1", *media, self.sip_target])
            self._spawn("caller-ivr", "demo_ivr_caller.xml", _free_port(), [
                "-i", trunk_ip, "-s", number, "-r", str(rate), "-rp", "1000", "-l",
                str(MAX_CONCURRENT), "-m", str(MAX_CALLS), "-mi", trunk_ip, "-mp",
                str(_free_port()), self.sip_target])
            dialled = [*(n for n, _ in DEMO_CALLS), f"{number} (IVR)"]
        else:
            dialled = [n for n, _ in DEMO_CALLS]
        self.say(f"demo: callers dialling {', '.join(dialled)} via {self.sip_target}")
        threading.Thread(target=self._keep_registered, name="demo-register", daemon=True).start()

    def stop(self) -> None:
        self._stop.set()
        for proc in self._procs:
            if proc.poll() is None:
                proc.terminate()
        for proc in self._procs:
            try:
                proc.wait(timeout=3)
            except subprocess.TimeoutExpired:
                proc.kill()
        shutil.rmtree(self._workdir, ignore_errors=True)

    def _spawn(self, name: str, scenario: str, port: int, extra: list[str]) -> None:
        log_dir = self._workdir / name
        log_dir.mkdir(parents=True, exist_ok=True)
        cmd = ["sipp", "-sf", str(SCENARIOS / scenario), "-p", str(port), "-nostdin",
               "-trace_err", "-error_file", str(log_dir / "errors.log")]
        if "-i" not in extra:
            cmd += ["-i", "127.0.0.1"]
        self._procs.append(subprocess.Popen([*cmd, *extra], cwd=log_dir,
                                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))

    def _register(self, ext: str, password: str, contact_port: int) -> bool:
        log_dir = self._workdir / f"register-{ext}"
        log_dir.mkdir(parents=True, exist_ok=True)
        cmd = ["sipp", "-sf", str(SCENARIOS / "demo_register.xml"), "-i", "127.0.0.1",
               "-p", str(_free_port()), "-m", "1", "-nostdin", "-timeout", "10", "-timeout_error",
               "-au", ext, "-ap", password, "-key", "user", ext,
               "-key", "contact_port", str(contact_port), self.sip_target]
        done = subprocess.run(cmd, cwd=log_dir, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, timeout=20, check=False)
        return done.returncode == 0

    def _keep_registered(self) -> None:
        while not self._stop.wait(REREGISTER_S):
            for ext, pw, port in self._phones:
                self._register(ext, pw, port)
