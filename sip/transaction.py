"""RFC 3261 §17 transaction state machines as transition tables (with RFC 6026).

Four machines: INVITE client (timers A, B, D, M), non-INVITE client (E, F, K),
INVITE server (G, H, I, L) and non-INVITE server (J). RFC 6026's Accepted
state replaces "Terminated on 2xx", so 2xx retransmissions and the ACK for
2xx reach the TU through the transaction. A row maps (state, event) to the
next state and the actions to run; events with no row are absorbed. The
interpreter lives in :mod:`sip.transaction_layer`.

A :class:`Transaction` is plain data: ``to_dict()`` yields only str, int,
float, bytes, None, lists and dicts (msgpack-ready) and ``from_dict`` restores it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from sip.message import Request, Response
from sip.parser import parse_datagram
from sip.serializer import serialize


class Kind(StrEnum):
    INVITE_CLIENT = "invite-client"
    NON_INVITE_CLIENT = "non-invite-client"
    INVITE_SERVER = "invite-server"
    NON_INVITE_SERVER = "non-invite-server"


class State(StrEnum):
    CALLING = "calling"
    TRYING = "trying"
    PROCEEDING = "proceeding"
    COMPLETED = "completed"
    CONFIRMED = "confirmed"
    ACCEPTED = "accepted"
    TERMINATED = "terminated"


class Action(StrEnum):
    SEND_REQUEST = "send-request"
    SEND_ACK = "send-ack"
    RESEND_ACK = "resend-ack"
    SEND_TRYING = "send-trying"
    SEND_RESPONSE = "send-response"
    RESEND_RESPONSE = "resend-response"
    PASS_REQUEST = "pass-request"
    PASS_RESPONSE = "pass-response"
    NOTIFY_TIMEOUT = "notify-timeout"
    NOTIFY_TRANSPORT_ERROR = "notify-transport-error"
    START_A = "start-A"
    DOUBLE_A = "double-A"
    START_B = "start-B"
    START_D = "start-D"
    START_E = "start-E"
    BACKOFF_E = "backoff-E"
    E_AT_T2 = "E-at-T2"
    START_F = "start-F"
    START_K = "start-K"
    START_M = "start-M"
    START_G = "start-G"
    BACKOFF_G = "backoff-G"
    START_H = "start-H"
    START_I = "start-I"
    START_J = "start-J"
    START_L = "start-L"


@dataclass(frozen=True, slots=True)
class Transition:
    next_state: State
    actions: tuple[Action, ...] = ()


# Events: "send" (client start), "create" (server start), "1xx", "2xx",
# "failure" (300-699) for responses received or sent by the TU ("tu-" prefix),
# "request" (retransmission), "ack", "timer-X", "transport-error".
Table = dict[tuple[State, str], Transition]
A, S = Action, State

INVITE_CLIENT: Table = {
    (S.CALLING, "send"): Transition(S.CALLING, (A.SEND_REQUEST, A.START_A, A.START_B)),
    (S.CALLING, "timer-A"): Transition(S.CALLING, (A.SEND_REQUEST, A.DOUBLE_A)),
    (S.CALLING, "timer-B"): Transition(S.TERMINATED, (A.NOTIFY_TIMEOUT,)),
    (S.CALLING, "1xx"): Transition(S.PROCEEDING, (A.PASS_RESPONSE,)),
    (S.CALLING, "2xx"): Transition(S.ACCEPTED, (A.PASS_RESPONSE, A.START_M)),
    (S.CALLING, "failure"): Transition(S.COMPLETED, (A.SEND_ACK, A.PASS_RESPONSE, A.START_D)),
    (S.CALLING, "transport-error"): Transition(S.TERMINATED, (A.NOTIFY_TRANSPORT_ERROR,)),
    (S.PROCEEDING, "1xx"): Transition(S.PROCEEDING, (A.PASS_RESPONSE,)),
    (S.PROCEEDING, "2xx"): Transition(S.ACCEPTED, (A.PASS_RESPONSE, A.START_M)),
    (S.PROCEEDING, "failure"): Transition(S.COMPLETED, (A.SEND_ACK, A.PASS_RESPONSE, A.START_D)),
    (S.PROCEEDING, "transport-error"): Transition(S.TERMINATED, (A.NOTIFY_TRANSPORT_ERROR,)),
    (S.COMPLETED, "failure"): Transition(S.COMPLETED, (A.RESEND_ACK,)),
    (S.COMPLETED, "timer-D"): Transition(S.TERMINATED),
    (S.COMPLETED, "transport-error"): Transition(S.TERMINATED, (A.NOTIFY_TRANSPORT_ERROR,)),
    (S.ACCEPTED, "2xx"): Transition(S.ACCEPTED, (A.PASS_RESPONSE,)),
    (S.ACCEPTED, "timer-M"): Transition(S.TERMINATED),
}

NON_INVITE_CLIENT: Table = {
    (S.TRYING, "send"): Transition(S.TRYING, (A.SEND_REQUEST, A.START_E, A.START_F)),
    (S.TRYING, "timer-E"): Transition(S.TRYING, (A.SEND_REQUEST, A.BACKOFF_E)),
    (S.TRYING, "timer-F"): Transition(S.TERMINATED, (A.NOTIFY_TIMEOUT,)),
    (S.TRYING, "1xx"): Transition(S.PROCEEDING, (A.PASS_RESPONSE,)),
    (S.TRYING, "2xx"): Transition(S.COMPLETED, (A.PASS_RESPONSE, A.START_K)),
    (S.TRYING, "failure"): Transition(S.COMPLETED, (A.PASS_RESPONSE, A.START_K)),
    (S.TRYING, "transport-error"): Transition(S.TERMINATED, (A.NOTIFY_TRANSPORT_ERROR,)),
    (S.PROCEEDING, "timer-E"): Transition(S.PROCEEDING, (A.SEND_REQUEST, A.E_AT_T2)),
    (S.PROCEEDING, "timer-F"): Transition(S.TERMINATED, (A.NOTIFY_TIMEOUT,)),
    (S.PROCEEDING, "1xx"): Transition(S.PROCEEDING, (A.PASS_RESPONSE,)),
    (S.PROCEEDING, "2xx"): Transition(S.COMPLETED, (A.PASS_RESPONSE, A.START_K)),
    (S.PROCEEDING, "failure"): Transition(S.COMPLETED, (A.PASS_RESPONSE, A.START_K)),
    (S.PROCEEDING, "transport-error"): Transition(S.TERMINATED, (A.NOTIFY_TRANSPORT_ERROR,)),
    (S.COMPLETED, "timer-K"): Transition(S.TERMINATED),
}

INVITE_SERVER: Table = {
    (S.PROCEEDING, "create"): Transition(S.PROCEEDING, (A.SEND_TRYING, A.PASS_REQUEST)),
    (S.PROCEEDING, "request"): Transition(S.PROCEEDING, (A.RESEND_RESPONSE,)),
    (S.PROCEEDING, "tu-1xx"): Transition(S.PROCEEDING, (A.SEND_RESPONSE,)),
    (S.PROCEEDING, "tu-2xx"): Transition(S.ACCEPTED, (A.SEND_RESPONSE, A.START_L)),
    (S.PROCEEDING, "tu-failure"): Transition(S.COMPLETED, (A.SEND_RESPONSE, A.START_G, A.START_H)),
    (S.PROCEEDING, "transport-error"): Transition(S.TERMINATED, (A.NOTIFY_TRANSPORT_ERROR,)),
    (S.COMPLETED, "request"): Transition(S.COMPLETED, (A.RESEND_RESPONSE,)),
    (S.COMPLETED, "timer-G"): Transition(S.COMPLETED, (A.RESEND_RESPONSE, A.BACKOFF_G)),
    (S.COMPLETED, "timer-H"): Transition(S.TERMINATED, (A.NOTIFY_TIMEOUT,)),
    (S.COMPLETED, "ack"): Transition(S.CONFIRMED, (A.START_I,)),
    (S.COMPLETED, "transport-error"): Transition(S.TERMINATED, (A.NOTIFY_TRANSPORT_ERROR,)),
    (S.CONFIRMED, "timer-I"): Transition(S.TERMINATED),
    (S.ACCEPTED, "ack"): Transition(S.ACCEPTED, (A.PASS_REQUEST,)),
    (S.ACCEPTED, "tu-2xx"): Transition(S.ACCEPTED, (A.SEND_RESPONSE,)),
    (S.ACCEPTED, "timer-L"): Transition(S.TERMINATED),
}

NON_INVITE_SERVER: Table = {
    (S.TRYING, "create"): Transition(S.TRYING, (A.PASS_REQUEST,)),
    (S.TRYING, "tu-1xx"): Transition(S.PROCEEDING, (A.SEND_RESPONSE,)),
    (S.TRYING, "tu-2xx"): Transition(S.COMPLETED, (A.SEND_RESPONSE, A.START_J)),
    (S.TRYING, "tu-failure"): Transition(S.COMPLETED, (A.SEND_RESPONSE, A.START_J)),
    (S.PROCEEDING, "request"): Transition(S.PROCEEDING, (A.RESEND_RESPONSE,)),
    (S.PROCEEDING, "tu-1xx"): Transition(S.PROCEEDING, (A.SEND_RESPONSE,)),
    (S.PROCEEDING, "tu-2xx"): Transition(S.COMPLETED, (A.SEND_RESPONSE, A.START_J)),
    (S.PROCEEDING, "tu-failure"): Transition(S.COMPLETED, (A.SEND_RESPONSE, A.START_J)),
    (S.PROCEEDING, "transport-error"): Transition(S.TERMINATED, (A.NOTIFY_TRANSPORT_ERROR,)),
    (S.COMPLETED, "request"): Transition(S.COMPLETED, (A.RESEND_RESPONSE,)),
    (S.COMPLETED, "timer-J"): Transition(S.TERMINATED),
    (S.COMPLETED, "transport-error"): Transition(S.TERMINATED, (A.NOTIFY_TRANSPORT_ERROR,)),
}

TABLES: dict[Kind, Table] = {
    Kind.INVITE_CLIENT: INVITE_CLIENT,
    Kind.NON_INVITE_CLIENT: NON_INVITE_CLIENT,
    Kind.INVITE_SERVER: INVITE_SERVER,
    Kind.NON_INVITE_SERVER: NON_INVITE_SERVER,
}

# Timers that may run in each state; entering a state cancels all others.
LIVE_TIMERS: dict[Kind, dict[State, frozenset[str]]] = {
    Kind.INVITE_CLIENT: {
        S.CALLING: frozenset("AB"), S.COMPLETED: frozenset("D"), S.ACCEPTED: frozenset("M"),
    },
    Kind.NON_INVITE_CLIENT: {
        S.TRYING: frozenset("EF"), S.PROCEEDING: frozenset("EF"), S.COMPLETED: frozenset("K"),
    },
    Kind.INVITE_SERVER: {
        S.COMPLETED: frozenset("GH"), S.CONFIRMED: frozenset("I"), S.ACCEPTED: frozenset("L"),
    },
    Kind.NON_INVITE_SERVER: {S.COMPLETED: frozenset("J")},
}  # fmt: skip

# States a transaction only lingers in, to absorb or answer retransmissions: what it resends
# there (a final response, the ACK of a 3xx-6xx) it has sent before, so bytes suffice.
LINGERING: dict[Kind, frozenset[State]] = {
    Kind.INVITE_CLIENT: frozenset({S.COMPLETED, S.ACCEPTED}),
    Kind.NON_INVITE_CLIENT: frozenset({S.COMPLETED}),
    Kind.INVITE_SERVER: frozenset({S.COMPLETED, S.CONFIRMED, S.ACCEPTED}),
    Kind.NON_INVITE_SERVER: frozenset({S.COMPLETED}),
}

RELIABLE_TRANSPORTS = frozenset({"TCP", "TLS", "SCTP", "WS", "WSS", "TLS-SCTP"})


@dataclass(frozen=True, slots=True, kw_only=True)
class TimerConfig:
    """RFC 3261 Table 4 values in seconds; ``d`` is Timer D for unreliable transports."""

    t1: float = 0.5
    t2: float = 4.0
    t4: float = 5.0
    d: float = 32.0


@dataclass(frozen=True, slots=True, kw_only=True)
class Target:
    """Where a message goes or came from: transport name, host (IPv6 bare), port."""

    transport: str
    host: str
    port: int

    @property
    def reliable(self) -> bool:
        return self.transport.upper() in RELIABLE_TRANSPORTS

    def to_dict(self) -> dict[str, Any]:
        return {"transport": self.transport, "host": self.host, "port": self.port}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Target:
        return cls(transport=data["transport"], host=data["host"], port=int(data["port"]))


def _bytes_or_none(message: Request | Response | None) -> bytes | None:
    return None if message is None else serialize(message)


def _parse_request(data: bytes) -> Request:
    message = parse_datagram(data)
    if not isinstance(message, Request):
        raise ValueError("stored transaction request is not a request")
    return message


def _parse_response(data: bytes | None) -> Response | None:
    if data is None:
        return None
    message = parse_datagram(data)
    if not isinstance(message, Response):
        raise ValueError("stored transaction response is not a response")
    return message


def _held_data(held: Request | Response | bytes | None,
               serialize: Callable[[Request | Response], bytes]) -> bytes | None:
    return held if held is None or isinstance(held, bytes) else serialize(held)


class Transaction:
    """One transaction's state. ``target`` is the next hop (client) or the
    response destination (server); ``timers`` maps timer letter to deadline.

    Once completed, a transaction lingers for up to 32 s (timers D, J, L, M) only to absorb or
    answer retransmissions: :meth:`release` then swaps its parsed messages for the bytes it
    sent, which is all a retransmission needs (a busy process holds tens of thousands of
    such transactions, and the collector would otherwise keep scanning their messages).
    ``request``, ``last_response`` and ``ack`` read as before, parsed again from those bytes.
    """

    __slots__ = ("_ack", "_last_response", "_request", "interval", "key", "kind", "state",
                 "target", "timers")

    def __init__(self, *, key: str, kind: Kind, state: State, request: Request, target: Target,
                 timers: dict[str, float] | None = None, interval: float = 0.0,
                 last_response: Response | None = None, ack: Request | None = None) -> None:
        self.key = key
        self.kind = kind
        self.state = state
        self._request: Request | bytes = request
        self.target = target
        self.timers: dict[str, float] = {} if timers is None else timers
        self.interval = interval
        self._last_response: Response | bytes | None = last_response
        self._ack: Request | bytes | None = ack

    @property
    def request(self) -> Request:
        held = self._request
        return held if isinstance(held, Request) else _parse_request(held)

    @request.setter
    def request(self, request: Request) -> None:
        self._request = request

    @property
    def last_response(self) -> Response | None:
        held = self._last_response
        return held if held is None or isinstance(held, Response) else _parse_response(held)

    @last_response.setter
    def last_response(self, response: Response | None) -> None:
        self._last_response = response

    @property
    def ack(self) -> Request | None:
        held = self._ack
        return held if held is None or isinstance(held, Request) else _parse_request(held)

    @ack.setter
    def ack(self, ack: Request | None) -> None:
        self._ack = ack

    def last_response_data(self, serialize: Callable[[Request | Response], bytes]
                           ) -> bytes | None:  # fmt: skip
        """The wire form of the last response, without parsing a released one."""
        return _held_data(self._last_response, serialize)

    def ack_data(self, serialize: Callable[[Request | Response], bytes]) -> bytes | None:
        """The wire form of the ACK (of a 3xx-6xx), without parsing a released one."""
        return _held_data(self._ack, serialize)

    def release(self, serialize: Callable[[Request | Response], bytes]) -> None:
        """Keep the messages as the bytes ``serialize`` gives (those the transaction sent)."""
        request = _held_data(self._request, serialize)
        assert request is not None
        self._request = request
        self._last_response = _held_data(self._last_response, serialize)
        self._ack = _held_data(self._ack, serialize)

    @property
    def released(self) -> bool:
        return isinstance(self._request, bytes)

    @property
    def is_client(self) -> bool:
        return self.kind in (Kind.INVITE_CLIENT, Kind.NON_INVITE_CLIENT)

    def _values(self) -> tuple[object, ...]:
        return (self.key, self.kind, self.state, self.request, self.target, self.timers,
                self.interval, self.last_response, self.ack)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Transaction):
            return NotImplemented
        return self._values() == other._values()

    __hash__ = None  # type: ignore[assignment]  # mutable

    def __repr__(self) -> str:
        return (f"Transaction(key={self.key!r}, kind={self.kind!r}, state={self.state!r}, "
                f"request={self.request!r}, target={self.target!r}, timers={self.timers!r}, "
                f"interval={self.interval!r}, last_response={self.last_response!r}, "
                f"ack={self.ack!r})")

    def to_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "kind": self.kind.value,
            "state": self.state.value,
            "request": serialize(self.request),
            "target": self.target.to_dict(),
            "timers": dict(self.timers),
            "interval": self.interval,
            "last_response": _bytes_or_none(self.last_response),
            "ack": _bytes_or_none(self.ack),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Transaction:
        ack = data.get("ack")
        return cls(
            key=data["key"],
            kind=Kind(data["kind"]),
            state=State(data["state"]),
            request=_parse_request(data["request"]),
            target=Target.from_dict(data["target"]),
            timers={str(k): float(v) for k, v in data["timers"].items()},
            interval=float(data["interval"]),
            last_response=_parse_response(data.get("last_response")),
            ack=None if ack is None else _parse_request(ack),
        )
