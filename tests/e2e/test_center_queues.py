"""Queue calls end to end: SIPp carriers call ``queue:`` routes of a running center (``contactor
up``), the ACD picks logged-in ready agents, and their registered SIPp phones get the calls.

The demo config, adapted: the carrier trunk sends from 127.0.0.2 (phones are on 127.0.0.1,
so the two are told apart), wrap-up and no-answer times are short, and a queue ``short``
(route 2002, no agent has its skill) overflows to ``sales`` after 2 s; route 2003 runs the
IVR scheme ``front`` (press 1 for sales). This module runs the center in ``[media] mode =
"relay"``: its SIPp callers check that the agent phone's SDP reached them end to end (the
anchored default is tested in test_center_ivr.py and test_center_recording.py).
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from store.embedded import embedded_status
from tests.e2e.center import Center, running_center
from tests.telephony.harness import CARRIER_IP, PHONE_IP, Sipp, free_port, sipp

PHONES = {"anna": ("1001", "anna-1001"), "chloe": ("1003", "chloe-1003"),
          "david": ("1004", "david-1004"), "emma": ("1005", "emma-1005")}

EXTRA = """
[[queue]]
name = "short"
max_wait_s = 2
overflow = "queue:sales"
skills = { billing = 10 }
wrap_up_s = 1

[[route]]
match = "2002"
target = "queue:short"

[[route]]
match = "2003"
target = "ivr:front"

[[ivr]]
name = "front"
scheme = "ivr/front.yaml"
"""

FRONT = """
name: front
start: welcome
nodes:
  welcome:
    type: play
    prompt: "tts:Hi."
    next: menu
  menu:
    type: menu
    prompt: "tts:Press 1."
    choices:
      1: to_sales
    timeout_s: 5
    retries: 0
    failure: bye
  to_sales:
    type: queue
    queue: sales
    priority: 5
  bye:
    type: hangup
    prompt: "tts:Bye."
"""


def adapt(text: str) -> str:
    subs = {
        r'^host = "127\.0\.0\.1"\nport = 5080\nallow = \["127\.0\.0\.1"\]':
            f'host = "{CARRIER_IP}"\nport = 5080\nallow = ["{CARRIER_IP}"]',
        r"^wrap_up_s = \d+$": "wrap_up_s = 1",
        r"^no_answer_s = 20$": "no_answer_s = 3",
        r'^skills = \{ technical = 2 \}$': "skills = { technical = 2 }\nno_answer_s = 3",
    }
    for pattern, value in subs.items():
        text, n = re.subn(pattern, value, text, flags=re.M)
        assert n >= 1, f"demo config changed: {pattern} matched {n} times"
    return text + EXTRA


def prepare(c: Center, media: str = "relay") -> None:
    text = adapt(c.config.read_text())
    c.config.write_text(text.replace("[media]\n", f'[media]\nmode = "{media}"\n', 1))
    (c.config.parent / "ivr" / "front.yaml").write_text(FRONT)


@pytest.fixture(scope="module")
def center() -> Iterator[Center]:
    with running_center("contactor-e2e-acd-", prepare) as c:
        yield c


def agent(center: Center, verb: str, login: str, *args: str) -> str:
    out = center.cli("agent", verb, login, *args)
    assert out.returncode == 0, out.stdout + out.stderr
    return str(out.stdout)


def phone(center: Center, procs: list[Sipp], login: str, scenario: str) -> Sipp:
    """A SIPp phone for ``login`` on a fresh port, registered with digest, logged in."""
    ext, password = PHONES[login]
    port = free_port(PHONE_IP, tcp_too=False)
    proc = sipp(f"phone-{login}", scenario, local_ip=PHONE_IP, local_port=port, remote=None,
                keys={"user": ext})
    procs.append(proc)
    reg = sipp(f"register-{login}", "register.xml", local_ip=PHONE_IP,
               local_port=free_port(PHONE_IP, tcp_too=False),
               remote=f"127.0.0.1:{center.sip_port}", extra=["-au", ext, "-ap", password],
               keys={"user": ext, "contact_port": str(port)})
    assert reg.wait(15) == 0, reg.errors()
    if "logged_out" in agent(center, "show", login):
        agent(center, "login", login, "--phone", f"sip:{ext}@127.0.0.1")
    return proc


def caller(center: Center, procs: list[Sipp], number: str, scenario: str = "caller_bye.xml",
           **keys: str) -> Sipp:
    proc = sipp("caller", scenario, local_ip=CARRIER_IP,
                local_port=free_port(CARRIER_IP, tcp_too=False),
                remote=f"127.0.0.1:{center.sip_port}", extra=["-s", number], keys=keys)
    procs.append(proc)
    return proc


def finish(*procs: Sipp, timeout: float = 25.0) -> None:
    for proc in procs:
        code = proc.wait(timeout)
        assert code == 0, f"sipp {proc.name} exited {code}:\n{proc.errors()}"


def journal(center: Center, since: float, kind: str) -> list[dict[str, Any]]:
    running = embedded_status(center.data)
    assert running is not None
    with psycopg.connect(running.url) as conn:
        rows = conn.execute("SELECT payload FROM journal WHERE kind = %s AND ts >= "
                            "to_timestamp(%s) ORDER BY seq", (kind, since)).fetchall()
    return [r[0] for r in rows]


def wait_for(check: Any, what: str, timeout: float = 10.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found:
            return found
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def test_two_callers_reach_two_ready_agents(center: Center, procs: list[Sipp]) -> None:
    since = time.time()
    phones = [phone(center, procs, login, "phone_answer.xml") for login in ("anna", "emma")]
    for login in ("anna", "emma"):
        agent(center, "ready", login)
    callers = [caller(center, procs, "2000") for _ in range(2)]
    finish(*callers, *phones)
    answered = wait_for(lambda: (a := journal(center, since, "call.answered")) and len(a) == 2
                        and a, "two answers")
    assert {a["agent"] for a in answered} == {"anna", "emma"}
    assert {a["queue"] for a in answered} == {"sales"}
    assert len(journal(center, since, "call.queued")) == 2
    ended = wait_for(lambda: len(journal(center, since, "call.ended")) == 2, "two ends")
    assert ended
    for login in ("anna", "emma"):
        agent(center, "pause", login, "--reason", "test")  # after their 1 s wrap-up


def test_a_caller_waits_ringing_until_an_agent_becomes_ready(center: Center,
                                                           procs: list[Sipp]) -> None:
    since = time.time()
    chloe = phone(center, procs, "chloe", "phone_answer.xml")  # logged in, not ready
    call = caller(center, procs, "2001")
    wait_for(lambda: journal(center, since, "call.queued"), "the call queued")
    time.sleep(0.5)
    assert not journal(center, since, "call.answered")  # nobody ready: the caller waits
    assert call.proc.poll() is None
    agent(center, "ready", "chloe")
    finish(call, chloe)
    [answered] = journal(center, since, "call.answered")
    assert answered["agent"] == "chloe" and float(answered["waited_s"]) > 0.5
    agent(center, "pause", "chloe", "--reason", "test")


def test_an_agent_who_does_not_answer_goes_not_ready_and_the_next_agent_gets_the_call(
        center: Center, procs: list[Sipp]) -> None:
    since = time.time()
    david = phone(center, procs, "david", "phone_cancelled.xml")
    chloe = phone(center, procs, "chloe", "phone_answer.xml")
    agent(center, "ready", "david")
    call = caller(center, procs, "2001")
    wait_for(lambda: "ringing" in agent(center, "show", "david"), "david's phone ringing")
    agent(center, "ready", "chloe")
    finish(david, call, chloe)
    shown = agent(center, "show", "david")
    assert "not_ready" in shown and "no_answer" in shown, shown
    [answered] = journal(center, since, "call.answered")
    assert answered["agent"] == "chloe"
    agent(center, "pause", "chloe", "--reason", "test")


def test_a_call_overflows_after_max_wait_to_another_queue(center: Center,
                                                          procs: list[Sipp]) -> None:
    since = time.time()
    anna = phone(center, procs, "anna", "phone_answer.xml")
    agent(center, "ready", "anna")
    call = caller(center, procs, "2002")
    finish(call, anna)
    queued = journal(center, since, "call.queued")
    assert [q["queue"] for q in queued] == ["short", "sales"]
    [answered] = journal(center, since, "call.answered")
    assert (answered["agent"], answered["queue"]) == ("anna", "sales")
    assert float(answered["waited_s"]) >= 2.0
    agent(center, "pause", "anna", "--reason", "test")


def test_an_ivr_caller_presses_1_by_sip_info_and_reaches_a_sales_agent(
        center: Center, procs: list[Sipp]) -> None:
    since = time.time()
    anna = phone(center, procs, "anna", "phone_offer.xml")
    agent(center, "ready", "anna")
    call = caller(center, procs, "2003", "caller_ivr.xml", digit="1")
    finish(call, anna)
    [queued] = journal(center, since, "call.queued")
    assert queued["queue"] == "sales"
    [answered] = journal(center, since, "call.answered")
    assert (answered["agent"], answered["queue"]) == ("anna", "sales")
    [ended] = wait_for(lambda: journal(center, since, "call.ended"), "the end")
    assert ended["cause"] == "caller_hangup"
    agent(center, "pause", "anna", "--reason", "test")
