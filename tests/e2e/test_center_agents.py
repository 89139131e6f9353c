"""Agents through the running center: the CLI, the gateway, the journal, and crash safety."""

from __future__ import annotations

import os
import signal
import time

import psycopg

from store.embedded import embedded_status
from tests.e2e.center import Center


def _journal_kinds(center: Center, actor: str) -> list[str]:
    running = embedded_status(center.data)
    assert running is not None
    with psycopg.connect(running.url) as conn:
        rows = conn.execute("SELECT kind FROM journal WHERE actor = %s ORDER BY actor_seq",
                            (actor,)).fetchall()
    return [r[0] for r in rows]


def test_agent_login_ready_pause_logout_from_the_cli(center: Center) -> None:
    out = center.cli("agent", "login", "bruno", "--phone", "sip:1002@127.0.0.1")
    assert out.returncode == 0, out.stderr
    assert "agent/bruno: not_ready" in out.stdout
    out = center.cli("agent", "ready", "bruno")
    assert out.stdout.strip().startswith("agent/bruno: ready"), out.stdout + out.stderr
    out = center.cli("agent", "pause", "bruno", "--reason", "lunch")
    assert "not_ready (lunch)" in out.stdout
    out = center.cli("agent", "logout", "bruno")
    assert "logged_out" in out.stdout


def test_illegal_transition_is_a_clear_error(center: Center) -> None:
    out = center.cli("agent", "ready", "chloe")  # never logged in
    assert out.returncode == 1
    assert "agent.illegal_transition" in out.stderr and "logged_out" in out.stderr


def test_operator_may_act_only_as_itself(center: Center) -> None:
    import tomllib

    cfg = tomllib.loads(center.config.read_text())
    anna = next(a for a in cfg["agent"] if a["login"] == "anna")
    env_password = anna["password"]
    out = center.cli("agent", "show", "bruno", "--user", "anna", "--password", env_password)
    assert out.returncode == 1 and "auth.forbidden" in out.stderr
    out = center.cli("agent", "show", "anna", "--user", "anna", "--password", env_password)
    assert out.returncode == 0 and out.stdout.startswith("agent/anna:")


def test_acknowledged_transitions_survive_kill_9(center: Center) -> None:
    out = center.cli("agent", "login", "david", "--phone", "sip:1004@127.0.0.1")
    assert out.returncode == 0, out.stderr
    out = center.cli("agent", "ready", "david")
    assert out.returncode == 0, out.stderr
    before = _journal_kinds(center, "agent/david")
    assert before.count("agent.transition") >= 2
    pid = center.process("actors-1")["pid"]
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while True:
        p = center.process("actors-1")
        if p["state"] == "running" and p["pid"] != pid:
            break
        assert time.monotonic() < deadline, p
        time.sleep(0.05)
    assert _journal_kinds(center, "agent/david")[: len(before)] == before
    # the restarted actor continues from its persisted state
    out = center.cli("agent", "show", "david")
    assert "agent/david: ready" in out.stdout, out.stdout + out.stderr
