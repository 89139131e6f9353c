"""Actor timers survive ``kill -9`` of their process, end to end.

An agent in wrap-up waits for one thing only: its wrap-up timer. Here a SIPp caller reaches
anna through queue ``sales`` (wrap-up 6 s in this module's config), hangs up, and while anna
is in wrap-up the ``actors-1`` process that hosts her is killed with SIGKILL. The restarted
process re-arms the timer from anna's snapshot, and anna becomes ready when her wrap-up ends -
not earlier, and not never (before durable timers she stayed in wrap-up for good).
"""

from __future__ import annotations

import os
import re
import signal
import time
from collections.abc import Callable, Iterator

import psycopg
import pytest

from store.embedded import embedded_status
from tests.e2e.center import Center, running_center
from tests.e2e.test_center_queues import agent, caller, finish, phone, prepare
from tests.telephony.harness import Sipp

WRAP_UP_S = 6.0


def prepare_timers(c: Center) -> None:
    prepare(c)  # the ACD module's config: SIPp trunk, relay media, 1 s wrap-ups
    text = c.config.read_text()
    # the first queue is sales, anna's only queue
    text, n = re.subn(r"^wrap_up_s = 1$", f"wrap_up_s = {WRAP_UP_S:g}", text, count=1,
                      flags=re.M)
    assert n == 1, "the ACD module's config changed"
    c.config.write_text(text)


@pytest.fixture(scope="module")
def center() -> Iterator[Center]:
    with running_center("contactor-e2e-timers-", prepare_timers) as c:
        yield c


def _query(center: Center, sql: str, *args: object) -> list[tuple[object, ...]]:
    running = embedded_status(center.data)
    assert running is not None
    with psycopg.connect(running.url) as conn:
        return conn.execute(sql, args).fetchall()


def transitions(center: Center, login: str) -> list[tuple[str, float]]:
    """(to_state, wall-clock time) of each journaled transition of the agent."""
    rows = _query(center, "SELECT payload->>'to_state', extract(epoch FROM ts)::float8"
                          " FROM journal WHERE actor = %s AND kind = 'agent.transition'"
                          " ORDER BY actor_seq", f"agent/{login}")
    return [(str(state), float(str(ts))) for state, ts in rows]


def wait_for(check: Callable[[], object], what: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def test_an_agent_in_wrap_up_becomes_ready_after_a_kill_9_of_her_process(
        center: Center, procs: list[Sipp]) -> None:
    anna = phone(center, procs, "anna", "phone_answer.xml")
    agent(center, "ready", "anna")
    call = caller(center, procs, "2000")
    finish(call, anna)
    wait_for(lambda: transitions(center, "anna")[-1][0] == "wrap_up", "anna's wrap-up", 10)
    wrap_started = transitions(center, "anna")[-1][1]
    # her snapshot carries the timer (flushed every 50 ms)
    wait_for(lambda: _query(center, "SELECT wake_at FROM snapshot WHERE actor = 'agent/anna'"
                                    " AND wake_at IS NOT NULL"), "the timer's snapshot", 3)

    before = center.process("actors-1")
    os.kill(before["pid"], signal.SIGKILL)
    killed_at = time.time()
    assert killed_at < wrap_started + WRAP_UP_S - 2, "too slow to kill during the wrap-up"
    wait_for(lambda: (p := center.process("actors-1"))["state"] == "running"
             and p["pid"] != before["pid"], "actors-1 restarted", 10)
    assert transitions(center, "anna")[-1][0] == "wrap_up"  # nothing freed her meanwhile

    wait_for(lambda: transitions(center, "anna")[-1][0] == "ready", "anna ready again",
             WRAP_UP_S + 10)
    _, ready_at = transitions(center, "anna")[-1]
    assert ready_at >= wrap_started + WRAP_UP_S - 0.2  # at the deadline, not earlier
    assert ready_at < wrap_started + WRAP_UP_S + 3  # and on time
    assert "agent/anna: ready" in agent(center, "show", "anna")
    assert not _query(center, "SELECT 1 FROM snapshot WHERE actor = 'agent/anna'"
                              " AND wake_at IS NOT NULL"), "the fired timer stays pending"
    agent(center, "pause", "anna", "--reason", "test")
