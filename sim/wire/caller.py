"""A simulated caller: INVITE the center's number, walk the IVR with DTMF, wait, hang up.

The script of one call, as a coroutine on the shared loop:

1. INVITE ``[wire] number`` at ``sip_target`` from the caller host (an address the trunk
   allows), offering PCMU and telephone-event on its own RTP socket;
2. once the center answers (its IVR), wait ``dtmf_delay_s`` and send the route's digits:
   SIP INFO (``application/dtmf-relay``) when the answer's audio port is 9 (the center's
   placeholder: no RTP endpoint behind it), RFC 4733 events over RTP otherwise
   (``[wire] dtmf`` forces one);
3. wait in the queue: patience counts from the digits (or from the INVITE on a route without
   any). Out of patience before any answer: CANCEL; after the IVR's answer: BYE;
4. an agent's phone answers (it tells this caller directly): wait for the agent's BYE.

Every wait is bounded by the run's hard end, after which the call is cut (BYE or CANCEL).
"""

from __future__ import annotations

import asyncio
import math
from dataclasses import dataclass
from typing import Literal

from sim.wire.calls import Call
from sim.wire.net import SipPort
from sim.wire.rtp import MediaClock, RtpLeg
from sim.wire.tally import CallRecord, Outcome, Tally
from sim.wire.ua_events import (
    Answered,
    Ended,
    Failed,
    InfoDone,
    MediaUpdated,
    Provisional,
    UaEvent,
)
from sip.transaction import Target

DtmfMode = Literal["auto", "info", "rfc4733"]
INFO_TIMEOUT_S = 5.0
CANCEL_WAIT_S = 5.0


@dataclass(frozen=True, slots=True, kw_only=True)
class CallerSetup:
    target: Target
    number: str
    host: str
    dtmf: DtmfMode
    dtmf_delay_s: float
    hard_end: float  # loop time after which calls still up are cut
    frame: bytes


class CallerScript:
    def __init__(self, setup: CallerSetup, port: SipPort, clock: MediaClock, tally: Tally,
                 record: CallRecord, digits: str, patience_s: float) -> None:  # fmt: skip
        self.setup = setup
        self.port = port
        self.clock = clock
        self.tally = tally
        self.record = record
        self.digits = digits
        self.patience_s = patience_s
        self.leg: RtpLeg | None = None
        self.call: Call | None = None
        self.box: asyncio.Queue[UaEvent] = asyncio.Queue()

    def now(self) -> float:
        return self.port.now()

    async def run(self) -> None:
        try:
            await self._run()
        except Exception as exc:  # one call's surprise must not stop the run: record it
            self.tally.errors.append(f"caller {self.record.number}: {type(exc).__name__}: {exc}")
            self.tally.end(self.record, "failed", self.now(), f"simulator error: {exc}")
            if self.call is not None and not self.call.ended:
                self._hang_up()
        finally:
            if self.leg is not None:
                self.clock.legs.discard(self.leg)
                self.record.rtp_sent, self.record.rtp_received = self.leg.sent, self.leg.received
                self.leg.close()
            if self.call is not None:
                self.port.forget(self.call.call_id)

    async def _run(self) -> None:
        s = self.setup
        self.leg = await RtpLeg.open(s.host, s.frame)
        ua = self.port.user_agent
        call, events = ua.invite(user=self.record.number, number=s.number, target=s.target,
                                 rtp_host=s.host, rtp_port=self.leg.port, now=self.now())
        self.call = call
        self.record.sip_call_id = call.call_id
        self.box = self.port.inbox(call.call_id)
        self.port.run(events)
        patience_end = self.now() + self.patience_s if not self.digits else math.inf
        if not await self._until_answered(patience_end):
            return
        if self.digits:
            await self._sleep(s.dtmf_delay_s)
            if self.call.ended:
                return
            await self._send_digits()
            patience_end = self.now() + self.patience_s
        if self.record.phase == "ivr":
            self.record.phase = "queued"
        await self._until_over(patience_end)

    # -------------------------------------------------------------- waiting

    async def _next(self, until: float) -> UaEvent | None:
        timeout = min(until, self.setup.hard_end) - self.now()
        if timeout <= 0:
            return None
        try:
            return await asyncio.wait_for(self.box.get(), timeout)
        except TimeoutError:
            return None

    async def _sleep(self, seconds: float) -> None:
        """Sleep, still handling what the center sends meanwhile (a BYE, a re-INVITE)."""
        until = self.now() + seconds
        while self.now() < until and not self._over():
            event = await self._next(until)
            if event is not None:
                self._handle(event)

    def _over(self) -> bool:
        return self.record.ended_at is not None

    async def _until_answered(self, patience_end: float) -> bool:
        """Wait for the center's 2xx; False if the call ended before (failed, abandoned)."""
        while not self._over():
            event = await self._next(patience_end)
            if event is None:
                reason = "patience" if self.now() < self.setup.hard_end else "run over"
                await self._cancel(reason)
                return False
            self._handle(event)
            if isinstance(event, Answered):
                return not self._over()
        return False

    async def _until_over(self, patience_end: float) -> None:
        answered = self.tally.agent_answered[self.record.number]
        while not self._over():
            until = math.inf if answered.is_set() else patience_end
            event = await self._next(until)
            if event is not None:
                self._handle(event)
                continue
            if self.now() >= self.setup.hard_end:
                self._hang_up()
                self.tally.end(self.record, "cut", self.now(), "still up when the run ended")
            elif not answered.is_set():
                self._hang_up()
                self.tally.end(self.record, "abandoned", self.now(), "patience (BYE)")

    def _handle(self, event: object) -> None:
        r, now = self.record, self.now()
        call = self.call
        assert call is not None
        if isinstance(event, Provisional) and event.status >= 180:
            self.tally.mark_up(r, now)
            if r.phase == "setup":
                r.phase = "queued"
        elif isinstance(event, Answered):
            r.answered_at, r.status = now, event.status
            self.tally.mark_up(r, now)
            if r.phase in ("setup", "queued"):
                r.phase = "ivr" if self.digits else "queued"
            self._media()
        elif isinstance(event, MediaUpdated):
            self._media()
        elif isinstance(event, Failed):
            r.status = event.status
            outcome: Outcome = "abandoned" if call.cancelled else "failed"
            self.tally.end(r, outcome, now, f"INVITE answered {event.status}")
        elif isinstance(event, Ended):
            if r.agent_at is not None:
                self.tally.end(r, "answered", now, f"{event.by} {event.how}")
            elif call.cancelled:  # our CANCEL crossed the answer: the user agent BYEd it
                self.tally.end(r, "abandoned", now, "patience (CANCEL crossed the answer)")
            else:
                self.tally.end(r, "failed", now, f"ended by the center before an agent "
                                                 f"answered ({event.how})")

    def _media(self) -> None:
        call, leg = self.call, self.leg
        if call is None or leg is None or call.media is None:
            return
        leg.point_at(call.media)
        if leg.remote is not None:
            self.clock.legs.add(leg)
        else:
            self.clock.legs.discard(leg)

    # -------------------------------------------------------------- acting

    async def _send_digits(self) -> None:
        call, leg = self.call, self.leg
        assert call is not None and leg is not None
        mode = self.setup.dtmf
        if mode == "auto":
            mode = "info" if call.media is None or call.media_is_placeholder else "rfc4733"
        self.record.dtmf = mode
        if mode == "rfc4733" and leg.remote is not None:
            leg.send_digits(self.digits)
            deadline = self.now() + 0.3 * len(self.digits) + 2.0
            while leg.sending_digits and self.now() < deadline and not self._over():
                await self._sleep(0.02)
            self.record.digits_sent = self.digits
            return
        self.record.dtmf = "info"
        for digit in self.digits:
            self.port.run(self.port.user_agent.info_digit(call, digit, self.now()))
            until = self.now() + INFO_TIMEOUT_S
            while not self._over():
                event = await self._next(until)
                if event is None:
                    self.tally.errors.append(f"caller {self.record.number}: INFO {digit} "
                                             "got no answer")
                    return
                self._handle(event)
                if isinstance(event, InfoDone):
                    if event.status >= 300:
                        self.tally.errors.append(f"caller {self.record.number}: INFO {digit} "
                                                 f"answered {event.status}")
                    break
            self.record.digits_sent += digit

    async def _cancel(self, reason: str) -> None:
        call = self.call
        assert call is not None
        self.port.run(self.port.user_agent.cancel(call, self.now()))
        until = self.now() + CANCEL_WAIT_S
        while not self._over():
            event = await self._next(until) if self.now() < until else None
            if event is None:
                break
            self._handle(event)
            if isinstance(event, Answered):  # crossed our CANCEL: the UA BYEd it at once
                break
        outcome: Outcome = "abandoned" if reason == "patience" else "cut"
        self.tally.end(self.record, outcome, self.now(), f"{reason} (CANCEL)")

    def _hang_up(self) -> None:
        call = self.call
        assert call is not None
        ua = self.port.user_agent
        if call.state == "confirmed":
            self.port.run(ua.bye(call, self.now()))
        else:
            self.port.run(ua.cancel(call, self.now()))
