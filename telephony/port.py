"""The SIP port ``sip/telephony``: where the stack meets the loop, the sockets and the actors.

:class:`Softswitch` feeds the stack from the transports (datagrams, stream items) and from
the actor host (envelopes addressed to the port), performs the actions the stack returns
(send bytes, tell a call actor, persist bindings) and keeps one loop timer armed at the
stack's next deadline. It also runs the one ask a pure call actor cannot make itself:
opening a media endpoint (``media.open`` answers only asks), telling the result back.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from actors.host import Host
from bus.envelope import Envelope
from bus.errors import AskTimeout, RemoteError
from media.messages import EndpointOpened, OpenEndpoint
from sip.errors import SipParseError
from sip.message import Request, Response
from sip.parser import StreamItem
from sip.transaction import Target
from telephony.bindings import BindingStore
from telephony.messages import MediaFailed, MediaOpened, OpenMedia
from telephony.stack import Action, Deliver, Log, Persist, SipStack, Transmit
from telephony.transport import Transports

MEDIA_ASK_TIMEOUT_S = 2.0


class Softswitch:
    def __init__(self, *, host: Host, stack: SipStack, log: Log,
                 bindings: BindingStore | None = None) -> None:
        self.host = host
        self.stack = stack
        self.log = log
        self.bindings = bindings
        self.transports = Transports(on_datagram=self.on_datagram, on_item=self.on_item, log=log)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at: float | None = None
        # One writer thread: saves of one address of record must land in order.
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sip-bindings")
        self._tasks: set[asyncio.Future[Any]] = set()
        self._epoch_offset = time.time() - time.monotonic()

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        if self._loop is None:
            self._loop = asyncio.get_running_loop()
            self._epoch_offset = time.time() - self._loop.time()
        return self._loop

    @property
    def epoch_offset(self) -> float:
        """Add to loop time to get wall-clock time (bindings are stored in wall time)."""
        _ = self.loop
        return self._epoch_offset

    # ---------------------------------------------------------------- inputs

    def on_datagram(self, data: bytes, source: Target) -> None:
        self.perform(self.stack.datagram(data, source, self.loop.time()))

    def on_item(self, item: StreamItem, source: Target) -> None:
        now = self.loop.time()
        if isinstance(item, SipParseError):
            self.perform(self.stack.parse_error(item, source))
        elif isinstance(item, Request | Response):
            self.perform(self.stack.message(item, source, now))

    def on_envelope(self, env: Envelope) -> None:
        """Handler of the ``sip`` port kind: messages from call actors."""
        msg = env.msg
        if isinstance(msg, OpenMedia):
            task = self.loop.create_task(self._open_media(env.reply_to, msg))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
            return
        self.perform(self.stack.from_call(env.reply_to, msg, self.loop.time()))

    def _on_timer(self) -> None:
        self._timer = self._timer_at = None
        self.perform(self.stack.handle_timer(self.loop.time()))

    # ---------------------------------------------------------------- outputs

    def perform(self, actions: Iterable[Action]) -> None:
        for action in actions:
            if isinstance(action, Transmit):
                self.transports.send(action.data, action.target)
            elif isinstance(action, Deliver):
                self.host.tell(action.to, action.msg)
            elif isinstance(action, Persist) and self.bindings is not None:
                fut = self.loop.run_in_executor(self._writer, self.bindings.save,
                                                action.change, self.epoch_offset)
                self._tasks.add(fut)
                fut.add_done_callback(self._saved)
        self._arm()

    def _saved(self, fut: asyncio.Future[Any]) -> None:
        self._tasks.discard(fut)
        if not fut.cancelled() and fut.exception() is not None:
            self.log.warning("sip.bindings_not_saved", error=repr(fut.exception()))

    def _arm(self) -> None:
        due = self.stack.next_timer()
        if due is None or (self._timer_at is not None and self._timer_at <= due):
            return
        if self._timer is not None:
            self._timer.cancel()
        self._timer_at = due
        self._timer = self.loop.call_at(due, self._on_timer)

    # ---------------------------------------------------------------- media endpoints

    async def _open_media(self, reply_to: str, msg: OpenMedia) -> None:
        to = reply_to or f"call/{msg.call_id}"
        request = OpenEndpoint(call_id=msg.call_id, leg=msg.leg, codecs=msg.codecs)
        try:
            answer = await self.host.ask(f"media/{msg.call_id}", request,
                                         timeout=MEDIA_ASK_TIMEOUT_S)
        except (AskTimeout, RemoteError) as exc:
            self.host.tell(to, MediaFailed(call_id=msg.call_id, leg=msg.leg, reason=str(exc)))
            return
        if not isinstance(answer, EndpointOpened):
            self.host.tell(to, MediaFailed(call_id=msg.call_id, leg=msg.leg,
                                           reason=f"unexpected answer {answer.TAG}"))
            return
        self.host.tell(to, MediaOpened(call_id=msg.call_id, leg=msg.leg,
                                       endpoint=answer.endpoint, host=answer.host,
                                       port=answer.port))

    # ---------------------------------------------------------------- trunk registrations

    def start_trunks(self) -> None:
        """Start registering at the providers (call once the transports listen)."""
        self.perform(self.stack.start_trunks(self.loop.time()))

    async def unregister_trunks(self, timeout_s: float = 2.0) -> bool:
        """Remove our bindings at the providers; True if every one answered in time."""
        self.perform(self.stack.stop_trunks(self.loop.time()))
        deadline = self.loop.time() + timeout_s
        while not self.stack.trunks.done and self.loop.time() < deadline:
            await asyncio.sleep(0.02)
        return self.stack.trunks.done

    # ---------------------------------------------------------------- life

    async def listen(self, host: str, port: int, transports: Iterable[str],
                     tls: Any = None) -> dict[str, tuple[str, int]]:
        bound: dict[str, tuple[str, int]] = {}
        for name in transports:
            if name == "udp":
                bound[name] = await self.transports.listen_udp(host, port)
            elif name == "tcp":
                bound[name] = await self.transports.listen_stream(host, port)
            elif name == "tls" and tls is not None:
                tls_host, tls_port, context = tls
                bound[name] = await self.transports.listen_stream(tls_host, tls_port,
                                                                  tls=context)
        return bound

    async def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self.transports.close()
        pending = [t for t in self._tasks if not t.done()]
        if pending:
            await asyncio.wait(pending, timeout=2.0)
        self._writer.shutdown(wait=True)
