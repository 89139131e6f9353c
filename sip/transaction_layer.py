"""The transaction layer: matching (§17.1.3, §17.2.3), timers, and the table interpreter.

Sans-IO: the transport calls :meth:`TransactionLayer.receive` with each parsed
message and its source, the TU calls :meth:`send_request` /
:meth:`send_response`, and everyone calls :meth:`handle_timer` when
:meth:`next_timer` comes due. Every call returns a list of outputs:
:class:`SendMessage` for the transport, the rest for the TU.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sip.builders import build_ack_for_non2xx, make_response
from sip.errors import SipParseError, TransactionError
from sip.fields import Via
from sip.message import Request, Response
from sip.serializer import serialize
from sip.transaction import (
    LINGERING,
    LIVE_TIMERS,
    TABLES,
    Action,
    Kind,
    State,
    Target,
    TimerConfig,
    Transaction,
)


@dataclass(frozen=True, slots=True, kw_only=True)
class SendMessage:
    """Transport: send ``data`` to ``target`` (over the source connection if reliable)."""

    data: bytes
    target: Target
    key: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class RequestReceived:
    """TU: a new request, or an ACK for a 2xx (``key`` None if no transaction matched).

    ``cancels`` is the key of the INVITE server transaction a CANCEL matches.
    """

    key: str | None
    request: Request
    source: Target
    cancels: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ResponseReceived:
    key: str
    response: Response


@dataclass(frozen=True, slots=True, kw_only=True)
class StrayResponse:
    """A response matching no client transaction (e.g. a late 2xx retransmission)."""

    response: Response
    source: Target


@dataclass(frozen=True, slots=True, kw_only=True)
class TransactionTimeout:
    """Timer B/F (no final response: act as 408) or H (ACK never came)."""

    key: str
    timer: str


@dataclass(frozen=True, slots=True, kw_only=True)
class TransportFailed:
    key: str


@dataclass(frozen=True, slots=True, kw_only=True)
class TransactionTerminated:
    key: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Discarded:
    """A received message that could not be matched or used; ``reason`` says why."""

    reason: str


Output = (
    SendMessage | RequestReceived | ResponseReceived | StrayResponse | TransactionTimeout
    | TransportFailed | TransactionTerminated | Discarded
)  # fmt: skip


def response_event(status: int) -> str:
    return "1xx" if status < 200 else "2xx" if status < 300 else "failure"


_RFC2543_KEY = "2543|"  # the prefix of server keys not made from an RFC 3261 branch


def client_key(message: Request | Response) -> str:
    """§17.1.3: branch of the top Via plus the CSeq method."""
    return f"{message.top_via.branch}|{message.cseq.method}"


def server_key(request: Request) -> str:
    """§17.2.3 key; ACK and CANCEL map onto the INVITE they refer to only via lookups."""
    via = request.top_via
    method = "INVITE" if request.method == "ACK" else request.method
    if via.is_rfc3261_branch:
        return f"{via.branch}|{via.sent_by.lower()}|{method}"
    # RFC 2543 fallback: Request-URI, From tag, Call-ID, CSeq number, top Via.
    return (
        f"{_RFC2543_KEY}{request.uri}|{request.from_.tag}|{request.call_id}|"
        f"{request.cseq.seq}|{via}|{method}"
    )


def transaction_key(message: Request | Response) -> str:
    """Server-side key of a request, client-side key of a response."""
    return server_key(message) if isinstance(message, Request) else client_key(message)


def annotate_via(via: Via, source: Target) -> Via:
    """Add received/rport to a request's top Via (§18.2.1, RFC 3581 §4)."""
    host = via.host[1:-1] if via.host.startswith("[") else via.host
    if via.rport_requested and via.rport is None:
        return via.with_param("received", source.host).with_param("rport", str(source.port))
    if host != source.host:
        return via.with_param("received", source.host)
    return via


def response_target(via: Via, source: Target) -> Target:
    """Where responses to a request with (annotated) top ``via`` go (§18.2.2, RFC 3581)."""
    if source.reliable:
        return source
    default_port = 5061 if via.transport == "TLS" else 5060
    if via.maddr:
        return Target(transport=source.transport, host=via.maddr, port=via.port or default_port)
    host = via.received or (via.host[1:-1] if via.host.startswith("[") else via.host)
    port = via.rport or via.port or default_port
    return Target(transport=source.transport, host=host, port=port)


_TIMER_OF_ACTION = {
    Action.START_A: "A", Action.DOUBLE_A: "A", Action.START_B: "B", Action.START_D: "D",
    Action.START_E: "E", Action.BACKOFF_E: "E", Action.E_AT_T2: "E", Action.START_F: "F",
    Action.START_K: "K", Action.START_M: "M", Action.START_G: "G", Action.BACKOFF_G: "G",
    Action.START_H: "H", Action.START_I: "I", Action.START_J: "J", Action.START_L: "L",
}  # fmt: skip


class TransactionLayer:
    """All transactions of one SIP endpoint, keyed as §17 prescribes."""

    def __init__(self, config: TimerConfig | None = None, *, auto_trying: bool = True,
                 serialize: Callable[[Request | Response], bytes] = serialize) -> None:
        """``serialize`` turns the messages it sends into bytes; a TU that has the bytes of
        its messages already (see ``telephony.wire``) passes a function that reuses them."""
        self.config = config or TimerConfig()
        self.auto_trying = auto_trying
        self.serialize = serialize
        self._transactions: dict[str, Transaction] = {}
        self._heap: list[tuple[float, int, str, str]] = []
        self._seq = itertools.count()
        self._sources: dict[str, Target] = {}

    def __len__(self) -> int:
        return len(self._transactions)

    def get(self, key: str) -> Transaction | None:
        return self._transactions.get(key)

    # TU interface

    def send_request(
        self, request: Request, target: Target, now: float
    ) -> tuple[str, list[Output]]:
        """Start a client transaction; returns its key and the first outputs."""
        if request.method == "ACK":
            raise TransactionError("ACK is not sent through a client transaction")
        if not request.top_via.is_rfc3261_branch:
            raise TransactionError("client requests need an RFC 3261 branch (z9hG4bK...)")
        key = client_key(request)
        if key in self._transactions:
            raise TransactionError(f"client transaction {key} already exists")
        kind = Kind.INVITE_CLIENT if request.method == "INVITE" else Kind.NON_INVITE_CLIENT
        state = State.CALLING if kind is Kind.INVITE_CLIENT else State.TRYING
        tx = Transaction(key=key, kind=kind, state=state, request=request, target=target)
        self._transactions[key] = tx
        return key, self._step(tx, "send", now)

    def send_response(self, key: str, response: Response, now: float) -> list[Output]:
        """Send a TU response through server transaction ``key``."""
        tx = self._transactions.get(key)
        if tx is None or tx.is_client:
            raise TransactionError(f"no server transaction {key}")
        event = "tu-" + response_event(response.status)
        if (tx.state, event) not in TABLES[tx.kind]:
            raise TransactionError(f"cannot send {response.status} in state {tx.state}")
        return self._step(tx, event, now, response)

    def transport_error(self, key: str, now: float) -> list[Output]:
        tx = self._transactions.get(key)
        return [] if tx is None else self._step(tx, "transport-error", now)

    @staticmethod
    def send_stateless(message: Request | Response, target: Target) -> SendMessage:
        """For what bypasses transactions: ACK for 2xx, stateless error responses."""
        return SendMessage(data=serialize(message), target=target)

    # Transport interface

    def receive(self, message: Request | Response, source: Target, now: float) -> list[Output]:
        try:
            if isinstance(message, Response):
                return self._receive_response(message, source, now)
            return self._receive_request(message, source, now)
        except SipParseError as exc:
            return [Discarded(reason=str(exc))]

    def _receive_response(self, response: Response, source: Target, now: float) -> list[Output]:
        if len(response.vias) != 1:
            # §18.1.2: more than one Via means it was not meant for this UA.
            return [Discarded(reason="response with more than one Via")]
        tx = self._transactions.get(client_key(response))
        if tx is None:
            return [StrayResponse(response=response, source=source)]
        return self._step(tx, response_event(response.status), now, response)

    def _receive_request(self, request: Request, source: Target, now: float) -> list[Output]:
        via = annotate_via(request.top_via, source)
        if via != request.top_via:
            request = request.with_top_via(via)
        key = server_key(request)
        tx = self._transactions.get(key)
        if request.method == "ACK":
            if tx is not None and tx.kind is Kind.INVITE_SERVER and self._ack_matches(tx, request):
                return self._step(tx, "ack", now, request)
            return [RequestReceived(key=None, request=request, source=source)]
        if tx is not None:
            return self._step(tx, "request", now, request)
        kind = Kind.INVITE_SERVER if request.method == "INVITE" else Kind.NON_INVITE_SERVER
        state = State.PROCEEDING if kind is Kind.INVITE_SERVER else State.TRYING
        tx = Transaction(
            key=key, kind=kind, state=state, request=request, target=response_target(via, source)
        )
        self._transactions[key] = tx
        self._sources[key] = source
        return self._step(tx, "create", now, request)

    @staticmethod
    def _ack_matches(tx: Transaction, ack: Request) -> bool:
        if not tx.key.startswith(_RFC2543_KEY) or tx.last_response is None:
            return True  # an RFC 3261 branch keyed the transaction (see server_key)
        # RFC 2543 ACKs also match on the To tag of the response sent (§17.2.3).
        return ack.to.tag == tx.last_response.to.tag

    def _cancelled_invite(self, cancel: Request) -> str | None:
        invite_key = server_key(cancel).rsplit("|", 1)[0] + "|INVITE"
        tx = self._transactions.get(invite_key)
        if tx is not None and tx.kind is Kind.INVITE_SERVER and tx.state is State.PROCEEDING:
            return invite_key
        return None

    # Timers

    def next_timer(self) -> float | None:
        while self._heap:
            deadline, _, key, name = self._heap[0]
            tx = self._transactions.get(key)
            if tx is not None and tx.timers.get(name) == deadline:
                return deadline
            heapq.heappop(self._heap)
        return None

    def handle_timer(self, now: float) -> list[Output]:
        out: list[Output] = []
        while (deadline := self.next_timer()) is not None and deadline <= now:
            _, _, key, name = heapq.heappop(self._heap)
            tx = self._transactions[key]
            del tx.timers[name]
            out.extend(self._step(tx, f"timer-{name}", now))
        return out

    def _set_timer(self, tx: Transaction, name: str, delay: float, now: float) -> None:
        deadline = now + delay
        tx.timers[name] = deadline
        heapq.heappush(self._heap, (deadline, next(self._seq), tx.key, name))

    # Interpreter

    def _step(
        self, tx: Transaction, event: str, now: float, message: Request | Response | None = None
    ) -> list[Output]:
        transition = TABLES[tx.kind].get((tx.state, event))
        if transition is None:
            return []
        tx.state = transition.next_state
        live = LIVE_TIMERS[tx.kind].get(tx.state, frozenset())
        for name in [n for n in tx.timers if n not in live]:
            del tx.timers[name]
        out: list[Output] = []
        immediate: list[str] = []
        for action in transition.actions:
            self._apply(action, tx, event, now, message, out, immediate)
        if tx.state is State.TERMINATED:
            self._transactions.pop(tx.key, None)
            self._sources.pop(tx.key, None)
            out.append(TransactionTerminated(key=tx.key))
            return out
        for name in immediate:  # zero-length timers on reliable transports
            if tx.key in self._transactions and tx.timers.pop(name, None) is not None:
                out.extend(self._step(tx, f"timer-{name}", now))
        if tx.state in LINGERING[tx.kind] and not tx.key.startswith(_RFC2543_KEY):
            tx.release(self.serialize)  # RFC 2543 ACKs are matched on the response's To tag
        return out

    def _send(self, tx: Transaction, message: Request | Response) -> SendMessage:
        return SendMessage(data=self.serialize(message), target=tx.target, key=tx.key)

    def _apply(
        self, action: Action, tx: Transaction, event: str, now: float,
        message: Request | Response | None, out: list[Output], immediate: list[str],
    ) -> None:  # fmt: skip
        if action in _TIMER_OF_ACTION:  # about half of all actions: tested first
            self._apply_timer(action, tx, now, immediate)
        elif action is Action.SEND_REQUEST:
            out.append(self._send(tx, tx.request))
        elif action is Action.SEND_ACK:
            assert isinstance(message, Response)
            tx.ack = build_ack_for_non2xx(tx.request, message)
            out.append(self._send(tx, tx.ack))
        elif action is Action.RESEND_ACK:
            data = tx.ack_data(self.serialize)
            if data is not None:
                out.append(SendMessage(data=data, target=tx.target, key=tx.key))
        elif action is Action.SEND_TRYING:
            if self.auto_trying:
                tx.last_response = make_response(tx.request, 100)
                out.append(self._send(tx, tx.last_response))
        elif action is Action.SEND_RESPONSE:
            assert isinstance(message, Response)
            tx.last_response = message
            out.append(self._send(tx, message))
        elif action is Action.RESEND_RESPONSE:
            data = tx.last_response_data(self.serialize)
            if data is not None:
                out.append(SendMessage(data=data, target=tx.target, key=tx.key))
        elif action is Action.PASS_REQUEST:
            assert isinstance(message, Request)
            source = self._sources.get(tx.key, tx.target)
            cancels = self._cancelled_invite(message) if message.method == "CANCEL" else None
            out.append(RequestReceived(key=tx.key, request=message, source=source, cancels=cancels))
        elif action is Action.PASS_RESPONSE:
            assert isinstance(message, Response)
            out.append(ResponseReceived(key=tx.key, response=message))
        elif action is Action.NOTIFY_TIMEOUT:
            out.append(TransactionTimeout(key=tx.key, timer=event.removeprefix("timer-")))
        elif action is Action.NOTIFY_TRANSPORT_ERROR:
            out.append(TransportFailed(key=tx.key))
        else:
            raise AssertionError(f"no interpretation for {action}")

    def _apply_timer(
        self, action: Action, tx: Transaction, now: float, immediate: list[str]
    ) -> None:
        cfg = self.config
        unreliable = not tx.target.reliable
        name = _TIMER_OF_ACTION[action]
        if action in (Action.START_A, Action.START_E, Action.START_G):
            if not unreliable:
                return  # retransmission timers run only over UDP
            tx.interval = cfg.t1
            delay = cfg.t1
        elif action is Action.DOUBLE_A:
            tx.interval *= 2
            delay = tx.interval
        elif action in (Action.BACKOFF_E, Action.BACKOFF_G):
            tx.interval = min(tx.interval * 2, cfg.t2)
            delay = tx.interval
        elif action is Action.E_AT_T2:
            tx.interval = delay = cfg.t2
        elif action is Action.START_D:
            delay = cfg.d if unreliable else 0.0
        elif action in (Action.START_K, Action.START_I):
            delay = cfg.t4 if unreliable else 0.0
        elif action is Action.START_J:
            delay = 64 * cfg.t1 if unreliable else 0.0
        else:  # B, F, H, L, M
            delay = 64 * cfg.t1
        if delay == 0.0:
            tx.timers[name] = now
            immediate.append(name)
        else:
            self._set_timer(tx, name, delay, now)

    # Persistence

    def to_dict(self) -> dict[str, Any]:
        return {
            "transactions": [tx.to_dict() for tx in self._transactions.values()],
            "sources": {k: t.to_dict() for k, t in self._sources.items()},
        }

    @classmethod
    def from_dict(
        cls, data: dict[str, Any], config: TimerConfig | None = None, *, auto_trying: bool = True,
        serialize: Callable[[Request | Response], bytes] = serialize,
    ) -> TransactionLayer:
        layer = cls(config, auto_trying=auto_trying, serialize=serialize)
        for item in data["transactions"]:
            tx = Transaction.from_dict(item)
            layer._transactions[tx.key] = tx
            for name, deadline in tx.timers.items():
                heapq.heappush(layer._heap, (deadline, next(layer._seq), tx.key, name))
        layer._sources = {k: Target.from_dict(v) for k, v in data.get("sources", {}).items()}
        return layer
