"""The ``telephony`` service: the SIP listener, the registrar and the call actors, one process.

Tree args (all optional):

* ``media``: ``"anchored"`` (also ``"auto"``) anchors ``queue:`` and ``ivr:`` calls in the
  media pool (prompts and DTMF, music on hold and announcements, bridging and stereo
  recording: :mod:`actors.call.anchor`); ``"relay"`` passes SDP through end to end (RTP
  flows between the phones, no prompts, no recording). Without the arg,
  ``CONTACTOR_MEDIA`` or else the config's ``[media] mode`` (default anchored) chooses;
* ``keepalive_s``: seconds between OPTIONS pings of each registered contact (default 30);
* ``ring_timeout_s``: how long an outgoing leg may ring (default 60).

The ``[[ivr]]`` schemes of the config are loaded at start (a broken scheme stops the start
with every problem listed); ``ivr:`` routes run them in the call actor. Scheme files are
watched (hot reload: calls in progress finish on the version they started with, a broken
file is refused and logged) and the IVR port (:mod:`ivr.port`) performs the schemes' HTTP
requests and writes per-call debug logs under ``<data>/logs/ivr/<scheme>/``.

``[[trunk]]`` entries with ``register = true`` are registered at their provider while the
service runs (:mod:`telephony.trunks`; state under ``trunks`` in the service stats, changes
logged as ``sip.trunk_registration``) and un-registered when it stops.
"""

from __future__ import annotations

import asyncio
import gc
import os
import ssl
import time
from collections.abc import Sequence
from typing import Any

import zmq

from actors.call.behaviour import CallBehaviour
from actors.call.legs import LocalSip
from actors.call.messages import MediaMode
from actors.call.turn import CallSettings
from actors.durable_timers import PendingTimer, Restored
from actors.node import Node
from actors.persistence import StoreJournal, StoreSnapshots
from actors.probe import Probe
from bus.catalogue import default_codec
from bus.codec import Codec
from bus.message import Message
from bus.system import HostInfo
from conf.schema import Config
from ivr.center import load_center_schemes
from ivr.port import IVR_PORT, IvrPort
from ivr.registry import ReloadResult
from ivr.watch import SchemeWatcher, watch
from sip.digest import DigestServer
from supervision.composition import Center
from supervision.service import ServiceContext
from telephony.bindings import BindingStore
from telephony.ids import new_call_id
from telephony.messages import SIP_PORT
from telephony.port import Softswitch
from telephony.reconciling import reconcile_forever
from telephony.registrar import Registrar, flow_timer_for, phone_passwords
from telephony.stack import Persist, SipStack

_WILDCARDS = ("0.0.0.0", "::", "")
#: overrides ``[media] mode`` when the tree gives no ``media`` arg
MEDIA_ENV = "CONTACTOR_MEDIA"


class CallSnapshots:
    """The store's snapshots, minus a database round trip per new call.

    A call id the listener has just drawn (64 random bits) cannot have a snapshot, so its
    activation needs no lookup; every other address (a call reactivated after a restart)
    is looked up as usual."""

    def __init__(self, inner: StoreSnapshots) -> None:
        self.inner = inner
        self._fresh: set[str] = set()

    def fresh(self, call_id: str) -> str:
        self._fresh.add(f"call/{call_id}")
        return call_id

    async def load(self, address: str) -> tuple[Message | None, int] | None:
        if address in self._fresh:
            self._fresh.discard(address)
            return None
        return await self.inner.load(address)

    def save(self, address: str, state: Message, actor_seq: int) -> None:
        self.inner.save(address, state, actor_seq)

    def delete(self, address: str, actor_seq: int) -> None:
        self.inner.delete(address, actor_seq)

    # durable timers (actors.durable_timers): a call's ring, IVR and voicemail timers
    # survive a restart of this process

    async def restore(self, address: str) -> Restored | None:
        if address in self._fresh:
            self._fresh.discard(address)
            return None
        return await self.inner.restore(address)

    def save_with_timers(self, address: str, state: Message, actor_seq: int,
                         timers: Sequence[PendingTimer]) -> None:
        self.inner.save_with_timers(address, state, actor_seq, timers)

    async def waking(self, kinds: Sequence[str], after: tuple[float, str] | None,
                     limit: int) -> list[Restored]:
        return await self.inner.waking(kinds, after, limit)


#: CPython's collector thresholds for this process (generation 0, 1, 2); see :func:`tune_gc`.
#: Generation 0 at 50,000: the messages of the last few hundred calls (the wire memo) are
#: mostly freed before a collection sees them, instead of being scanned twice and promoted
#: (sip_call_cpu.py: collector time 0.2 s -> 0.03 s per 2,000 calls, longest pause 60 -> 7 ms)
GC_THRESHOLDS = (50_000, 10, 1_000)


def tune_gc(thresholds: tuple[int, int, int] = GC_THRESHOLDS) -> tuple[int, int, int]:
    """Keep the cyclic garbage collector from stalling the SIP loop.

    This process holds hundreds of thousands of long-lived objects: the transactions that
    linger 32 s after their last message (timers D, J, L; they keep only the bytes they
    sent), the wire memo, the calls in progress. With the default thresholds every full collection
    (one every few seconds at 100+ calls per second: a quarter of those objects is renewed
    that fast) walks all of them, stopping the loop for hundreds of milliseconds and taking
    a good share of the CPU. What start-up built is frozen (never scanned again), young
    objects are collected less often, and full collections are rare: nearly everything here
    is freed by reference counting, cycles are few. Returns the thresholds it replaced."""
    previous = gc.get_threshold()
    gc.collect()
    gc.freeze()
    gc.set_threshold(*thresholds)
    return previous


def restore_gc(previous: tuple[int, int, int]) -> None:
    """Undo :func:`tune_gc` (the service may share its process, e.g. in tests)."""
    gc.unfreeze()
    gc.set_threshold(*previous)


def telephony_codec() -> Codec:
    """The bus catalogue (it includes this room's SIP port contract and call records)."""
    return default_codec()


def local_sip(config: Config) -> LocalSip:
    listen = config.sip.listen
    host = config.sip.domain if listen.host in _WILDCARDS else listen.host
    tls = config.sip.tls_listen if "tls" in config.sip.transports else None
    return LocalSip(host=host, port=listen.port, domain=config.sip.domain,
                    tls_port=tls.port if tls is not None else 0)


def media_mode(choice: str) -> MediaMode:
    if choice == "relay":
        return "relay"
    if choice in ("auto", "anchored"):
        return "anchored"
    raise ValueError(f"telephony arg media must be auto, relay or anchored; got {choice!r}")


def call_behaviour(center: Center, args: dict[str, Any] | None = None) -> CallBehaviour:
    """The ``call`` kind's behaviour for ``center`` (composition root factory)."""
    args = args or {}
    settings = CallSettings(
        config=center.config, local=local_sip(center.config),
        ivr=load_center_schemes(center.config, None) if center.config.ivrs else None,
        media=media_mode(str(args.get("media", os.environ.get(MEDIA_ENV,
                                                               center.config.media.mode)))),
        ring_timeout_s=float(args.get("ring_timeout_s", 60.0)),
    )
    return CallBehaviour(settings)


def _tls(config: Config) -> tuple[str, int, ssl.SSLContext] | None:
    sip = config.sip
    if "tls" not in sip.transports or sip.tls_cert is None or sip.tls_key is None:
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(sip.tls_cert, sip.tls_key)
    listen = sip.tls_listen or sip.listen
    return listen.host, listen.port, context


async def main(ctx: ServiceContext) -> None:
    center = Center.load(ctx.config_path, ctx.data_dir)
    center.topology.prepare()
    config = center.config
    plan = center.process(ctx.name)
    args = {**plan.args, **ctx.args}
    behaviour = call_behaviour(center, args)
    codec = telephony_codec()
    loop = asyncio.get_running_loop()
    zctx: zmq.Context[zmq.Socket[bytes]] = zmq.Context()
    async with center.open_store() as store:
        bindings = BindingStore(store.pool)
        digest = DigestServer(realm=config.sip.domain, secret=center.secret("sip-secret"),
                              algorithms=config.sip.digest_algorithms)
        registrar = Registrar(digest=digest,
                              passwords=phone_passwords(config),
                              keepalive_s=float(args.get("keepalive_s", 30.0)),
                              flow_timer_s=flow_timer_for(config.sip))
        offset = time.time() - loop.time()
        saved = await loop.run_in_executor(None, bindings.load, offset, time.time())
        registrar.load(saved, loop.time())
        snapshots = CallSnapshots(StoreSnapshots(store.writer, store.reader, codec))
        node = Node(
            host_id=plan.id, codec=codec, bind=center.endpoint(plan.id),
            peers=center.endpoints(), placement=center.placement(),
            behaviours=[Probe(plan.id), behaviour], clock=loop.time, ctx=zctx,
            journal=StoreJournal(store.writer), snapshots=snapshots,
            publish_to=center.topology.xsub,
            dead_letters=center.dead_letter_log(plan.id, ctx.log),
        )
        local = behaviour.settings.local
        stack = SipStack(config=config, registrar=registrar, digest=digest, log=ctx.log,
                         advertised=(local.host, local.port), tls_port=local.tls_port,
                         wire=behaviour.settings.wire,
                         call_ids=lambda: snapshots.fresh(new_call_id()))
        switch = Softswitch(host=node.host, stack=stack, log=ctx.log, bindings=bindings)
        switch.transports.configure(config.sip)  # [sip] tcp_* connection limits
        switch.transports.on_closed = lambda flow: switch.perform(  # RFC 5626 flows end
            [Persist(change) for change in registrar.flow_closed(flow)])
        node.host.add_port(SIP_PORT, switch.on_envelope)
        ivr_port = IvrPort(node.host, center.data_dir / "logs" / "ivr", log=ctx.log)
        node.host.add_port(IVR_PORT, ivr_port)
        listen = config.sip.listen
        bound = await switch.listen(listen.host, listen.port, config.sip.transports,
                                    tls=_tls(config))
        switch.start_trunks()  # REGISTER at the providers of trunks with register = true
        node.start()
        node.keep_registered(HostInfo(
            host_id=plan.id, endpoint=node.endpoint, kinds=tuple(plan.kinds),
            services=("sip",), pid=os.getpid()))
        ctx.stats.update(sip_listen={k: f"{h}:{p}" for k, (h, p) in bound.items()},
                         media=behaviour.settings.media)
        ctx.ready()
        ctx.log.info("telephony.ready", listen=ctx.stats["sip_listen"],
                     media=behaviour.settings.media, bindings=len(registrar))
        reconciler = None
        watcher = None
        registry = behaviour.settings.ivr
        if registry is not None:
            def reloaded(result: ReloadResult) -> None:
                if result.error is not None:
                    ctx.log.error("ivr.reload_refused", scheme=result.name,
                                  kept=result.version, problems=str(result.error))
                elif result.changed:
                    ctx.log.info("ivr.reloaded", scheme=result.name, version=result.version)

            # the actors' clock: versions are taken and released at the call actors' times
            watcher = loop.create_task(watch(SchemeWatcher(registry), reloaded,
                                             interval_s=1.0, clock=loop.time))
        if config.center.reconcile_every_s > 0:
            reconciler = loop.create_task(reconcile_forever(
                node.host, [a.login for a in config.agents],
                lambda uri: bool(registrar.locate(uri, loop.time())), ctx.stopping,
                every_s=config.center.reconcile_every_s, queues=[q.name for q in config.queues]))
        collector = tune_gc()
        try:
            await node.serve(ctx.stopping, ctx.stats, lambda: {
                "sip": dict(stack.counters), "bindings": len(registrar),
                "transactions": len(stack.layer), "ivr": dict(ivr_port.counters),
                "trunks": stack.trunks.stats(loop.time())})
            await store.writer.flush()
        finally:
            for task in (reconciler, watcher):
                if task is not None:
                    task.cancel()
            ivr_port.close()
            if len(stack.trunks) and not await switch.unregister_trunks(2.0):
                ctx.log.warning("sip.trunks_not_unregistered",
                                trunks=stack.trunks.stats(loop.time()))
            await switch.close()
            node.close()
            zctx.destroy(linger=0)
            restore_gc(collector)
