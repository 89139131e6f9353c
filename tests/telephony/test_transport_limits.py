"""``[sip]`` connection limits reach the transports: a config's values govern refusals and
idle closes (real sockets on loopback)."""

from __future__ import annotations

import asyncio

from conf.load import parse_config
from conf.schema import SipConfig
from tests.telephony.transport_support import Received, TcpClient, bounded, transports

LOOPBACK = "127.0.0.1"


async def ponged(client: TcpClient) -> bool:
    client.send(b"\r\n\r\n")
    return bool(await bounded(client.reader.readexactly(2)) == b"\r\n")


def test_configure_takes_both_keys_and_zero_means_never() -> None:
    t = transports(Received())
    t.configure(parse_config('[sip]\ntcp_idle_timeout_s = 45\n'
                             'tcp_max_connections_per_source = 3\n').sip)
    assert (t.idle_timeout_s, t.max_connections_per_source) == (45.0, 3)
    t.configure(parse_config("[sip]\ntcp_idle_timeout_s = 0\n").sip)
    assert (t.idle_timeout_s, t.max_connections_per_source) == (None, 64)


async def test_the_configured_source_limit_refuses_the_next_connection() -> None:
    t = transports(Received())
    t.configure(parse_config("[sip]\ntcp_max_connections_per_source = 1\n").sip)
    _, port = await t.listen_stream(LOOPBACK, 0)
    first = await TcpClient.open(LOOPBACK, port)
    second = await TcpClient.open(LOOPBACK, port)
    try:
        assert await ponged(first)
        assert await second.closed_by_server()
        assert t.refused == 1
    finally:
        first.close()
        second.close()
        t.close()


async def test_the_configured_idle_timeout_closes_a_silent_connection() -> None:
    t = transports(Received())
    # below what a config file accepts, to be quick: configure takes the section as it is
    t.configure(SipConfig(tcp_idle_timeout_s=0.2))
    _, port = await t.listen_stream(LOOPBACK, 0)
    client = await TcpClient.open(LOOPBACK, port)
    try:
        started = asyncio.get_running_loop().time()
        assert await client.closed_by_server(timeout=2.0)
        assert 0.2 <= asyncio.get_running_loop().time() - started < 1.0
        assert t.idle_closed == 1
    finally:
        client.close()
        t.close()
