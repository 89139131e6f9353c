"""Parallel forking end to end: agent anna is registered from two SIPp phones (two contacts
of ``sip:1001@127.0.0.1`` on different ports, the desk phone and the softphone). A SIPp
carrier calls the sales queue; both phones ring, one answers, the other gets a CANCEL that
says the call was completed elsewhere (RFC 3326); the caller talks to the phone that
answered and hangs up. The journal has one ``call.answered`` (one offer to the agent).

The center runs in relay media mode (the callers check the phone's SDP end to end); the
anchored path is covered by the call actor's tests (tests/actors/call/test_call_forking.py).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.center import Center, running_center
from tests.e2e.test_center_queues import agent, caller, finish, journal, prepare, wait_for
from tests.telephony.harness import PHONE_IP, SCENARIOS, Sipp, free_port, sipp

EXT, PASSWORD, LOGIN = "1001", "anna-1001", "anna"


@pytest.fixture(scope="module")
def center() -> Iterator[Center]:
    with running_center("contactor-e2e-fork-", prepare) as c:
        yield c


def scenario(tmp: Path, name: str, base: str, old: str, new: str) -> str:
    """``base`` (a scenario of tests/telephony) with ``old`` replaced, written to ``tmp``."""
    text = (SCENARIOS / base).read_text()
    assert text.count(old) == 1, f"{base} changed: {old!r}"
    path = tmp / name
    path.write_text(text.replace(old, new))
    return str(path)


def registered(center: Center, procs: list[Sipp], name: str, scenario_path: str) -> Sipp:
    """A SIPp phone on a port of its own, registered as anna's extension with digest."""
    port = free_port(PHONE_IP, tcp_too=False)
    proc = sipp(name, scenario_path, local_ip=PHONE_IP, local_port=port, remote=None,
                keys={"user": EXT})
    procs.append(proc)
    reg = sipp(f"register-{name}", "register.xml", local_ip=PHONE_IP,
               local_port=free_port(PHONE_IP, tcp_too=False),
               remote=f"127.0.0.1:{center.sip_port}", extra=["-au", EXT, "-ap", PASSWORD],
               keys={"user": EXT, "contact_port": str(port)})
    assert reg.wait(15) == 0, reg.errors()
    return proc


def test_both_phones_of_an_agent_ring_one_answers_the_other_is_cancelled(
        center: Center, procs: list[Sipp], tmp_path: Path) -> None:
    since = time.time()
    # the desk phone answers after ringing a while, so that both phones surely ring first
    answering = scenario(tmp_path, "phone_answer_late.xml", "phone_answer.xml",
                         '  <send retrans="500">',
                         '  <pause milliseconds="800"/>\n\n  <send retrans="500">')
    cancelled = scenario(
        tmp_path, "phone_cancelled_elsewhere.xml", "phone_cancelled.xml",
        '  <recv request="CANCEL"/>',
        '  <recv request="CANCEL">\n    <action>\n      <ereg regexp="cause=200" '
        'search_in="hdr" header="Reason:" check_it="true" assign_to="elsewhere"/>\n'
        '    </action>\n  </recv>\n  <Reference variables="elsewhere"/>')
    desk = registered(center, procs, "desk", answering)
    soft = registered(center, procs, "soft", cancelled)
    agent(center, "login", LOGIN, "--phone", f"sip:{EXT}@127.0.0.1")
    agent(center, "ready", LOGIN)
    call = caller(center, procs, "2000")
    finish(call, desk, soft)
    [answered] = wait_for(lambda: journal(center, since, "call.answered"), "the answer")
    assert (answered["agent"], answered["queue"]) == (LOGIN, "sales")
    [ended] = wait_for(lambda: journal(center, since, "call.ended"), "the end")
    assert ended["call_id"] == answered["call_id"] and ended["cause"] == "caller_hangup"
    rang = [r for r in journal(center, since, "call.ringing")
            if r["call_id"] == answered["call_id"]]
    assert len(rang) == 1  # one ring for the agent, whichever phone rang first
    assert len(journal(center, since, "call.answered")) == 1
    agent(center, "pause", LOGIN, "--reason", "test")
