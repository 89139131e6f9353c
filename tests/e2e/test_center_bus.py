"""The running center's bus, as clients and operators meet it."""

from __future__ import annotations

import os
import signal
import time

import msgpack
import pytest

from bus.catalogue import default_codec
from bus.client import GatewayClient
from bus.errors import RemoteError
from bus.system import Ping, Pong
from tests.e2e.center import Center


def client(center: Center) -> GatewayClient:
    router, pub = center.gateway
    return GatewayClient(router, pub, default_codec())


def test_every_supervised_process_is_listed_running(center: Center) -> None:
    names = {p["name"]: p for p in center.status()["processes"]}
    assert {"core", "actors-1"} <= set(names)
    for p in names.values():
        assert p["state"] == "running" and p["pid"] > 0, p


def test_gateway_answers_a_logged_in_user_across_processes(center: Center) -> None:
    with client(center) as c:
        c.login("anna", _password(center, "anna"))
        assert c.request("host/actors-1", Ping(payload=7)) == Pong(payload=7, host="actors-1")


def test_bad_token_and_missing_role_get_clear_errors(center: Center) -> None:
    with client(center) as c:
        c.token = "anna.9999999999.00.00"
        with pytest.raises(RemoteError) as bad:
            c.request("host/actors-1", Ping())
        assert bad.value.code == "auth.bad_token"
        c.login("anna", _password(center, "anna"))
        with pytest.raises(RemoteError) as forbidden:
            c.subscribe("help")
        assert forbidden.value.code == "auth.forbidden"


def test_malformed_request_then_service_still_serves(center: Center) -> None:
    with client(center) as c:
        with pytest.raises(RemoteError) as err:
            c.send_raw(msgpack.packb([5, "", "host/core", ["no.such", 1, []]]), 5)
        assert err.value.code == "bus.unknown_message"
        c.login("anna", _password(center, "anna"))
        assert isinstance(c.request("host/core", Ping()), Pong)


@pytest.mark.parametrize("name", ["actors-1", "core"])
def test_kill_9_restarts_within_a_second_and_counts(center: Center, name: str) -> None:
    before = center.process(name)
    os.kill(before["pid"], signal.SIGKILL)
    t0 = time.monotonic()
    while True:
        now = center.process(name)
        if now["state"] == "running" and now["pid"] != before["pid"]:
            break
        assert time.monotonic() - t0 < 5, now
        time.sleep(0.02)
    elapsed = time.monotonic() - t0
    assert now["restarts"] == before["restarts"] + 1
    # `status` is a subprocess (~0.2 s each): the restart itself is faster than this bound.
    assert elapsed < 1.5, elapsed
    with client(center) as c:
        c.login("anna", _password(center, "anna"))
        assert c.request(f"host/{name}", Ping(payload=1), timeout=5) == Pong(payload=1, host=name)


def _password(center: Center, login: str) -> str:
    import tomllib

    cfg = tomllib.loads(center.config.read_text())
    return next(a["password"] for a in cfg["agent"] if a["login"] == login)
