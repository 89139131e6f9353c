"""The ``core`` service: directory actor, pub/sub proxy, client gateway (the seed's Core).

The gateway's users and the bus topology come from the config (``supervision.composition``),
and the signing secret from ``<data>/run/secret`` (made on first start, 0600), so a restarted
core accepts the tokens it issued before.
"""

from __future__ import annotations

import asyncio
import os
import threading
import time

import zmq

from actors.node import Node
from bus.auth import Authenticator
from bus.catalogue import default_codec
from bus.gateway import Gateway
from bus.pubsub import run_proxy
from bus.system import HostInfo
from supervision.composition import Center
from supervision.service import ServiceContext


async def main(ctx: ServiceContext) -> None:
    center = Center.load(ctx.config_path, ctx.data_dir)
    topo = center.topology
    topo.prepare()
    codec = default_codec()
    zctx: zmq.Context[zmq.Socket[bytes]] = zmq.Context()
    proxy = threading.Thread(target=run_proxy, args=(zctx, topo.xsub, topo.xpub),
                             name="pubsub-proxy", daemon=True)
    proxy.start()
    loop = asyncio.get_running_loop()
    plan = center.process(ctx.name)
    node = Node(
        host_id=plan.id, codec=codec, bind=center.endpoint(plan.id), peers=center.endpoints(),
        placement=center.placement(), behaviours=center.behaviours(plan.kinds, plan.id),
        clock=loop.time, ctx=zctx, publish_to=topo.xsub,
        dead_letters=center.dead_letter_log(plan.id, ctx.log),
    )
    node.start()
    users = center.users()
    gateway = Gateway(
        ctx=zctx, codec=codec, auth=Authenticator(users, center.secret("secret")),
        host=node.host, router_bind=topo.gateway_router, pub_bind=topo.gateway_pub,
        broadcasts_from=topo.xpub, clock=time.time,
    )
    gateway.start(loop)
    node.keep_registered(HostInfo(
        host_id=plan.id, endpoint=node.endpoint, kinds=plan.kinds,
        services=("gateway",), pid=os.getpid()))
    ctx.stats.update(gateway=topo.gateway_router, gateway_pub=topo.gateway_pub)
    ctx.ready()
    ctx.log.info("core.ready", gateway=topo.gateway_router, bus=topo.transport)
    try:
        while not ctx.stopping.is_set():
            ctx.stats.update(node.host.stats(), gateway_requests=gateway.requests,
                             gateway_refused=gateway.refused)
            try:
                await asyncio.wait_for(ctx.stopping.wait(), 0.5)
            except TimeoutError:
                pass
    finally:
        gateway.close()
        node.close()
        zctx.term()  # ends the proxy thread (ContextTerminated)
