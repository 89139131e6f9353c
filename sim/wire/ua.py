"""A sans-IO SIP user agent for simulated phones and callers: bytes and time in, events out.

One :class:`UserAgent` is one SIP address (a UDP host:port) holding any number of calls. It is
built on the project's SIP core: the transaction layer (retransmissions, timers), dialogs,
digest (REGISTER answers its 401), offer/answer. Datagrams to send collect in :attr:`outbox`;
the I/O side (:mod:`sim.wire.net`) drains it. What it does by itself, as a phone would:

* answers 100 (the transaction layer), OPTIONS keepalives, in-dialog INFO/UPDATE/NOTIFY;
* answers a re-INVITE with an offer, or with one of its own when it carries none (the
  answer then comes in the ACK: a center joining a caller answered by its IVR does that);
* ACKs 2xx (again for each retransmission) and retransmits its own 2xx until the ACK comes;
* answers a CANCEL (200, then 487 to the INVITE) and a BYE (200).
"""

from __future__ import annotations

from collections.abc import Sequence

from sim.wire import ua_events as ev
from sim.wire.calls import Call, body_of, new_call, target_of
from sim.wire.register import Registration, challenge_answer, register_request
from sim.wire.ua_events import UaEvent
from sip.builders import build_cancel, make_response, make_via, new_call_id, new_tag
from sip.dialog import Dialog, Pending2xx
from sip.errors import DialogError, SipParseError, TransactionError
from sip.message import Request, Response
from sip.parser import is_keepalive, parse_datagram
from sip.serializer import serialize
from sip.transaction import Target, TimerConfig
from sip.transaction_layer import (
    Output,
    RequestReceived,
    ResponseReceived,
    SendMessage,
    StrayResponse,
    TransactionLayer,
    TransactionTimeout,
    TransportFailed,
)

SDP = "application/sdp"
USER_AGENT = "contactor-sim"


class UserAgent:
    """All calls of one SIP address; see the module docstring."""

    def __init__(self, *, host: str, port: int, t1: float = 0.5) -> None:
        self.host = host
        self.port = port
        self.timers = TimerConfig(t1=t1)
        self.layer = TransactionLayer(self.timers)
        self.calls: dict[str, Call] = {}
        self.outbox: list[tuple[bytes, Target]] = []
        self.discarded = 0
        self._registrations: dict[str, Registration] = {}  # REGISTER client tx -> who

    # ---------------------------------------------------------------- helpers

    def contact(self, user: str) -> str:
        return f"sip:{user}@{self.host}:{self.port}"

    def _via(self) -> str:
        return str(make_via("UDP", self.host, self.port))

    def _send(self, request: Request, target: Target, now: float) -> tuple[str, list[UaEvent]]:
        key, outputs = self.layer.send_request(request, target, now)
        return key, self._outputs(outputs, now)

    def _respond(self, key: str, response: Response, now: float) -> list[UaEvent]:
        try:
            return self._outputs(self.layer.send_response(key, response, now), now)
        except TransactionError:
            return []  # the transaction is gone (it timed out): nothing to answer

    def _in_dialog(self, call: Call, method: str, now: float, *, body: bytes = b"",
                   content_type: str | None = None) -> list[UaEvent]:  # fmt: skip
        assert call.dialog is not None
        request = call.dialog.create_request(method, via=make_via("UDP", self.host, self.port),
                                             body=body, content_type=content_type)
        key, events = self._send(request, target_of(call.dialog.remote_target, call.peer), now)
        call.requests[key] = method
        return events

    def _ack(self, call: Call, body: bytes = b"") -> None:
        assert call.dialog is not None
        ack = call.dialog.create_ack(via=make_via("UDP", self.host, self.port), body=body,
                                     content_type=SDP if body else None)
        self.outbox.append((serialize(ack), target_of(call.dialog.remote_target, call.peer)))

    # ---------------------------------------------------------------- registration

    def register(self, *, user: str, password: str, domain: str, registrar: Target,
                 expires: int, now: float) -> list[UaEvent]:  # fmt: skip
        """REGISTER ``user`` at ``registrar`` with this address as contact (0: unregister)."""
        reg = Registration(user=user, password=password, domain=domain, registrar=registrar,
                           expires=expires, call_id=new_call_id(self.host), from_tag=new_tag())
        return self._send_register(reg, None, now)

    def _send_register(self, reg: Registration, auth: str | None, now: float) -> list[UaEvent]:
        request = register_request(reg, via=self._via(), contact=self.contact(reg.user),
                                   auth=auth, user_agent=USER_AGENT)  # fmt: skip
        key, events = self._send(request, reg.registrar, now)
        self._registrations[key] = reg
        return events

    def _register_answered(self, reg: Registration, resp: Response, now: float
                           ) -> list[UaEvent]:  # fmt: skip
        auth = challenge_answer(reg, resp)
        if auth is not None:
            return self._send_register(reg, auth, now)
        reg.challenges = 0
        return [ev.Registered(user=reg.user, ok=resp.is_success, status=resp.status)]

    # ---------------------------------------------------------------- calls we place

    def invite(self, *, user: str, number: str, target: Target, rtp_host: str, rtp_port: int,
               now: float) -> tuple[Call, list[UaEvent]]:  # fmt: skip
        """Call ``number`` at ``target`` from ``user``, offering RTP at ``rtp_host:rtp_port``."""
        call = new_call(via=self._via(), user=user, host=self.host, contact=self.contact(user),
                        number=number, target=target, rtp_host=rtp_host, rtp_port=rtp_port,
                        user_agent=USER_AGENT)  # fmt: skip
        self.calls[call.call_id] = call
        call.tx, events = self._send(call.invite, target, now)
        return call, events

    def cancel(self, call: Call, now: float) -> list[UaEvent]:
        """Give up on our unanswered INVITE (§9.1: only after a provisional response)."""
        if call.role != "uac" or call.state not in ("calling", "early") or call.cancelled:
            return []
        call.cancelled = True
        if not call.provisional:
            call.cancel_pending = True
            return []
        _key, events = self._send(build_cancel(call.invite), call.peer, now)
        return events

    def _invite_response(self, call: Call, resp: Response, now: float) -> list[UaEvent]:
        if resp.status < 200:
            if resp.status == 100:
                return []
            call.provisional = True
            events: list[UaEvent] = []
            if call.cancel_pending:
                call.cancel_pending = False
                _key, events = self._send(build_cancel(call.invite), call.peer, now)
            if call.dialog is None and resp.to.tag is not None:
                call.dialog = Dialog.from_uac(call.invite, resp,
                                              local_contact=self.contact(call.user))
                call.state = "early"
            return [*events, ev.Provisional(call_id=call.call_id, status=resp.status)]
        if resp.status >= 300:
            call.final_status = resp.status
            call.state = "ended"
            return [ev.Failed(call_id=call.call_id, status=resp.status)]
        if call.state == "confirmed" or call.state == "ended":
            if call.dialog is not None and call.dialog.remote_tag == resp.to.tag:
                self._ack(call)  # a retransmitted 2xx: ACK it again (§13.2.2.4)
            return []
        call.dialog = Dialog.from_uac(call.invite, resp, local_contact=self.contact(call.user))
        call.final_status = resp.status
        call.take_answer(body_of(resp))
        self._ack(call)
        if call.cancelled:  # the 2xx crossed our CANCEL: end the dialog it made (§9.1)
            call.state = "confirmed"
            return self.bye(call, now)
        call.state = "confirmed"
        return [ev.Answered(call_id=call.call_id, status=resp.status)]

    # ---------------------------------------------------------------- calls we receive

    def ring(self, call: Call, now: float) -> list[UaEvent]:
        if call.state != "calling":
            return []
        tag = call.dialog.local_tag if call.dialog else new_tag()
        call.dialog = call.dialog or Dialog.from_uas(call.invite, local_tag=tag,
                                                     local_contact=self.contact(call.user))
        call.state = "early"
        return self._respond(call.tx, make_response(call.invite, 180, to_tag=tag), now)

    def answer(self, call: Call, now: float) -> list[UaEvent]:
        """200 to the INVITE: an answer to its offer, or our offer when it made none."""
        if call.state not in ("calling", "early"):
            return []
        offer = body_of(call.invite)
        body = call.answer_offer(offer) if offer else call.make_offer()
        return self._answer_2xx(call, call.invite, call.tx, body, now, first=True)

    def reject(self, call: Call, status: int, now: float) -> list[UaEvent]:
        if call.state not in ("calling", "early"):
            return []
        call.state = "ended"
        call.final_status = status
        tag = call.dialog.local_tag if call.dialog else new_tag()
        return self._respond(call.tx, make_response(call.invite, status, to_tag=tag), now)

    def _answer_2xx(self, call: Call, request: Request, tx: str, body: bytes, now: float,
                    *, first: bool) -> list[UaEvent]:  # fmt: skip
        if call.dialog is None:
            call.dialog = Dialog.from_uas(request, local_tag=new_tag(),
                                          local_contact=self.contact(call.user))
        ok = make_response(request, 200, to_tag=call.dialog.local_tag,
                           headers=[("Contact", f"<{self.contact(call.user)}>"),
                                    ("Content-Type", SDP)], body=body)  # fmt: skip
        call.dialog.response_sent(request, ok)
        if first:
            call.state = "confirmed"
            call.final_status = 200
        call.pending_2xx = Pending2xx.start(serialize(ok), now, self.timers.t1)
        call.pending_2xx_tx = tx
        events = self._respond(tx, ok, now)
        if call.media is not None and call.offer is None:
            events.append(ev.MediaUpdated(call_id=call.call_id))
        return events

    def _new_invite(self, event: RequestReceived, now: float) -> list[UaEvent]:
        request = event.request
        assert event.key is not None
        user = getattr(request.uri, "user", None) or ""
        call = Call(call_id=request.call_id, role="uas", user=user, invite=request,
                    tx=event.key, peer=event.source, rtp_host=self.host, rtp_port=0)
        self.calls[call.call_id] = call
        return [ev.Incoming(call_id=call.call_id, user=user, caller=request.from_.uri.__str__())]

    # ---------------------------------------------------------------- both sides

    def bye(self, call: Call, now: float) -> list[UaEvent]:
        if call.state != "confirmed" or call.dialog is None:
            return []
        call.state = "ended"
        call.pending_2xx = None
        try:
            events = self._in_dialog(call, "BYE", now)
        except DialogError:
            events = []
        return [*events, ev.Ended(call_id=call.call_id, by="local", how="bye")]

    def info_digit(self, call: Call, digit: str, now: float) -> list[UaEvent]:
        """One DTMF digit as SIP INFO (``application/dtmf-relay``, ``Signal=``)."""
        if call.state != "confirmed":
            return []
        body = f"Signal={digit}\r\nDuration=100\r\n".encode()
        return self._in_dialog(call, "INFO", now, body=body,
                               content_type="application/dtmf-relay")

    def forget(self, call_id: str) -> None:
        self.calls.pop(call_id, None)

    # ---------------------------------------------------------------- network side

    def receive(self, data: bytes, source: Target, now: float) -> list[UaEvent]:
        """One datagram from ``source``."""
        if is_keepalive(data):
            return []
        try:
            message = parse_datagram(data)
        except SipParseError:
            self.discarded += 1
            return []
        return self._outputs(self.layer.receive(message, source, now), now)

    def next_timer(self) -> float | None:
        times = [c.pending_2xx.next_timer() for c in self.calls.values()
                 if c.pending_2xx is not None]  # fmt: skip
        layer = self.layer.next_timer()
        if layer is not None:
            times.append(layer)
        return min(times) if times else None

    def handle_timer(self, now: float) -> list[UaEvent]:
        events = self._outputs(self.layer.handle_timer(now), now)
        for call in list(self.calls.values()):
            pending = call.pending_2xx
            if pending is None or pending.next_timer() > now:
                continue
            verdict = pending.handle_timer(now, self.timers.t2)
            if verdict == "retransmit":
                self.outbox.append((pending.response, call.peer))
            elif verdict == "give-up":  # the ACK never came (§13.3.1.4): end the call
                call.pending_2xx = None
                events += self.bye(call, now)
        return events

    def _outputs(self, outputs: Sequence[Output], now: float) -> list[UaEvent]:
        events: list[UaEvent] = []
        for out in outputs:
            if isinstance(out, SendMessage):
                self.outbox.append((out.data, out.target))
            elif isinstance(out, RequestReceived):
                events += self._request(out, now)
            elif isinstance(out, ResponseReceived):
                events += self._response(out.key, out.response, now)
            elif isinstance(out, StrayResponse):
                events += self._stray(out.response)
            elif isinstance(out, TransactionTimeout | TransportFailed):
                events += self._timeout(out.key, now)
        return events

    def _request(self, event: RequestReceived, now: float) -> list[UaEvent]:
        request = event.request
        if request.method == "ACK":
            return self._on_ack(request)
        key = event.key
        assert key is not None
        if request.method == "CANCEL":
            return self._on_cancel(event, now)
        call = self.calls.get(request.call_id)
        if request.to.tag is None:
            if request.method == "INVITE" and call is None:
                return self._new_invite(event, now)
            if request.method == "OPTIONS":
                return self._respond(key, make_response(request, 200, to_tag=new_tag()), now)
            return self._respond(key, make_response(request, 481, to_tag=new_tag()), now)
        if call is None or call.dialog is None or not call.dialog.matches_request(request):
            return self._respond(key, make_response(request, 481), now)
        rejection = call.dialog.receive_request(request)
        if rejection is not None:
            return self._respond(key, make_response(request, rejection.status,
                                                    headers=rejection.headers), now)
        if request.method == "BYE":
            events = self._respond(key, make_response(request, 200), now)
            call.dialog.response_sent(request, make_response(request, 200))
            was_up = call.state != "ended"
            call.state = "ended"
            call.pending_2xx = None
            return [*events, ev.Ended(call_id=call.call_id, by="remote", how="bye")] \
                if was_up else events
        if request.method == "INVITE":  # a re-INVITE: new far end (a center joining legs)
            offer = body_of(request)
            body = call.answer_offer(offer) if offer else call.make_offer()
            return self._answer_2xx(call, request, key, body, now, first=False)
        ok = make_response(request, 200)
        call.dialog.response_sent(request, ok)
        return self._respond(key, ok, now)

    def _on_ack(self, ack: Request) -> list[UaEvent]:
        call = self.calls.get(ack.call_id)
        if call is None or call.dialog is None:
            return []
        call.dialog.receive_request(ack)
        if call.pending_2xx is None:
            return []  # a retransmitted ACK
        call.pending_2xx = None
        if call.offer is not None:  # our offer was in the 2xx: the answer is in this ACK
            call.take_answer(body_of(ack))
            if call.media is not None:
                return [ev.MediaUpdated(call_id=call.call_id)]
        return []

    def _on_cancel(self, event: RequestReceived, now: float) -> list[UaEvent]:
        assert event.key is not None
        request = event.request
        if event.cancels is None:
            return self._respond(event.key, make_response(request, 481, to_tag=new_tag()), now)
        events = self._respond(event.key, make_response(request, 200, to_tag=new_tag()), now)
        call = self.calls.get(request.call_id)
        if call is None or call.state not in ("calling", "early"):
            return events
        events += self.reject(call, 487, now)
        return [*events, ev.Ended(call_id=call.call_id, by="remote", how="cancel")]

    def _response(self, key: str, resp: Response, now: float) -> list[UaEvent]:
        reg = self._registrations.pop(key, None)
        if reg is not None:
            if resp.status < 200:
                self._registrations[key] = reg
                return []
            return self._register_answered(reg, resp, now)
        call = self.calls.get(resp.call_id)
        if call is None:
            return []
        if key == call.tx:
            return self._invite_response(call, resp, now)
        method = call.requests.pop(key, None) if resp.status >= 200 else None
        return [ev.InfoDone(call_id=call.call_id, status=resp.status)] if method == "INFO" else []

    def _stray(self, resp: Response) -> list[UaEvent]:
        """A 2xx to our INVITE after its transaction ended: ACK it again."""
        try:
            call = self.calls.get(resp.call_id)
            if call is not None and resp.is_success and resp.cseq.method == "INVITE" \
                    and call.dialog is not None and call.dialog.remote_tag == resp.to.tag:
                self._ack(call)
        except SipParseError:
            self.discarded += 1
        return []

    def _timeout(self, key: str, now: float) -> list[UaEvent]:
        reg = self._registrations.pop(key, None)
        if reg is not None:
            return [ev.Registered(user=reg.user, ok=False, status=408)]
        for call in self.calls.values():
            if key == call.tx and call.role == "uac" and call.state in ("calling", "early"):
                call.state = "ended"
                call.final_status = 408
                return [ev.Failed(call_id=call.call_id, status=408)]
            method = call.requests.pop(key, None)
            if method is not None:
                return [ev.InfoDone(call_id=call.call_id, status=408)] if method == "INFO" else []
        return []
