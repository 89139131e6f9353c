"""SIP over TCP end to end: real SIPp peers (``sipp -t t1``) on a running center.

An agent's phone is one SIPp process: it REGISTERs with digest over its TCP connection and
keeps that connection open; the call the center sends it arrives over that same connection
(its Contact names a port where nothing listens, so no other way in), and its out-of-call
scenario answers it. A carrier's SIPp caller dials the agent's queue over TCP too and hangs
up; the journal has the answer and the end. A wrong password over TCP gets 401 then 403,
and the registrar keeps no binding.

TLS (``sipp -t l1``) is not covered here: Debian's SIPp is built without OpenSSL
("To use a TLS transport you must compile SIPp with OpenSSL"); see test_center_tls.py.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.center import LISTEN_PORTS, Center, free_port_in, running_center
from tests.e2e.test_center_baresip import bindings, telephony_bindings
from tests.e2e.test_center_queues import agent, finish, journal, prepare, wait_for
from tests.telephony.harness import CARRIER_IP, PHONE_IP, Sipp, sipp

SCENARIOS = Path(__file__).resolve().parent / "scenarios"
TCP = ["-t", "t1"]


@pytest.fixture(scope="module")
def center() -> Iterator[Center]:
    with running_center("contactor-e2e-tcp-", prepare) as c:
        yield c


def free_ports(count: int = 1) -> list[int]:
    """``count`` distinct free ports (TCP and UDP) on 127.0.0.1, none bound yet."""
    taken: set[int] = set()
    return [free_port_in(LISTEN_PORTS, udp=True, taken=taken) for _ in range(count)]


def tcp_phone(center: Center, procs: list[Sipp], extension: str, password: str
              ) -> tuple[Sipp, int]:
    """A SIPp phone that registers over TCP and answers one call on that connection, and
    its port (SIPp binds its connection to it, and listens there too)."""
    local_port, dead_port = free_ports(2)
    proc = sipp(f"phone-{extension}", str(SCENARIOS / "phone_tcp_register.xml"),
                local_ip=PHONE_IP, local_port=local_port,
                remote=f"127.0.0.1:{center.sip_port}",
                extra=[*TCP, "-au", extension, "-ap", password,
                       "-oocsf", str(SCENARIOS / "phone_tcp_answer.xml")],
                keys={"user": extension, "contact_port": str(dead_port)})
    procs.append(proc)
    return proc, local_port


def tcp_caller(center: Center, procs: list[Sipp], number: str) -> Sipp:
    [port] = free_ports()
    proc = sipp("caller", str(SCENARIOS / "caller_tcp_bye.xml"), local_ip=CARRIER_IP,
                local_port=port, remote=f"127.0.0.1:{center.sip_port}",
                extra=[*TCP, "-s", number])
    procs.append(proc)
    return proc


def established(port: int) -> list[tuple[int, int]]:
    """(local port, remote port) of the established IPv4 TCP connections whose local end is
    ``port`` on 127.0.0.1: on loopback both ends of a connection are listed, so this is
    every connection the owner of ``port`` has, whichever side opened it."""
    local = f"0100007F:{port:04X}"
    found = []
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if fields[1] == local and fields[3] == "01":  # 01: TCP_ESTABLISHED
            found.append((port, int(fields[2].split(":")[1], 16)))
    return found


def messages(proc: Sipp) -> str:
    """What SIPp logged of the messages it sent and received (``-trace_msg``)."""
    return "".join(p.read_text(errors="replace") for p in proc.workdir.glob("*_messages.log"))


def test_an_agent_phone_registered_over_tcp_rings_on_its_connection_and_answers(
        center: Center, procs: list[Sipp]) -> None:
    since = time.time()
    phone, port = tcp_phone(center, procs, "1001", "anna-1001")
    wait_for(lambda: bindings(center, "sip:1001@127.0.0.1"), "anna's binding over TCP")
    agent(center, "login", "anna", "--phone", "sip:1001@127.0.0.1")
    agent(center, "ready", "anna")
    caller = tcp_caller(center, procs, "2000")
    wait_for(lambda: journal(center, since, "call.ringing"), "anna's phone ringing")
    # it rings over the connection it registered on, the only one it has: the center opened
    # none to it (its Contact's port is dead; its own port would have accepted one)
    assert established(port) == [(port, center.sip_port)]
    finish(caller, phone, timeout=20)
    [answered] = wait_for(lambda: journal(center, since, "call.answered"), "the answer")
    assert (answered["agent"], answered["queue"]) == ("anna", "sales")
    [ended] = wait_for(lambda: journal(center, since, "call.ended"), "the end")
    assert ended["call_id"] == answered["call_id"] and ended["cause"] == "caller_hangup", ended
    trace = messages(phone)
    # the center's INVITE and BYE came over TCP, the INVITE with a TCP Via of the center's
    assert re.search(r"TCP message received .*\n\s*INVITE sip:1001@", trace), trace[-4000:]
    assert re.search(rf"^Via: SIP/2\.0/TCP 127\.0\.0\.1:{center.sip_port};", trace,
                     flags=re.M | re.I), trace[-4000:]
    assert re.search(r"TCP message received .*\n\s*BYE sip:", trace), trace[-4000:]
    agent(center, "pause", "anna", "--reason", "test")


def test_a_wrong_password_over_tcp_is_refused_and_leaves_no_binding(
        center: Center, procs: list[Sipp]) -> None:
    before = telephony_bindings(center)
    [port] = free_ports()
    reg = sipp("register-refused", "register_refused.xml", local_ip=PHONE_IP, local_port=port,
               remote=f"127.0.0.1:{center.sip_port}",
               extra=[*TCP, "-au", "1004", "-ap", "not-davids-password"],
               keys={"user": "1004", "contact_port": str(port)})
    procs.append(reg)
    finish(reg, timeout=15)  # 401 with a challenge, then 403 for the wrong answer
    trace = messages(reg)
    assert re.search(r"TCP message received .*\n\s*SIP/2\.0 401 ", trace), trace[-4000:]
    assert re.search(r"TCP message received .*\n\s*SIP/2\.0 403 ", trace), trace[-4000:]
    assert bindings(center, "sip:1004@127.0.0.1") == []
    assert telephony_bindings(center) <= before
