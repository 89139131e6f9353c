"""A simulated agent: a SIP phone of its own (socket, registration) and a desk on the gateway.

The phone registers with digest as the center's config says (extension, password) and keeps
its binding fresh. Each INVITE rings (180) for the scenario's answer delay, is answered with
SDP (an answer to the center's offer, or an offer of its own when the INVITE has none: the
answer then comes in the ACK), talks for the drawn talk time sending and receiving RTP, then
hangs up (BYE) unless the other side did first. After the drawn wrap-up the agent goes ready
again through the desk; after a call it missed (CANCEL while ringing) it comes back after
``back_after_no_answer_s``. A second INVITE during a call gets 486 (the phone is free again
during wrap-up: it is the center that does not offer calls then).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import numpy as np

from sim.scenario import AgentGroup
from sim.wire.calls import Call
from sim.wire.desk import Desk
from sim.wire.net import SipPort
from sim.wire.rtp import MediaClock, RtpLeg
from sim.wire.tally import PhoneRecord, Tally
from sim.wire.ua_events import Ended, Incoming, MediaUpdated, Registered, UaEvent
from sip.transaction import Target
from sip.uri import SipUri

REGISTER_EXPIRES_S = 300
REGISTER_TIMEOUT_S = 10.0


@dataclass(frozen=True, slots=True, kw_only=True)
class AgentSpec:
    login: str
    extension: str
    password: str
    phone_uri: str
    group: AgentGroup


class Phone:
    def __init__(self, spec: AgentSpec, port: SipPort, *, registrar: Target, domain: str,
                 clock: MediaClock, desk: Desk, tally: Tally, rng: np.random.Generator,
                 frame: bytes, hard_end: float) -> None:  # fmt: skip
        self.spec = spec
        self.port = port
        self.registrar = registrar
        self.domain = domain
        self.clock = clock
        self.desk = desk
        self.tally = tally
        self.rng = rng
        self.frame = frame
        self.hard_end = hard_end
        self.busy = False
        self.registered_at: float | None = None
        self.tasks: set[asyncio.Task[None]] = set()

    def now(self) -> float:
        return self.port.now()

    async def register(self, expires: int = REGISTER_EXPIRES_S) -> bool:
        ua = self.port.user_agent
        self.port.run(ua.register(user=self.spec.extension, password=self.spec.password,
                                  domain=self.domain, registrar=self.registrar,
                                  expires=expires, now=self.now()))  # fmt: skip
        deadline = self.now() + REGISTER_TIMEOUT_S
        while self.now() < deadline:
            try:
                event = await asyncio.wait_for(self.port.events.get(), deadline - self.now())
            except TimeoutError:
                break
            if isinstance(event, Registered):
                if event.ok and expires:
                    self.registered_at = self.now()
                return event.ok
            if isinstance(event, Incoming):
                self._incoming(event)
        return False

    async def run(self, stop: asyncio.Event) -> None:
        """Take calls until ``stop``; re-register at half the binding's lifetime."""
        while not stop.is_set():
            refresh_at = (self.registered_at or self.now()) + REGISTER_EXPIRES_S / 2
            try:
                event = await asyncio.wait_for(self.port.events.get(),
                                               max(0.05, min(1.0, refresh_at - self.now())))
            except TimeoutError:
                if self.now() >= refresh_at and not await self.register():
                    self.tally.errors.append(f"phone {self.spec.extension}: re-REGISTER failed")
                continue
            if isinstance(event, Incoming):
                self._incoming(event)

    def _incoming(self, event: Incoming) -> None:
        ua = self.port.user_agent
        call = ua.calls.get(event.call_id)
        if call is None:
            return
        if self.busy:
            self.port.run(ua.reject(call, 486, self.now()))
            ua.forget(call.call_id)
            return
        self.busy = True
        box = self.port.inbox(call.call_id)  # before the task starts: a CANCEL may come first
        task = asyncio.create_task(self._take(call, box))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _take(self, call: Call, box: asyncio.Queue[UaEvent]) -> None:
        g = self.spec.group
        ua = self.port.user_agent
        caller = call.invite.from_.uri
        number = (caller.user or "") if isinstance(caller, SipUri) else ""
        record = PhoneRecord(login=self.spec.login, caller=number, offered_at=self.now())
        self.tally.phone_calls.append(record)
        leg: RtpLeg | None = None
        try:
            self.port.run(ua.ring(call, self.now()))
            ended = await self._wait_end(box, self.now() + g.answer_delay.draw(self.rng), None)
            if ended is not None:  # cancelled while ringing: the ACD moved on
                record.ended_by = "cancel"
                self._ready_later(g.back_after_no_answer_s)
                return
            leg = await RtpLeg.open(self.port.host, self.frame)
            call.rtp_port = leg.port
            self.port.run(ua.answer(call, self.now()))
            record.answered = True
            self.tally.answered_by_agent(number, self.spec.login, self.now())
            self._media(call, leg)
            ended = await self._wait_end(box, self.now() + g.talk.draw(self.rng), (call, leg))
            if ended is None:
                self.port.run(ua.bye(call, self.now()))
                record.ended_by = "agent"
            else:
                record.ended_by = "caller" if ended.how == "bye" else ended.how
            self._ready_later(g.wrap_up.draw(self.rng))  # the phone is free meanwhile
        except Exception as exc:  # one call's surprise must not stop the phone: record it
            self.tally.errors.append(f"phone {self.spec.extension}: {type(exc).__name__}: {exc}")
            if not call.ended:
                self.port.run(ua.bye(call, self.now()) if call.state == "confirmed"
                              else ua.reject(call, 500, self.now()))
        finally:
            if leg is not None:
                self.clock.legs.discard(leg)
                record.rtp_sent, record.rtp_received = leg.sent, leg.received
                leg.close()
            self.port.forget(call.call_id)
            self.busy = False

    def _ready_later(self, seconds: float) -> None:
        """Ready again after wrap-up or a missed call - unless a new call came meanwhile. (After
        a missed call the caller may have given up, which freed the agent, or the ACD timed
        the ring out, which made it not ready: the phone cannot tell, so it asks either way.)"""

        async def later() -> None:
            await asyncio.sleep(seconds)
            if not self.busy and self.now() < self.hard_end:
                await self.desk.ready(self.spec.login)

        task = asyncio.create_task(later())
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _wait_end(self, box: asyncio.Queue[UaEvent], until: float,
                        media: tuple[Call, RtpLeg] | None) -> Ended | None:  # fmt: skip
        """The call's end if it comes before ``until`` (and the run's end), else None."""
        while True:
            timeout = min(until, self.hard_end) - self.now()
            if timeout <= 0:
                return None
            try:
                event = await asyncio.wait_for(box.get(), timeout)
            except TimeoutError:
                return None
            if isinstance(event, Ended):
                return event
            if isinstance(event, MediaUpdated) and media is not None:
                self._media(*media)

    def _media(self, call: Call, leg: RtpLeg) -> None:
        if call.media is None:
            return
        leg.point_at(call.media)
        if leg.remote is not None:
            self.clock.legs.add(leg)
