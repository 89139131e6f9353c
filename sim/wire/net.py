"""The I/O side of the simulated endpoints: UDP sockets for SIP on one asyncio loop.

A :class:`SipPort` owns one socket and the :class:`~sim.wire.ua.UserAgent` for its address;
datagrams go into the user agent, what it wants sent goes out, and its events land in
per-call queues (``inbox(call_id)``) or, for events of no known call (a new INVITE, a REGISTER
answer), in :attr:`SipPort.events`. One :class:`TimerPump` runs every port's transaction
timers on a short period.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterable
from typing import cast

from sim.wire.ua import UserAgent
from sim.wire.ua_events import Incoming, Registered, UaEvent
from sip.transaction import Target

TIMER_PERIOD_S = 0.02


class SipPort(asyncio.DatagramProtocol):
    def __init__(self, host: str, t1: float) -> None:
        self.host = host
        self.t1 = t1
        self.ua: UserAgent | None = None
        self.transport: asyncio.DatagramTransport | None = None
        self.events: asyncio.Queue[UaEvent] = asyncio.Queue()
        self._inboxes: dict[str, asyncio.Queue[UaEvent]] = {}
        self.sent = 0
        self.received = 0
        self.send_errors = 0

    @classmethod
    async def open(cls, host: str, *, port: int = 0, t1: float = 0.5) -> SipPort:
        loop = asyncio.get_running_loop()
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        sock.bind((host, port))
        transport, protocol = await loop.create_datagram_endpoint(lambda: cls(host, t1),
                                                                  sock=sock)
        bound = transport.get_extra_info("sockname")
        protocol.ua = UserAgent(host=host, port=int(bound[1]), t1=t1)
        return protocol

    # -------------------------------------------------------------- asyncio callbacks

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's UDP transport does not subclass asyncio.DatagramTransport: no isinstance
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str | object, ...]) -> None:
        if self.ua is None:
            return
        self.received += 1
        source = Target(transport="UDP", host=str(addr[0]), port=int(str(addr[1])))
        self.run(self.ua.receive(data, source, self.now()))

    def error_received(self, exc: Exception) -> None:
        self.send_errors += 1  # ICMP unreachable from a peer that went away: retransmissions

    # -------------------------------------------------------------- for the scripts

    @property
    def user_agent(self) -> UserAgent:
        assert self.ua is not None, "SipPort.open() sets the user agent"
        return self.ua

    @staticmethod
    def now() -> float:
        return asyncio.get_running_loop().time()

    def inbox(self, call_id: str) -> asyncio.Queue[UaEvent]:
        return self._inboxes.setdefault(call_id, asyncio.Queue())

    def forget(self, call_id: str) -> None:
        self._inboxes.pop(call_id, None)
        self.user_agent.forget(call_id)

    def run(self, events: Iterable[UaEvent]) -> None:
        """Send what the user agent queued, then hand its events to whoever waits for them."""
        self.flush()
        for event in events:
            if isinstance(event, Incoming | Registered):
                self.events.put_nowait(event)
                continue
            box = self._inboxes.get(event.call_id)
            if box is not None:
                box.put_nowait(event)

    def flush(self) -> None:
        ua = self.ua
        if ua is None or not ua.outbox:
            return
        out, ua.outbox = ua.outbox, []
        if self.transport is None or self.transport.is_closing():
            return
        for data, target in out:
            self.transport.sendto(data, (target.host, target.port))
            self.sent += 1

    def tick(self, now: float) -> None:
        ua = self.ua
        if ua is None:
            return
        due = ua.next_timer()
        if due is not None and due <= now:
            self.run(ua.handle_timer(now))

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


class TimerPump:
    """Runs the SIP timers of every open port every :data:`TIMER_PERIOD_S`."""

    def __init__(self) -> None:
        self.ports: list[SipPort] = []

    def add(self, port: SipPort) -> SipPort:
        self.ports.append(port)
        return port

    async def run(self, stop: asyncio.Event) -> None:
        loop = asyncio.get_running_loop()
        while not stop.is_set():
            now = loop.time()
            for port in self.ports:
                port.tick(now)
            await asyncio.sleep(TIMER_PERIOD_S)

    def close(self) -> None:
        for port in self.ports:
            port.close()
