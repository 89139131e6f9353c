"""The SIP transaction user of the telephony process: messages in, actions out, no sockets.

Around ``sip.transaction_layer`` it does what belongs to the listener rather than to a call:

* requests: validation (400/405/415/416/420...), OPTIONS and REGISTER answered here, CANCEL
  answered 200 and passed on, new INVITEs authenticated (trunk by address, phones by digest),
  routed and handed to a fresh call actor, in-dialog requests and ACKs delivered to the call
  named by our To tag (``telephony.ids``);
* responses: delivered to the call named by our branch; 100 Trying and CANCEL answers are
  dropped here; a retransmitted 2xx gets the cached ACK again (§13.2.2.4);
* sends from call actors: requests through client transactions (ACK stateless), responses
  through server transactions, a 2xx to INVITE retransmitted until its ACK (§13.3.1.4);
* the registrar's expiry and OPTIONS keepalives;
* our registrations at providers (``[[trunk]]`` with ``register = true``,
  :mod:`telephony.trunks`), and the credentials of INVITEs a trunk challenged, which the
  ACK of their 2xx repeats (§13.2.2.4).

Each entry point returns the :data:`Action` list for the service to perform.
"""

from __future__ import annotations

import heapq
import itertools
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from bus.message import Message
from conf.schema import Config
from sip.builders import (
    make_response,
    make_via,
    new_branch,
    new_call_id,
    new_tag,
    response_for_parse_error,
)
from sip.dialog import Pending2xx
from sip.digest import DigestServer, compute_ha1
from sip.errors import SipParseError, TransactionError
from sip.headers import HeaderField, Headers
from sip.message import Request, Response
from sip.serializer import serialize
from sip.transaction import Target, TimerConfig
from sip.transaction_layer import (
    Discarded,
    Output,
    RequestReceived,
    ResponseReceived,
    SendMessage,
    StrayResponse,
    TransactionLayer,
    TransactionTerminated,
    TransactionTimeout,
    TransportFailed,
    client_key,
    response_target,
)
from sip.uri import SipUri, parse_uri
from sip.validation import RequestPolicy, rejection_response, validate_request
from telephony.ids import new_call_id as new_call
from telephony.ids import parse_branch, parse_tag
from telephony.messages import (
    CancelReceived,
    FailureKind,
    InviteReceived,
    Locate,
    Located,
    Peer,
    SendRequest,
    SendResponse,
    SipFailure,
    SipRequestIn,
    SipResponseIn,
)
from telephony.registrar import Binding, BindingsChanged, Registrar, phone_passwords
from telephony.routing import agent_by_extension, route_call, trunk_for_source
from telephony.trunk_registration import Output as TrunkOutput
from telephony.trunk_registration import SendRegister
from telephony.trunks import InviteCredentials, TrunkRegistrations
from telephony.wire import Wire

ALLOW = "INVITE, ACK, CANCEL, BYE, OPTIONS, REGISTER, REFER, NOTIFY, INFO, UPDATE"
POLICY = RequestPolicy(
    methods=frozenset(m.strip() for m in ALLOW.split(",")),
    extensions=frozenset({"replaces"}),
    body_types=frozenset({"application/sdp", "message/sipfrag", "multipart/mixed",
                          "application/dtmf-relay"}),
)  # fmt: skip


class Log(Protocol):
    def info(self, event: str, **kw: Any) -> Any: ...
    def warning(self, event: str, **kw: Any) -> Any: ...


@dataclass(frozen=True, slots=True)
class Transmit:
    data: bytes
    target: Target


@dataclass(frozen=True, slots=True)
class Deliver:
    to: str
    msg: Message


@dataclass(frozen=True, slots=True)
class Persist:
    change: BindingsChanged


Action = Transmit | Deliver | Persist


@dataclass(slots=True)
class _Unacked:
    """Our 2xx to an INVITE, resent until the ACK arrives (§13.3.1.4)."""

    tx: str
    call_id: str
    leg: str
    timer: Pending2xx
    reliable: bool


def _target(peer: Peer) -> Target:
    return Target(transport=peer.transport.upper(), host=peer.host, port=peer.port)


def _peer(target: Target) -> Peer:
    return Peer(transport=target.transport.upper(), host=target.host, port=target.port)


class SipStack:
    def __init__(
        self, *, config: Config, registrar: Registrar, digest: DigestServer, log: Log,
        advertised: tuple[str, int], resolve: Callable[[str], str] = lambda host: host,
        call_ids: Callable[[], str] = new_call, force_rport: bool = True, wire: Wire | None = None,
        tls_port: int = 0,
    ) -> None:  # fmt: skip
        self.config = config
        self.registrar = registrar
        self.digest = digest
        self.log = log
        self.host, self.port = advertised
        self.tls_port = tls_port  # TLS listens on a port of its own (0: no TLS)
        self.resolve = resolve
        self.call_ids = call_ids
        self.force_rport = force_rport
        self.wire = wire or Wire()
        self.timers = TimerConfig(t1=config.sip.t1)
        self.layer = TransactionLayer(self.timers, serialize=self.wire.dump)
        self._invites: dict[str, tuple[str, str]] = {}  # INVITE server tx -> (call, leg)
        self._unacked: dict[tuple[str, int], _Unacked] = {}
        # (deadline, n, key) of each _Unacked's next timer; stale entries are skipped
        self._unacked_due: list[tuple[float, int, tuple[str, int]]] = []
        self._unacked_n = itertools.count()
        self._acks: dict[tuple[str, int, str], tuple[bytes, Target]] = {}
        self._ack_expiry: deque[tuple[float, tuple[str, int, str]]] = deque()
        self._pings: dict[str, Binding] = {}  # OPTIONS keepalive client tx -> binding
        self.counters: dict[str, int] = {}
        self._passwords = phone_passwords(config)
        self.trunks = TrunkRegistrations.for_config(
            config, host=self.host, port=self.port, call_id=lambda: new_call_id(self.host),
            tag=new_tag, tls_port=tls_port)
        # an INVITE may ring for minutes (Timer C > 3 min, §16.6) before the 2xx to ACK
        self.credentials = InviteCredentials(64 * self.timers.t1 + 200.0)

    def _count(self, name: str) -> None:
        self.counters[name] = self.counters.get(name, 0) + 1

    # ---------------------------------------------------------------- network side

    def datagram(self, data: bytes, source: Target, now: float) -> list[Action]:
        """One UDP datagram (keepalives already filtered out by the transport)."""
        try:
            message = self.wire.parse(data)  # a call actor relaying it reuses these bytes
        except SipParseError as err:
            return self.parse_error(err, source)
        return self.message(message, source, now)

    def parse_error(self, err: SipParseError, source: Target) -> list[Action]:
        self._count("parse_errors")
        answer = response_for_parse_error(err, to_tag=new_tag())
        if answer is None:
            return []
        self.log.info("sip.parse_error", source=f"{source.host}:{source.port}",
                      status=answer.status, error=str(err)[:200])
        return [Transmit(serialize(answer), source)]

    def message(self, message: Request | Response, source: Target, now: float) -> list[Action]:
        if isinstance(message, Request):
            self._count("requests")
            if message.method != "ACK":
                early = self._unroutable(message, source)
                if early is not None:
                    return early
                if self.force_rport and not source.reliable:
                    message = _symmetric(message, source)
        else:
            self._count("responses")
        return self._outputs(self.layer.receive(message, source, now), now)

    def _unroutable(self, request: Request, source: Target) -> list[Action] | None:
        """A stateless answer for a request whose transaction cannot even be keyed."""
        try:
            request.top_via  # noqa: B018 - parsing is the check
            request.cseq  # noqa: B018
        except SipParseError as err:
            if not all(n in request.headers for n in ("Via", "From", "To", "Call-ID", "CSeq")):
                return []
            self._count("rejected")
            answer = make_response(request, 400, to_tag=new_tag(),
                                   headers=[("Warning", f'399 - "{str(err)[:100]}"')])
            return [Transmit(serialize(answer), source)]
        return None

    # ---------------------------------------------------------------- transaction outputs

    def _outputs(self, outputs: list[Output], now: float) -> list[Action]:
        actions: list[Action] = []
        for out in outputs:
            if isinstance(out, SendMessage):
                actions.append(Transmit(out.data, out.target))
            elif isinstance(out, RequestReceived):
                actions.extend(self._request(out, now))
            elif isinstance(out, ResponseReceived):
                actions.extend(self._response(out.key, out.response, now))
            elif isinstance(out, StrayResponse):
                actions.extend(self._stray(out.response))
            elif isinstance(out, TransactionTimeout | TransportFailed):
                actions.extend(self._failed(out.key, out, now))
            elif isinstance(out, TransactionTerminated):
                self._invites.pop(out.key, None)
            elif isinstance(out, Discarded):
                self._count("discarded")
        return actions

    def _respond(self, key: str, response: Response, now: float) -> list[Action]:
        try:
            return self._outputs(self.layer.send_response(key, response, now), now)
        except TransactionError as exc:
            self.log.info("sip.response_dropped", tx=key, status=response.status,
                          reason=str(exc))
            return []

    def _answer(self, key: str, request: Request, status: int, now: float,
                headers: list[tuple[str, str]] | None = None, reason: str | None = None
                ) -> list[Action]:  # fmt: skip
        if status >= 300:
            self._count(f"answered_{status}")
        response = make_response(request, status, reason, to_tag=new_tag(),
                                 headers=headers or [])
        return self._respond(key, response, now)

    # ---------------------------------------------------------------- requests

    def _request(self, event: RequestReceived, now: float) -> list[Action]:
        request, key, source = event.request, event.key, event.source
        if request.method == "ACK":
            return self._ack(request, source)
        assert key is not None
        rejection = validate_request(request, POLICY)
        if rejection is not None:
            self._count(f"answered_{rejection.status}")
            self.log.info("sip.rejected", method=request.method, status=rejection.status,
                          detail=rejection.detail[:200])
            return self._respond(key, rejection_response(request, rejection, to_tag=new_tag()),
                                 now)
        if request.method == "CANCEL":
            return self._cancel(event, now)
        owner = parse_tag(request.to.tag)
        if request.to.tag is not None:
            if owner is None:
                return self._answer(key, request, 481, now)
            call_id, leg = owner
            return [Deliver(f"call/{call_id}", SipRequestIn(
                call_id=call_id, leg=leg, tx=key, request=self.wire.dump(request),
                peer=_peer(source)))]
        if request.method == "OPTIONS":
            return self._answer(key, request, 200, now, [
                ("Allow", ALLOW), ("Accept", "application/sdp"), ("Supported", "replaces")])
        if request.method == "REGISTER":
            response, changes = self.registrar.register(request, source, now, to_tag=new_tag())
            if response.status >= 300:
                self._count(f"answered_{response.status}")
            if response.status == 403:
                self.log.warning("sip.register_refused", to=str(request.to.uri),
                                 source=f"{source.host}:{source.port}", reason=response.reason)
            return [*self._respond(key, response, now), *(Persist(c) for c in changes)]
        if request.method == "INVITE":
            return self._new_call(request, key, source, now)
        # BYE, INFO, NOTIFY, UPDATE or REFER outside any dialog of ours
        return self._answer(key, request, 481, now)

    def _ack(self, ack: Request, source: Target) -> list[Action]:
        try:
            self._unacked.pop((ack.call_id, ack.cseq.seq), None)  # our 2xx got through
            owner = parse_tag(ack.to.tag)
        except SipParseError:
            return []
        if owner is None:
            return []
        call_id, leg = owner
        return [Deliver(f"call/{call_id}", SipRequestIn(
            call_id=call_id, leg=leg, tx=None, request=self.wire.dump(ack), peer=_peer(source)))]

    def _cancel(self, event: RequestReceived, now: float) -> list[Action]:
        assert event.key is not None
        if event.cancels is None:
            return self._answer(event.key, event.request, 481, now)
        actions = self._answer(event.key, event.request, 200, now)
        owner = self._invites.get(event.cancels)
        if owner is not None:
            call_id, leg = owner
            actions.append(Deliver(f"call/{call_id}", CancelReceived(
                call_id=call_id, leg=leg, tx=event.cancels)))
        return actions

    def _new_call(self, request: Request, key: str, source: Target, now: float) -> list[Action]:
        if request.max_forwards == 0:
            return self._answer(key, request, 483, now)
        trunk = trunk_for_source(self.config, source.host)
        origin: str
        if trunk is not None:
            origin = f"trunk:{trunk.name}"
        else:
            auth = self.digest.verify(request, now=now, ha1_lookup=self._ha1)
            if not auth.ok:
                return self._answer(key, request, auth.status, now, list(auth.headers))
            agent = agent_by_extension(self.config, auth.username or "")
            origin = f"agent:{agent.login}" if agent is not None else f"user:{auth.username}"
        decision = route_call(self.config, request, trunk)
        target = decision.target
        if target is None:
            agent = agent_by_extension(self.config, decision.dialled)
            target = f"agent:{agent.login}" if agent is not None else None
        if target is None:
            self.log.info("sip.no_route", dialled=decision.dialled, source=origin)
            return self._answer(key, request, 404, now)
        call_id = self.call_ids()
        self._invites[key] = (call_id, "a")
        self._count("calls")
        return [Deliver(f"call/{call_id}", InviteReceived(
            call_id=call_id, tx=key, request=self.wire.dump(request), peer=_peer(source),
            route=target, caller=decision.caller, dialled=decision.dialled, source=origin,
            out_trunk=decision.trunk or ""))]

    def _ha1(self, username: str, realm: str, algorithm: str) -> str | None:
        password = self._passwords.get(username)
        return None if password is None else compute_ha1(username, realm, password, algorithm)

    # ---------------------------------------------------------------- responses

    def _response(self, key: str, response: Response, now: float) -> list[Action]:
        if self.trunks.owns(key):
            return self._trunk(self.trunks.receive(key, response, now), now)
        binding = self._pings.pop(key, None)
        if binding is not None:
            return []  # any answer proves the contact is alive
        method = response.cseq.method
        if method == "CANCEL" or (response.status == 100 and method == "INVITE"):
            return []
        if response.is_success and method == "INVITE":
            cached = self._acks.get((response.call_id, response.cseq.seq, response.to.tag or ""))
            if cached is not None:  # a retransmission of a 2xx we ACKed (§13.2.2.4)
                return [Transmit(*cached)]
        owner = parse_branch(response.top_via.branch)
        if owner is None:
            return []
        call_id, leg = owner
        return [Deliver(f"call/{call_id}", SipResponseIn(
            call_id=call_id, leg=leg, tx=key, response=self.wire.dump(response)))]

    def _stray(self, response: Response) -> list[Action]:
        """A response no client transaction wants: a retransmitted or forked 2xx to INVITE."""
        try:
            if not response.is_success or response.cseq.method != "INVITE":
                return []
            cached = self._acks.get((response.call_id, response.cseq.seq, response.to.tag or ""))
            if cached is not None:
                return [Transmit(*cached)]
            owner = parse_branch(response.top_via.branch)
        except SipParseError:
            return []
        if owner is None:
            return []
        call_id, leg = owner
        return [Deliver(f"call/{call_id}", SipResponseIn(
            call_id=call_id, leg=leg, tx=client_key(response),
            response=self.wire.dump(response)))]

    def _failed(self, key: str, event: TransactionTimeout | TransportFailed,
                now: float) -> list[Action]:
        binding = self._pings.pop(key, None)
        if binding is not None:
            self.log.info("sip.contact_unreachable", aor=binding.aor, contact=binding.contact)
            return [Persist(c) for c in self.registrar.remove(binding.aor, binding.key)]
        if self.trunks.owns(key):
            reason = "timeout" if isinstance(event, TransactionTimeout) else "transport error"
            return self._trunk(self.trunks.failed(key, now, reason), now)
        branch, _, method = key.rpartition("|")
        owner = parse_branch(branch)
        if owner is None or "|" in branch:  # a server transaction (timer H): nothing to tell
            return []
        call_id, leg = owner
        kind: FailureKind = "timeout" if isinstance(event, TransactionTimeout) else "transport"
        return [Deliver(f"call/{call_id}", SipFailure(
            call_id=call_id, leg=leg, tx=key, kind=kind, method=method))]

    # ---------------------------------------------------------------- call actor side

    def from_call(self, sender: str, msg: Message, now: float) -> list[Action]:
        if isinstance(msg, SendRequest):
            return self._send_request(msg, now)
        if isinstance(msg, SendResponse):
            return self._send_response(msg, now)
        if isinstance(msg, Locate):
            bindings = self.registrar.locate(msg.aor, now)
            located = Located(call_id=msg.call_id, leg=msg.leg, aor=msg.aor,
                              contacts=tuple(b.as_contact() for b in bindings))
            return [Deliver(sender or f"call/{msg.call_id}", located)]
        self.log.warning("sip.port_unknown_message", tag=msg.TAG, sender=sender)
        return []

    def _next_hop(self, request: Request) -> Target:
        routes = request.routes
        peer_uri = routes[0].uri if routes else request.uri
        if not isinstance(peer_uri, SipUri):
            raise ValueError(f"cannot send to {peer_uri}: not a SIP URI")
        transport = (peer_uri.transport or "udp").upper()
        port = peer_uri.port or (5061 if transport == "TLS" else 5060)
        return Target(transport=transport, host=self.resolve(peer_uri.address), port=port)

    def _send_request(self, msg: SendRequest, now: float) -> list[Action]:
        request = self.wire.request(msg.request)
        target = _target(msg.peer) if msg.peer is not None else self._next_hop(request)
        target = Target(transport=target.transport, host=self.resolve(target.host),
                        port=target.port)
        if request.method == "ACK":
            request = self.credentials.apply(request)
            data = self.wire.dump(request)
            cache_key = (request.call_id, request.cseq.seq, request.to.tag or "")
            self._acks[cache_key] = (data, target)
            self._ack_expiry.append((now + 64 * self.timers.t1, cache_key))
            return [Transmit(data, target)]
        try:
            _key, outputs = self.layer.send_request(request, target, now)
        except TransactionError as exc:
            self.log.warning("sip.request_dropped", call_id=msg.call_id, reason=str(exc))
            return []
        if request.method == "INVITE":
            self.credentials.keep(request, now)
        return self._outputs(outputs, now)

    def _send_response(self, msg: SendResponse, now: float) -> list[Action]:
        response = self.wire.response(msg.response)
        actions = self._respond(msg.tx, response, now)
        if response.is_success and response.cseq.method == "INVITE" and actions:
            tx = self.layer.get(msg.tx)
            reliable = tx is not None and tx.target.reliable
            key = (response.call_id, response.cseq.seq)
            unacked = _Unacked(tx=msg.tx, call_id=msg.call_id, leg=msg.leg, reliable=reliable,
                               timer=Pending2xx.start(msg.response, now, self.timers.t1))
            self._unacked[key] = unacked
            self._unacked_arm(key, unacked)
        return actions

    def _unacked_arm(self, key: tuple[str, int], unacked: _Unacked) -> None:
        heapq.heappush(self._unacked_due,
                       (unacked.timer.next_timer(), next(self._unacked_n), key))

    def _unacked_next(self) -> float | None:
        """The earliest timer of our unacknowledged 2xx (dropping entries of ACKed ones)."""
        due = self._unacked_due
        while due:
            deadline, _n, key = due[0]
            unacked = self._unacked.get(key)
            if unacked is not None and unacked.timer.next_timer() == deadline:
                return deadline
            heapq.heappop(due)
        return None

    # ---------------------------------------------------------------- timers

    def next_timer(self) -> float | None:
        earliest = self.layer.next_timer() or None
        for due in (self._unacked_next(), self._ack_expiry[0][0] if self._ack_expiry else None,
                    self.registrar.next_timer(), self.trunks.next_timer(),
                    self.credentials.next_timer()):
            if due and (earliest is None or due < earliest):
                earliest = due
        return earliest

    def handle_timer(self, now: float) -> list[Action]:
        actions = self._outputs(self.layer.handle_timer(now), now)
        while self._ack_expiry and self._ack_expiry[0][0] <= now:
            _at, ack_key = self._ack_expiry.popleft()
            self._acks.pop(ack_key, None)
        self.credentials.expire(now)
        actions.extend(self._trunk(self.trunks.handle_timer(now), now))
        while (due := self._unacked_next()) is not None and due <= now:
            _at, _n, key = heapq.heappop(self._unacked_due)
            unacked = self._unacked[key]
            verdict = unacked.timer.handle_timer(now, self.timers.t2)
            if verdict == "give-up":
                del self._unacked[key]
                actions.append(Deliver(f"call/{unacked.call_id}", SipFailure(
                    call_id=unacked.call_id, leg=unacked.leg, tx=unacked.tx, kind="no_ack",
                    method="INVITE")))
                continue
            self._unacked_arm(key, unacked)
            if verdict == "retransmit" and not unacked.reliable:
                response = self.wire.response(unacked.timer.response)
                actions.extend(self._respond(unacked.tx, response, now))
        actions.extend(Persist(c) for c in self.registrar.expire(now))
        for binding in self.registrar.due_pings(now):
            actions.extend(self._ping(binding, now))
        return actions

    def _ping(self, binding: Binding, now: float) -> list[Action]:
        target = _target(binding.peer)
        port = self.tls_port if self.tls_port and target.transport == "TLS" else self.port
        via = make_via(target.transport, self.host, port, branch=new_branch())
        fields = [
            HeaderField("Via", str(via)), HeaderField("Max-Forwards", "70"),
            HeaderField("From", f"<sip:keepalive@{self.config.sip.domain}>;tag={new_tag()}"),
            HeaderField("To", f"<{binding.contact}>"), HeaderField("Call-ID", new_call_id()),
            HeaderField("CSeq", "1 OPTIONS"),
        ]  # fmt: skip
        request = Request(method="OPTIONS", uri=parse_uri(binding.contact),
                          headers=Headers(fields))
        key, outputs = self.layer.send_request(request, target, now)
        self._pings[key] = binding
        return self._outputs(outputs, now)

    # ---------------------------------------------------------------- trunk registrations

    def start_trunks(self, now: float) -> list[Action]:
        """Register every ``[[trunk]]`` with ``register = true`` (see telephony.trunks)."""
        return self._trunk(self.trunks.start(now), now)

    def stop_trunks(self, now: float) -> list[Action]:
        """Un-register them (``Expires: 0``); ``self.trunks.done`` once answered."""
        return self._trunk(self.trunks.stop(now), now)

    def _trunk(self, outputs: list[TrunkOutput], now: float) -> list[Action]:
        actions: list[Action] = []
        for out in outputs:
            if isinstance(out, SendRegister):
                target = Target(transport=out.target.transport,
                                host=self.resolve(out.target.host), port=out.target.port)
                try:
                    _key, sent = self.layer.send_request(out.request, target, now)
                except TransactionError as exc:
                    actions.extend(self._trunk(self.trunks.failed(out.key, now, str(exc)), now))
                    continue
                actions.extend(self._outputs(sent, now))
                continue
            log = self.log.warning if out.after == "failing" else self.log.info
            log("sip.trunk_registration", trunk=out.trunk, state=out.after, was=out.before,
                status=out.status, reason=out.reason, expires=out.expires or None,
                retry_in_s=out.retry_in)
        return actions


def _symmetric(request: Request, source: Target) -> Request:
    """Answer to the address and port the request came from, as if it had asked for rport.

    Phones behind NAT (and plenty that are not) name an unreachable port in Via; like
    ``force_rport`` in common proxies, every UDP request is treated as RFC 3581 §4 asks for
    one with ``rport``, so responses follow the path the request took. Both parameters are
    set here at once (the transaction layer then finds nothing left to annotate). A Via that
    leads back to the source already is left as it is: nothing would change where the
    responses go, and received is only due when sent-by names another host (§18.2.1)."""
    via = request.top_via
    if via.rport is not None:
        return request
    back = response_target(via, source)
    if back.host == source.host and back.port == source.port:
        return request
    via = via.with_param("rport", str(source.port)).with_param("received", source.host)
    return request.with_top_via(via)
