"""The client gateway: the one door for softphones, live views and the CLI.

Requests arrive on a ROUTER socket (clients use DEALER or REQ) as a msgpack array
``[corr, token, to, message]`` where ``message`` is the codec's ``[tag, version, fields]``;
the answer is ``[corr, ok, message]`` (``ErrorReply`` when not ok). ``to == "gateway"`` addresses
the gateway itself (login, subscribe). Every other request is checked - token, then the
sender's roles against the message's ``CLIENT_ROLES`` - and passed on to the actor as an ask.

Broadcasts leave on a PUB socket under ``<session prefix>/<topic>``: the prefix comes from the
session token, so a client that never logged in cannot subscribe to anything.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from typing import Any

import msgpack
import zmq

from actors.host import Host
from bus.auth import Authenticator, AuthError, Forbidden, Session, authorize
from bus.codec import Codec
from bus.errors import BusError, DecodeError
from bus.message import Message
from bus.pubsub import BusSubscriber
from bus.system import ClientLogin, ClientSession, ErrorReply, Subscribe, Subscribed
from bus.zmqutil import fd_of, readable

#: who may watch which broadcast topic
TOPIC_ROLES: dict[str, frozenset[str]] = {
    "agents": frozenset({"supervisor", "quality-manager", "admin", "operator"}),
    "calls": frozenset({"supervisor", "quality-manager", "admin"}),
    "queues": frozenset({"supervisor", "quality-manager", "admin", "operator", "technologist"}),
    "help": frozenset({"supervisor", "admin"}),
    "stats": frozenset({"supervisor", "quality-manager", "admin", "technologist"}),
    "alarms": frozenset({"admin", "technologist", "supervisor"}),
}


class Gateway:
    def __init__(
        self,
        *,
        ctx: zmq.Context[zmq.Socket[bytes]],
        codec: Codec,
        auth: Authenticator,
        host: Host,
        router_bind: str,
        pub_bind: str,
        broadcasts_from: str,
        clock: Callable[[], float],
        nonce: Callable[[], str] = lambda: os.urandom(12).hex(),
        ask_timeout: float = 5.0,
    ) -> None:
        self.codec = codec
        self.auth = auth
        self.host = host
        self.clock = clock
        self.nonce = nonce
        self.ask_timeout = ask_timeout
        self.router = ctx.socket(zmq.ROUTER)
        self.router.setsockopt(zmq.LINGER, 0)
        self.router.bind(router_bind)
        self.pub = ctx.socket(zmq.PUB)
        self.pub.setsockopt(zmq.LINGER, 0)
        self.pub.bind(pub_bind)
        self.router_endpoint = bytes(self.router.getsockopt(zmq.LAST_ENDPOINT)).decode()
        self.pub_endpoint = bytes(self.pub.getsockopt(zmq.LAST_ENDPOINT)).decode()
        self.sub = BusSubscriber(ctx, codec, broadcasts_from, list(TOPIC_ROLES), self._broadcast)
        # topic -> {prefix: session expiry}
        self._subs: dict[str, dict[str, float]] = {t: {} for t in TOPIC_ROLES}
        self._tasks: set[asyncio.Task[None]] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self.requests = 0
        self.refused = 0

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        loop.add_reader(fd_of(self.router), self._readable)
        loop.call_soon(self._readable)
        self.sub.start(loop)

    def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        if self._loop is not None:
            self._loop.remove_reader(fd_of(self.router))
        self.sub.close()
        self.router.close(linger=0)
        self.pub.close(linger=0)

    # ------------------------------------------------------------------ requests

    def _readable(self) -> None:
        while readable(self.router):
            try:
                frames = self.router.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                break
            ident, payload = frames[0], frames[-1]
            envelope = frames[1:-1]  # REQ clients add an empty delimiter; keep it
            task = asyncio.ensure_future(self._handle(ident, envelope, payload))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _handle(self, ident: bytes, envelope: list[bytes], payload: bytes) -> None:
        self.requests += 1
        corr: Any = 0
        try:
            try:
                item = msgpack.unpackb(payload, raw=False, use_list=False, strict_map_key=False)
            except Exception:
                raise DecodeError("gateway request is not msgpack") from None
            if isinstance(item, tuple) and item:
                corr = item[0]  # answer under the client's id even when the rest is wrong
            if not isinstance(item, tuple) or len(item) != 4:
                raise DecodeError("gateway request must be [corr, token, to, message]")
            corr, token, to, obj = item
            if type(token) is not str or type(to) is not str:
                raise DecodeError("gateway request: token and to must be strings")
            msg = self.codec.from_obj(obj)
            reply = await self._dispatch(token, to, msg)
            self._answer(ident, envelope, corr, True, reply)
        except (AuthError, BusError) as exc:
            self.refused += 1
            code = getattr(exc, "code", "gateway.error")
            self._answer(ident, envelope, corr, False, ErrorReply(code=code, text=str(exc)))

    async def _dispatch(self, token: str, to: str, msg: Message) -> Message:
        now = self.clock()
        if to == "gateway":
            if isinstance(msg, ClientLogin):
                s = self.auth.login(msg.user, msg.password, now, self.nonce())
                return ClientSession(
                    token=s.token,
                    user=s.user,
                    roles=tuple(sorted(s.roles)),
                    topic_prefix=s.topic_prefix,
                    expires_at=s.expires_at,
                )
            session = self.auth.verify(token, now)
            if isinstance(msg, Subscribe):
                return self._subscribe(session, msg.topic)
            raise DecodeError(f"the gateway itself does not take {msg.TAG}")
        session = self.auth.verify(token, now)
        authorize(session, msg, to)
        return await self.host.ask(to, msg, timeout=self.ask_timeout)

    def _answer(
        self, ident: bytes, envelope: list[bytes], corr: Any, ok: bool, msg: Message
    ) -> None:
        data = msgpack.packb([corr, ok, self.codec.to_obj(msg)], use_bin_type=True)
        try:
            self.router.send_multipart([ident, *envelope, data], zmq.NOBLOCK)
        except zmq.ZMQError:
            pass  # the client went away; nothing to keep

    # ------------------------------------------------------------------ broadcasts

    def _subscribe(self, session: Session, topic: str) -> Subscribed:
        allowed = TOPIC_ROLES.get(topic)
        if allowed is None:
            raise DecodeError(f"unknown topic {topic!r}; topics: {', '.join(sorted(TOPIC_ROLES))}")
        if not (session.roles & allowed) and "admin" not in session.roles:
            raise Forbidden(f"{session.user} may not watch {topic!r}")
        self._subs[topic][session.topic_prefix] = session.expires_at
        return Subscribed(topic=topic, pub_topic=f"{session.topic_prefix}/{topic}")

    def _broadcast(self, topic: str, msg: Message) -> None:
        subs = self._subs.get(topic)
        if not subs:
            return
        now = self.clock()
        data = self.codec.encode(msg)
        for prefix, expires in list(subs.items()):
            if expires < now:
                del subs[prefix]
                continue
            try:
                self.pub.send_multipart([f"{prefix}/{topic}".encode(), data], zmq.NOBLOCK)
            except zmq.Again:
                pass
