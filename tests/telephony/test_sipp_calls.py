"""End to end with SIPp: registered agent phones receive calls from a carrier through the
running telephony service (relay mode: SDP passes through), and the journal tells the story.

Phones are SIPp UAS processes on 127.0.0.1 that first register (another SIPp run, digest
auth) with their UAS port as Contact; the carrier is a SIPp UAC on 127.0.0.2, the trunk's
allow-list. Numbers: 5000 rings anna (1001), 5001 rings bruno (1002).
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import psycopg
import pytest

from tests.telephony.conftest import Running
from tests.telephony.harness import (
    CARRIER_IP,
    PASSWORDS,
    PHONE_IP,
    Sipp,
    free_port,
    receive_all,
    sipp,
)

PHONES = {"anna": "1001", "bruno": "1002", "chloe": "1003"}


@pytest.fixture(scope="module")
def phone_ports() -> dict[str, int]:
    return {login: free_port(PHONE_IP, tcp_too=False) for login in PHONES}


@pytest.fixture
def procs() -> Iterator[list[Sipp]]:
    started: list[Sipp] = []
    yield started
    for proc in started:
        proc.kill()


def register(running: Running, login: str, contact_port: int, *,
             password: str | None = None, scenario: str = "register.xml") -> None:
    ext = PHONES[login]
    reg = sipp(f"register-{login}", scenario, local_ip=PHONE_IP,
               local_port=free_port(PHONE_IP, tcp_too=False),
               remote=f"127.0.0.1:{running.ports.sip}",
               extra=["-au", ext, "-ap", password or PASSWORDS[ext]],
               keys={"user": ext, "contact_port": str(contact_port)})
    code = reg.wait(15)
    assert code == 0, f"registration of {login} failed ({code}):\n{reg.errors()}"


def phone(procs: list[Sipp], login: str, port: int, scenario: str, **keys: str) -> Sipp:
    proc = sipp(f"phone-{login}", scenario, local_ip=PHONE_IP, local_port=port, remote=None,
                keys={"user": PHONES[login], **keys})
    procs.append(proc)
    time.sleep(0.2)  # let it bind before anyone calls
    return proc


def caller(procs: list[Sipp], running: Running, number: str, scenario: str) -> Sipp:
    proc = sipp("caller", scenario, local_ip=CARRIER_IP,
                local_port=free_port(CARRIER_IP, tcp_too=False),
                remote=f"127.0.0.1:{running.ports.sip}", extra=["-s", number])
    procs.append(proc)
    return proc


def finish(*procs: Sipp, timeout: float = 20.0) -> None:
    for proc in procs:
        code = proc.wait(timeout)
        assert code == 0, f"sipp {proc.name} exited {code}:\n{proc.errors()}"


def journal_since(running: Running, since: float, kind_prefix: str = "call.",
                  wait_for: str | None = "call.ended", timeout: float = 5.0
                  ) -> list[tuple[str, str, dict[str, object]]]:
    """(actor, kind, payload) of call events journaled after ``since`` (epoch seconds)."""
    deadline = time.monotonic() + timeout
    while True:
        with psycopg.connect(running.db_url) as conn:
            rows = conn.execute(
                "SELECT actor, kind, payload FROM journal WHERE kind LIKE %s"
                " AND ts >= to_timestamp(%s) ORDER BY seq", (kind_prefix + "%", since)
            ).fetchall()
        if wait_for is None or any(r[1] == wait_for for r in rows) or \
                time.monotonic() > deadline:
            return [(r[0], r[1], r[2]) for r in rows]
        time.sleep(0.1)


def kinds(rows: list[tuple[str, str, dict[str, object]]]) -> list[str]:
    return [kind for _actor, kind, _payload in rows]


def ended(rows: list[tuple[str, str, dict[str, object]]]) -> dict[str, object]:
    found = [payload for _a, kind, payload in rows if kind == "call.ended"]
    assert len(found) == 1, rows
    return found[0]


def test_registered_phone_receives_a_call_and_the_caller_hangs_up(
        running: Running, phone_ports: dict[str, int], procs: list[Sipp]) -> None:
    since = time.time()
    anna = phone(procs, "anna", phone_ports["anna"], "phone_answer.xml")
    register(running, "anna", phone_ports["anna"])
    call = caller(procs, running, "5000", "caller_bye.xml")
    finish(call, anna)
    rows = journal_since(running, since)
    assert kinds(rows) == ["call.created", "call.ringing", "call.answered", "call.ended"]
    created = rows[0][2]
    assert created["route"] == "agent:anna" and created["source"] == "trunk:carrier"
    assert created["caller"] == "+33140000001" and created["dialled"] == "+335000"
    end = ended(rows)
    assert end["cause"] == "caller_hangup" and end["by_leg"] == "a"
    assert 0.2 < float(end["talk_s"]) < 5.0  # type: ignore[arg-type]
    assert len({actor for actor, _k, _p in rows}) == 1


def test_the_agent_hangs_up_first(running: Running, phone_ports: dict[str, int],
                                  procs: list[Sipp]) -> None:
    since = time.time()
    anna = phone(procs, "anna", phone_ports["anna"], "phone_hangup.xml")
    register(running, "anna", phone_ports["anna"])
    call = caller(procs, running, "5000", "caller_wait_bye.xml")
    finish(anna, call)
    end = ended(journal_since(running, since))
    assert end["cause"] == "callee_hangup" and end["by_leg"] == "b"


def test_the_caller_cancels_while_the_phone_rings(running: Running, phone_ports: dict[str, int],
                                                   procs: list[Sipp]) -> None:
    since = time.time()
    anna = phone(procs, "anna", phone_ports["anna"], "phone_cancelled.xml")
    register(running, "anna", phone_ports["anna"])
    call = caller(procs, running, "5000", "caller_cancel.xml")
    finish(call, anna)
    rows = journal_since(running, since)
    assert kinds(rows) == ["call.created", "call.ringing", "call.ended"]
    end = ended(rows)
    assert end["cause"] == "caller_cancel" and end["status"] == 487
    assert end["talk_s"] == 0.0


def test_hold_and_resume_are_relayed_and_journaled(running: Running, phone_ports: dict[str, int],
                                                    procs: list[Sipp]) -> None:
    since = time.time()
    anna = phone(procs, "anna", phone_ports["anna"], "phone_hold.xml")
    register(running, "anna", phone_ports["anna"])
    call = caller(procs, running, "5000", "caller_hold.xml")
    finish(call, anna)
    rows = journal_since(running, since)
    assert kinds(rows) == ["call.created", "call.ringing", "call.answered", "call.held",
                           "call.resumed", "call.ended"]
    assert rows[3][2]["by_leg"] == "a" and rows[4][2]["by_leg"] == "a"
    assert ended(rows)["cause"] == "caller_hangup"


def test_blind_transfer_with_refer(running: Running, phone_ports: dict[str, int],
                                   procs: list[Sipp]) -> None:
    since = time.time()
    anna = phone(procs, "anna", phone_ports["anna"], "phone_refer.xml", target="5001")
    bruno = phone(procs, "bruno", phone_ports["bruno"], "phone_target.xml")
    register(running, "anna", phone_ports["anna"])
    register(running, "bruno", phone_ports["bruno"])
    call = caller(procs, running, "5000", "caller_transferee.xml")
    finish(call, anna, bruno)
    rows = journal_since(running, since)
    transferred = [p for _a, k, p in rows if k == "call.transferred"]
    assert len(transferred) == 1, rows
    assert transferred[0]["kind"] == "blind" and transferred[0]["outcome"] == "connected"
    assert transferred[0]["by_leg"] == "b" and transferred[0]["target"] == "5001"
    end = ended(rows)
    assert end["cause"] == "caller_hangup"


def test_a_wrong_password_is_refused_and_the_phone_never_rings(
        running: Running, phone_ports: dict[str, int], procs: list[Sipp]) -> None:
    since = time.time()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as chloe_phone:
        chloe_phone.bind((PHONE_IP, phone_ports["chloe"]))
        register(running, "chloe", phone_ports["chloe"], password="not-her-password",
                 scenario="register_refused.xml")
        call = caller(procs, running, "5002", "caller_rejected.xml")
        finish(call)
        assert receive_all(chloe_phone, 0.3) == []
    end = ended(journal_since(running, since))
    assert end["cause"] == "not_registered" and end["status"] == 480
