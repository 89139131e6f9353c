"""The reconciler in a running center: an agent whose phone is not registered is logged out."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator

import psycopg
import pytest

from store.embedded import embedded_status
from tests.e2e.center import Center, running_center


def prepare(c: Center) -> None:
    text = c.config.read_text()
    c.config.write_text(re.sub(r"^reconcile_every_s = .*$", "reconcile_every_s = 1", text,
                               flags=re.M))


@pytest.fixture(scope="module")
def center() -> Iterator[Center]:
    with running_center("contactor-e2e-rec-", prepare) as c:
        yield c


def test_agent_without_a_registered_phone_is_logged_out_and_journaled(center: Center) -> None:
    assert center.cli("agent", "login", "emma", "--phone", "sip:1005@127.0.0.1").returncode == 0
    deadline = time.monotonic() + 10
    while "logged_out" not in (shown := center.cli("agent", "show", "emma").stdout):
        assert time.monotonic() < deadline, shown
        time.sleep(0.3)
    running = embedded_status(center.data)
    assert running is not None
    with psycopg.connect(running.url) as conn:
        rows = conn.execute("SELECT payload FROM journal WHERE kind = 'agent.repair'"
                            " AND payload->>'agent' = 'emma'").fetchall()
    assert rows and rows[0][0]["action"] == "logout"
    assert "not registered" in rows[0][0]["reason"]
