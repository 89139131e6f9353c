"""A client of the gateway (CLI, softphone, live views). Blocking, one request at a time.

c = GatewayClient("tcp://127.0.0.1:7100", "tcp://127.0.0.1:7101", codec)
c.login("sup1", "secret")
c.request("agent/alice", AgentReady())
c.subscribe("agents"); topic, msg = c.next_broadcast(timeout=1.0)
"""

from __future__ import annotations

import itertools
from typing import Any

import msgpack
import zmq

from bus.codec import Codec
from bus.errors import AskTimeout, DecodeError, RemoteError
from bus.message import Message
from bus.system import ClientLogin, ClientSession, ErrorReply, Subscribe, Subscribed


class GatewayClient:
    def __init__(
        self, router: str, pub: str, codec: Codec, *, ctx: zmq.Context[Any] | None = None
    ) -> None:
        self.codec = codec
        self.ctx = ctx or zmq.Context.instance()
        self.sock = self.ctx.socket(zmq.DEALER)
        self.sock.setsockopt(zmq.LINGER, 0)
        self.sock.connect(router)
        self.pub_endpoint = pub
        self.sub: zmq.Socket[Any] | None = None
        self.session: ClientSession | None = None
        self.token = ""
        self._corr = itertools.count(1)

    def close(self) -> None:
        self.sock.close(linger=0)
        if self.sub is not None:
            self.sub.close(linger=0)

    def __enter__(self) -> GatewayClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def login(self, user: str, password: str, timeout: float = 5.0) -> ClientSession:
        reply = self.request("gateway", ClientLogin(user=user, password=password), timeout)
        if not isinstance(reply, ClientSession):
            raise DecodeError(f"gateway answered login with {reply.TAG}")
        self.session = reply
        self.token = reply.token
        return reply

    def request(self, to: str, msg: Message, timeout: float = 5.0) -> Message:
        corr = next(self._corr)
        self.sock.send(
            msgpack.packb([corr, self.token, to, self.codec.to_obj(msg)], use_bin_type=True)
        )
        return self._await(corr, timeout, to, msg)

    def send_raw(self, payload: bytes, corr: int, timeout: float = 5.0) -> Message:
        """Send hand-made bytes (tests of the gateway's error handling)."""
        self.sock.send(payload)
        return self._await(corr, timeout, "gateway", None)

    def _await(self, corr: int, timeout: float, to: str, msg: Message | None) -> Message:
        deadline_ms = int(timeout * 1000)
        while True:
            if not self.sock.poll(deadline_ms):
                what = msg.TAG if msg is not None else "request"
                raise AskTimeout(f"gateway did not answer {what} to {to} within {timeout} s")
            got = msgpack.unpackb(self.sock.recv(), raw=False, use_list=False, strict_map_key=False)
            rcorr, ok, obj = got
            if rcorr != corr:
                continue  # a late answer to an earlier, timed-out request
            reply = self.codec.from_obj(obj)
            if not ok:
                assert isinstance(reply, ErrorReply)
                raise RemoteError(reply.code, reply.text)
            return reply

    def subscribe(self, topic: str, timeout: float = 5.0) -> Subscribed:
        got = self.request("gateway", Subscribe(topic=topic), timeout)
        assert isinstance(got, Subscribed)
        if self.sub is None:
            self.sub = self.ctx.socket(zmq.SUB)
            self.sub.setsockopt(zmq.LINGER, 0)
            self.sub.connect(self.pub_endpoint)
        self.sub.setsockopt(zmq.SUBSCRIBE, got.pub_topic.encode())
        return got

    def next_broadcast(self, timeout: float = 1.0) -> tuple[str, Message] | None:
        if self.sub is None or not self.sub.poll(int(timeout * 1000)):
            return None
        topic, data = self.sub.recv_multipart()
        return topic.decode().split("/", 1)[1], self.codec.decode(data)
