"""The ``actors-N`` service: a process hosting entity actors of the kinds its spec lists.

Tree args: ``kinds`` (e.g. ``["agent", "queue", "matcher"]``). Everything else - the bus
topology, the placement of every kind, the store - comes from the composition root
(``supervision.composition``), so all processes agree on it.
"""

from __future__ import annotations

import asyncio
import os

import zmq

from actors.configure import acd_messages
from actors.node import Node
from actors.persistence import StoreJournal, StoreSnapshots
from bus.catalogue import default_codec
from bus.system import HostInfo
from supervision.composition import Center
from supervision.service import ServiceContext


async def main(ctx: ServiceContext) -> None:
    center = Center.load(ctx.config_path, ctx.data_dir)
    plan = center.process(ctx.name)
    codec = default_codec()
    loop = asyncio.get_running_loop()
    zctx: zmq.Context[zmq.Socket[bytes]] = zmq.Context()
    async with center.open_store() as store:
        node = Node(
            host_id=plan.id, codec=codec, bind=center.endpoint(plan.id),
            peers=center.endpoints(), placement=center.placement(),
            behaviours=center.behaviours(plan.kinds, plan.id), clock=loop.time, ctx=zctx,
            journal=StoreJournal(store.writer),
            snapshots=StoreSnapshots(store.writer, store.reader, codec),
            publish_to=center.topology.xsub,
            dead_letters=center.dead_letter_log(plan.id, ctx.log),
        )
        node.start()
        node.keep_registered(HostInfo(
            host_id=plan.id, endpoint=node.endpoint, kinds=tuple(plan.kinds), pid=os.getpid()))
        for address, msg in acd_messages(center.config):
            if center.placement().host_of(address) == plan.id:
                node.host.tell(address, msg)
        ctx.ready()
        ctx.log.info("actors.ready", kinds=list(plan.kinds), endpoint=node.endpoint)
        try:
            await node.serve(ctx.stopping, ctx.stats)
            await store.writer.flush()
        finally:
            node.close()
            zctx.destroy(linger=0)
