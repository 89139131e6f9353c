"""The gateway with real sockets: login, roles, bad tokens, malformed requests, broadcasts."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import msgpack
import pytest
import zmq

from actors.host import Host
from actors.placement import Placement
from actors.probe import Probe, ProbeCount, ProbeCounted
from bus.auth import Authenticator, User
from bus.catalogue import default_codec
from bus.client import GatewayClient
from bus.errors import RemoteError
from bus.gateway import Gateway
from bus.pubsub import BusPublisher, run_proxy
from bus.system import Ping, Pong

USERS = {
    "alice": User(name="alice", password="a-pass", roles=frozenset({"operator"})),
    "sup": User(name="sup", password="s-pass", roles=frozenset({"supervisor"})),
    "root": User(name="root", password="r-pass", roles=frozenset({"admin"})),
}


@pytest.fixture
async def center() -> AsyncIterator[dict[str, Any]]:
    ctx = zmq.Context()
    codec = default_codec()
    proxy = threading.Thread(
        target=run_proxy, args=(ctx, "inproc://xsub", "inproc://xpub"), daemon=True
    )
    proxy.start()
    await asyncio.sleep(0.05)
    loop = asyncio.get_running_loop()
    host = Host(
        host_id="core",
        behaviours=[Probe("core")],
        placement=Placement.single("core", ("probe",)),
        clock=loop.time,
    )
    gw = Gateway(
        ctx=ctx,
        codec=codec,
        auth=Authenticator(USERS, b"0123456789abcdef0123"),
        host=host,
        router_bind="tcp://127.0.0.1:*",
        pub_bind="tcp://127.0.0.1:*",
        broadcasts_from="inproc://xpub",
        clock=time.time,
    )
    gw.start(loop)
    pub = BusPublisher(ctx, codec, "inproc://xsub")

    def client() -> GatewayClient:
        return GatewayClient(gw.router_endpoint, gw.pub_endpoint, codec)

    yield {"gw": gw, "client": client, "pub": pub, "codec": codec}
    pub.close()
    gw.close()
    ctx.term()


async def call(fn: Callable[..., Any], *args: Any) -> Any:
    return await asyncio.get_running_loop().run_in_executor(None, fn, *args)


async def test_login_and_request(center: dict[str, Any]) -> None:
    with center["client"]() as c:
        session = await call(c.login, "alice", "a-pass")
        assert session.roles == ("operator",)
        assert await call(c.request, "probe/1", Ping(payload=5)) == Pong(payload=5, host="core")


async def test_wrong_password_refused(center: dict[str, Any]) -> None:
    with center["client"]() as c:
        with pytest.raises(RemoteError) as info:
            await call(c.login, "alice", "nope")
        assert info.value.code == "auth.denied"


async def test_bad_token_refused_and_service_keeps_running(center: dict[str, Any]) -> None:
    with center["client"]() as c:
        c.token = "alice.9999999999.00.deadbeef"
        with pytest.raises(RemoteError) as info:
            await call(c.request, "probe/1", Ping())
        assert info.value.code == "auth.bad_token"
        await call(c.login, "alice", "a-pass")
        assert isinstance(await call(c.request, "probe/1", Ping()), Pong)


async def test_role_checked_before_passing_on(center: dict[str, Any]) -> None:
    with center["client"]() as c:
        await call(c.login, "alice", "a-pass")
        with pytest.raises(RemoteError) as info:
            await call(c.request, "probe/1", ProbeCount())
        assert info.value.code == "auth.forbidden"
        assert "needs role admin" in info.value.text
    with center["client"]() as admin:
        await call(admin.login, "root", "r-pass")
        assert await call(admin.request, "probe/1", ProbeCount()) == ProbeCounted(received=0)


async def test_non_client_message_refused(center: dict[str, Any]) -> None:
    with center["client"]() as c:
        await call(c.login, "root", "r-pass")
        with pytest.raises(RemoteError) as info:
            await call(c.request, "probe/1", Pong())
        assert info.value.code == "auth.forbidden"
        assert "sys.pong is not a client command" in info.value.text


async def test_malformed_requests_get_clear_errors(center: dict[str, Any]) -> None:
    with center["client"]() as c:
        with pytest.raises(RemoteError) as info:
            await call(c.send_raw, msgpack.packb([1, "", "probe/1"]), 1)
        assert "must be [corr, token, to, message]" in info.value.text
        with pytest.raises(RemoteError) as info:
            await call(c.send_raw, msgpack.packb([2, "", "probe/1", ["sys.ping", 1, ["x"]]]), 2)
        assert info.value.code == "bus.field"
        with pytest.raises(RemoteError) as info:
            await call(c.send_raw, msgpack.packb([3, "", "probe/1", ["what", 1, []]]), 3)
        assert info.value.code == "bus.unknown_message"
        await call(c.login, "alice", "a-pass")
        assert isinstance(await call(c.request, "probe/1", Ping()), Pong)


async def test_broadcast_reaches_only_authorised_subscribers(center: dict[str, Any]) -> None:
    with center["client"]() as sup, center["client"]() as op:
        await call(sup.login, "sup", "s-pass")
        await call(sup.subscribe, "help")
        await call(op.login, "alice", "a-pass")
        with pytest.raises(RemoteError) as info:
            await call(op.subscribe, "help")
        assert info.value.code == "auth.forbidden"
        got = None
        for _ in range(20):  # PUB/SUB joins asynchronously: publish until it arrives
            center["pub"].publish("help", Pong(payload=9))
            got = await call(sup.next_broadcast, 0.1)
            if got:
                break
        assert got == ("help", Pong(payload=9))


def test_authorize_checks_the_claimed_supervisor() -> None:
    from actors.agent.messages import AcceptHelp
    from bus.auth import Forbidden, Session, authorize

    sup = Session(user="sup", roles=frozenset({"supervisor"}), expires_at=0, token="t")
    with pytest.raises(Forbidden, match="may not act as supervisor 'other'"):
        authorize(sup, AcceptHelp(supervisor="other"), "agent/anna")
    authorize(sup, AcceptHelp(supervisor="sup"), "agent/anna")
