"""SIP over TLS end to end: baresip registers over TLS and takes a queue call on it.

Debian's SIPp is built without OpenSSL (``sipp -t l1`` answers "To use a TLS transport you
must compile SIPp with OpenSSL"), so the TLS phone is baresip (libre has OpenSSL): the
center listens for TLS with a throwaway self-signed certificate made by the ``openssl``
CLI; baresip REGISTERs over TLS with digest, the call of a SIPp caller to the agent's
queue reaches it over that TLS connection, it auto-answers and the caller hangs up.
"""

from __future__ import annotations

import contextlib
import re
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.center import LISTEN_PORTS, Center, free_port_in, running_center
from tests.e2e.test_center_baresip import (
    Baresip,
    baresip_phone,
    bindings,
    call_from_carrier,
)
from tests.e2e.test_center_queues import agent, journal, wait_for
from tests.e2e.test_center_queues import prepare as prepare_queues
from tests.telephony.harness import CARRIER_IP, Sipp, free_port, sipp

SCENARIOS = Path(__file__).resolve().parent / "scenarios"
TLS_PORT_LINE = re.compile(r"^tls_listen = \"127\.0\.0\.1:(\d+)\"$", re.M)


def self_signed(directory: Path) -> tuple[Path, Path]:
    """A throwaway certificate for 127.0.0.1 (P-256, one day) and its key."""
    cert, key = directory / "sip-cert.pem", directory / "sip-key.pem"
    done = subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
         "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "1",
         "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
        capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    return cert, key


def prepare(c: Center) -> None:
    """The queue tests' config, TLS on besides UDP and TCP, on a port of its own."""
    prepare_queues(c)
    cert, key = self_signed(c.workdir)
    tls_port = free_port_in(LISTEN_PORTS, taken={c.sip_port})
    text, n = re.subn(r'^transports = \["udp", "tcp"\]$',
                      f'transports = ["udp", "tcp", "tls"]\ntls_listen = "127.0.0.1:{tls_port}"\n'
                      f'tls_cert = "{cert}"\ntls_key = "{key}"',
                      c.config.read_text(), flags=re.M)
    assert n == 1, "demo config changed: [sip] transports"
    c.config.write_text(text)


@pytest.fixture(scope="module")
def center() -> Iterator[Center]:
    with running_center("contactor-e2e-tls-", prepare) as c:
        yield c


def tls_port(center: Center) -> int:
    match = TLS_PORT_LINE.search(center.config.read_text())
    assert match is not None
    return int(match.group(1))


def telephony_log(center: Center, lines: int = 30) -> str:
    """The last lines of the telephony service's log."""
    path = center.data / "logs" / "telephony.log"
    text = path.read_text(errors="replace") if path.exists() else ""
    return "\n".join(text.splitlines()[-lines:])


@contextlib.contextmanager
def baresip_over_tls(extension: str, password: str, port: int) -> Iterator[Baresip]:
    """baresip registered (or trying to) as ``extension`` over TLS to ``port``."""
    with baresip_phone(extension, password, port, transport="tls", tone_s=3.0) as phone:
        yield phone


def test_baresip_registered_over_tls_rings_on_its_connection_and_answers(
        center: Center, procs: list[Sipp]) -> None:
    since = time.time()
    port = tls_port(center)
    assert center.process("telephony")["stats"]["sip_listen"]["tls"] == f"127.0.0.1:{port}"
    with baresip_over_tls("1002", "bruno-1002", port) as phone:
        registered = phone.wait_event("REGISTER_OK", "REGISTER_FAIL", timeout=10)
        assert registered["type"] == "REGISTER_OK", (registered, phone.log()[-4000:])
        wait_for(lambda: bindings(center, "sip:1002@127.0.0.1"), "bruno's binding over TLS")
        agent(center, "login", "bruno", "--phone", "sip:1002@127.0.0.1")
        agent(center, "ready", "bruno")
        caller = call_from_carrier(center, procs, "2000", talk_ms=1000)
        established = phone.wait_event("CALL_ESTABLISHED", timeout=15)
        phone.wait_event("CALL_CLOSED", timeout=15)
        assert caller.wait(15) == 0, caller.errors()
        trace = phone.log()
    assert established["direction"] == "incoming", established
    # libre traces a message with its connection's ends: the INVITE came over the TLS
    # connection the phone registered on
    [source] = set(re.findall(rf"^TLS 127\.0\.0\.1:(\d+) -> 127\.0\.0\.1:{port}\s*\n"
                              r"REGISTER sip:", trace, flags=re.M))
    assert re.search(rf"^TLS 127\.0\.0\.1:{port} -> 127\.0\.0\.1:{source}\s*\nINVITE sip:",
                     trace, flags=re.M), trace[-4000:]
    [answered] = wait_for(lambda: journal(center, since, "call.answered"), "the answer")
    assert (answered["agent"], answered["queue"]) == ("bruno", "sales")
    [ended] = wait_for(lambda: journal(center, since, "call.ended"), "the end")
    assert ended["call_id"] == answered["call_id"] and ended["cause"] == "caller_hangup", ended
    agent(center, "pause", "bruno", "--reason", "test")


def test_an_agent_hanging_up_over_tls_ends_the_call(center: Center, procs: list[Sipp]) -> None:
    """The phone's BYE goes to the center's Contact (RFC 3261 12.2.1.1): over TLS, that
    Contact must name the TLS listener, not the UDP/TCP one."""
    since = time.time()
    port = tls_port(center)
    with baresip_over_tls("1005", "emma-1005", port) as phone:
        registered = phone.wait_event("REGISTER_OK", "REGISTER_FAIL", timeout=10)
        assert registered["type"] == "REGISTER_OK", (registered, phone.log()[-4000:])
        agent(center, "login", "emma", "--phone", "sip:1005@127.0.0.1")
        agent(center, "ready", "emma")
        caller = sipp("caller", str(SCENARIOS / "caller_wait_bye_any.xml"), local_ip=CARRIER_IP,
                      local_port=free_port(CARRIER_IP, tcp_too=False),
                      remote=f"127.0.0.1:{center.sip_port}", extra=["-s", "2000"])
        procs.append(caller)
        phone.wait_event("CALL_ESTABLISHED", timeout=15)
        invite = phone.log().partition("\nINVITE sip:")[2]
        assert re.search(rf"^Contact: <sip:contactor@127\.0\.0\.1:{port};transport=tls>",
                         invite, flags=re.M), f"TLS listener {port}; the INVITE:\n{invite[:900]}"
        phone.command("hangup")
        closed = phone.wait_event("CALL_CLOSED", timeout=15)
        try:
            code = caller.wait(15)  # the center passed the agent's BYE on
        except AssertionError as timeout:
            raise AssertionError(f"{timeout}\n--- baresip\n{phone.log()[-5000:]}\n"
                                 f"--- center\n{telephony_log(center)}") from None
        assert code == 0, f"{caller.errors()}\n--- baresip\n{phone.log()[-5000:]}"
    assert closed["type"] == "CALL_CLOSED", closed
    [answered] = wait_for(lambda: journal(center, since, "call.answered"), "the answer")
    assert answered["agent"] == "emma"
    [ended] = wait_for(lambda: journal(center, since, "call.ended"), "the end")
    assert ended["call_id"] == answered["call_id"] and ended["cause"] == "callee_hangup", ended
    agent(center, "pause", "emma", "--reason", "test")
