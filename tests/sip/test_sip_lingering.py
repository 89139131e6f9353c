"""Completed transactions linger on the bytes they sent, not on parsed messages.

A transaction in a state it only lingers in (§17: Completed, Confirmed; RFC 6026 Accepted)
keeps its messages as wire bytes. It must still answer every retransmission with exactly
what it sent before, pass the ACK of a 2xx to the TU, match RFC 2543 ACKs, persist, and read
its messages back as the bytes parse. The property test runs random event sequences through
two layers, one of which never releases, and demands identical outputs.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import msgpack
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sip.builders import make_response
from sip.message import Request, Response
from sip.parser import parse_datagram
from sip.serializer import serialize
from sip.transaction import LINGERING, Kind, State, Target, Transaction
from sip.transaction_layer import (
    Output,
    RequestReceived,
    SendMessage,
    TransactionLayer,
    response_event,
)
from tests.sip.test_sip_transaction import UAC, UAS, make_request, response_to

TCP_UAC = Target(transport="TCP", host="192.0.2.7", port=40001)


def wire(outputs: list[Output]) -> list[bytes]:
    return [o.data for o in outputs if isinstance(o, SendMessage)]


def server_invite(layer: TransactionLayer, *, branch: str | None = "z9hG4bKsrv1",
                  source: Target = UAC) -> tuple[str, Request]:
    out = layer.receive(make_request(branch=branch), source, now=0.0)
    rx = next(o for o in out if isinstance(o, RequestReceived))
    assert rx.key is not None
    return rx.key, rx.request


def test_an_accepted_invite_server_keeps_bytes_and_resends_the_2xx_as_sent() -> None:
    layer = TransactionLayer()
    key, invite = server_invite(layer)
    ok = make_response(invite, 200, to_tag="u1", body=b"v=0\r\n")
    first = wire(layer.send_response(key, ok, now=0.1))
    tx = layer.get(key)
    assert tx is not None and tx.state is State.ACCEPTED and tx.released
    again = wire(layer.send_response(key, ok, now=0.6))  # the TU's 2xx retransmission
    assert again == first
    ack = make_request("ACK", branch="z9hG4bKsrv1", to_tag="u1")
    (passed,) = layer.receive(ack, UAC, now=0.7)
    assert isinstance(passed, RequestReceived) and passed.key == key
    assert tx.last_response == parse_datagram(first[0])
    assert tx.request == parse_datagram(layer.serialize(invite))


def test_a_completed_bye_server_answers_a_retransmission_with_the_same_bytes() -> None:
    layer = TransactionLayer()
    bye = make_request("BYE", branch="z9hG4bKbye", to_tag="u1", seq=2)
    (rx,) = layer.receive(bye, UAC, now=0.0)
    assert isinstance(rx, RequestReceived) and rx.key is not None
    first = wire(layer.send_response(rx.key, response_to(rx.request, 200), now=0.1))
    tx = layer.get(rx.key)
    assert tx is not None and tx.state is State.COMPLETED and tx.released
    for at in (0.5, 1.5, 20.0):
        assert wire(layer.receive(bye, UAC, now=at)) == first
    assert layer.handle_timer(0.1 + 32.0) != [] and layer.get(rx.key) is None  # Timer J


def test_a_completed_invite_client_resends_its_ack_from_bytes() -> None:
    layer = TransactionLayer()
    invite = make_request(branch="z9hG4bKcli")
    key, _ = layer.send_request(invite, UAS, now=0.0)
    busy = response_to(invite, 486)
    first = wire(layer.receive(busy, UAS, now=0.2))
    tx = layer.get(key)
    assert tx is not None and tx.state is State.COMPLETED and tx.released
    assert [parse_datagram(d).method for d in first] == ["ACK"]  # type: ignore[union-attr]
    assert wire(layer.receive(busy, UAS, now=1.0)) == first
    assert tx.ack == parse_datagram(first[0])


def test_a_rejected_invite_server_retransmits_on_timer_g_until_the_ack() -> None:
    layer = TransactionLayer()
    key, invite = server_invite(layer)
    first = wire(layer.send_response(key, make_response(invite, 486, to_tag="u2"), now=0.0))
    tx = layer.get(key)
    assert tx is not None and tx.state is State.COMPLETED and tx.released
    assert wire(layer.handle_timer(0.5)) == first  # Timer G
    assert wire(layer.handle_timer(1.5)) == first
    layer.receive(make_request("ACK", branch="z9hG4bKsrv1", to_tag="u2"), UAC, now=1.6)
    assert layer.get(key) is tx and tx.released
    assert tx.state.value == "confirmed"


def test_rfc2543_transactions_keep_their_messages_and_match_acks_by_to_tag() -> None:
    layer = TransactionLayer()
    key, invite = server_invite(layer, branch=None)
    layer.send_response(key, make_response(invite, 486, to_tag="u3"), now=0.0)
    tx = layer.get(key)
    assert tx is not None and tx.state is State.COMPLETED and not tx.released
    wrong = make_request("ACK", branch=None, to_tag="other")
    assert isinstance(layer.receive(wrong, UAC, now=0.1)[0], RequestReceived)  # not ours
    assert tx.state is State.COMPLETED
    layer.receive(make_request("ACK", branch=None, to_tag="u3"), UAC, now=0.2)
    assert tx.state.value == "confirmed"


def test_released_transactions_persist_and_resend_after_restoring() -> None:
    layer = TransactionLayer()
    bye = make_request("BYE", branch="z9hG4bKbye2", to_tag="u1", seq=2)
    (rx,) = layer.receive(bye, UAC, now=0.0)
    assert isinstance(rx, RequestReceived) and rx.key is not None
    first = wire(layer.send_response(rx.key, response_to(rx.request, 200), now=0.1))
    blob = msgpack.packb(layer.to_dict(), use_bin_type=True)
    restored = TransactionLayer.from_dict(msgpack.unpackb(blob, raw=False))
    again = wire(restored.receive(bye, UAC, now=1.0))
    assert [parse_datagram(d) for d in again] == [parse_datagram(d) for d in first]
    assert restored.get(rx.key) == layer.get(rx.key)


def test_every_lingering_state_is_one_a_transaction_can_reach() -> None:
    from sip.transaction import TABLES

    for kind, states in LINGERING.items():
        reached = {row.next_state for row in TABLES[kind].values()}
        assert states <= reached, kind
        assert State.TERMINATED not in states


# ---------------------------------------------------------------- equivalence, Hypothesis

@contextmanager
def never_released() -> Iterator[None]:
    original = Transaction.release
    Transaction.release = lambda self, serialize: None  # type: ignore[method-assign]
    try:
        yield
    finally:
        Transaction.release = original  # type: ignore[method-assign]


_EVENTS = st.lists(st.tuples(
    st.sampled_from(["invite", "bye", "ack", "tu-1xx", "tu-2xx", "tu-486", "tu-bye-200",
                     "resp-180", "resp-200", "resp-486", "resp-bye", "timers"]),
    st.floats(min_value=0.0, max_value=40.0)), max_size=14)


def _run(events: list[tuple[str, float]], transport: Target) -> list[tuple[str, object]]:
    """Drive a server INVITE, a server BYE and a client INVITE and BYE through ``events``."""
    layer = TransactionLayer()
    log: list[tuple[str, object]] = []
    invite = make_request(branch="z9hG4bKs1")
    bye = make_request("BYE", branch="z9hG4bKs2", to_tag="u1", seq=2)
    out_invite = make_request(branch="z9hG4bKc1")
    out_bye = make_request("BYE", branch="z9hG4bKc2", to_tag="b1", seq=3)
    keys: dict[str, str] = {}
    now = 0.0
    client_key, first = layer.send_request(out_invite, UAS, now)
    bye_key, second = layer.send_request(out_bye, UAS, now)
    log.append(("start", [*wire(first), *wire(second)]))
    for name, step in events:
        now += step
        outs: list[Output] = []
        if name in ("invite", "bye", "ack"):
            msg = {"invite": invite, "bye": bye,
                   "ack": make_request("ACK", branch="z9hG4bKs1", to_tag="u1")}[name]
            outs = layer.receive(msg, transport, now)
            for o in outs:
                if isinstance(o, RequestReceived) and o.key is not None:
                    keys[o.request.method] = o.key
        elif name.startswith("tu-"):
            method = "BYE" if name == "tu-bye-200" else "INVITE"
            key = keys.get(method)
            status = {"tu-1xx": 180, "tu-2xx": 200, "tu-486": 486, "tu-bye-200": 200}[name]
            tx = None if key is None else layer.get(key)
            event = "tu-" + response_event(status)
            if key is not None and tx is not None and (tx.state, event) in _allowed(tx):
                request = invite if method == "INVITE" else bye
                outs = layer.send_response(key, make_response(request, status, to_tag="u1"),
                                           now)
        elif name.startswith("resp-"):
            response: Response = {"resp-180": response_to(out_invite, 180),
                                  "resp-200": response_to(out_invite, 200),
                                  "resp-486": response_to(out_invite, 486),
                                  "resp-bye": response_to(out_bye, 200)}[name]
            outs = layer.receive(response, UAS, now)
        else:
            outs = layer.handle_timer(now)
        log.append((name, [wire(outs), [type(o).__name__ for o in outs]]))
    # messages as their wire form: a released one reads back as its bytes parse, which for a
    # message built without Content-Length has that field (serialize writes it)
    states = {k: (tx.state, _wire_of(tx.request), _wire_of(tx.last_response), _wire_of(tx.ack),
                  dict(tx.timers))
              for k in (*keys.values(), client_key, bye_key) if (tx := layer.get(k))}
    log.append(("end", (states, layer.next_timer(), len(layer))))
    return log


def _wire_of(message: Request | Response | None) -> bytes | None:
    return None if message is None else serialize(message)


def _allowed(tx: Transaction) -> set[tuple[State, str]]:
    from sip.transaction import TABLES

    return set(TABLES[tx.kind])


@settings(max_examples=200, deadline=None)
@given(_EVENTS, st.sampled_from([UAC, TCP_UAC]))
def test_releasing_changes_no_output_and_no_state(events: list[tuple[str, float]],
                                                  transport: Target) -> None:
    released = _run(events, transport)
    with never_released():
        kept = _run(events, transport)
    assert released == kept


def test_the_property_sees_released_transactions() -> None:
    """The event mix above does reach lingering states (else the property proves nothing)."""
    layer = TransactionLayer()
    key, invite = server_invite(layer)
    layer.send_response(key, make_response(invite, 200, to_tag="u1"), now=0.1)
    tx = layer.get(key)
    assert tx is not None and tx.kind is Kind.INVITE_SERVER and tx.released
    with never_released():
        other = TransactionLayer()
        key2, invite2 = server_invite(other)
        other.send_response(key2, make_response(invite2, 200, to_tag="u1"), now=0.1)
        tx2 = other.get(key2)
        assert tx2 is not None and not tx2.released


@pytest.mark.parametrize("status", [200, 486])
def test_reading_a_released_message_parses_its_bytes(status: int) -> None:
    layer = TransactionLayer()
    key, invite = server_invite(layer)
    response = make_response(invite, status, to_tag="u1")
    (sent_bytes,) = wire(layer.send_response(key, response, now=0.1))
    tx = layer.get(key)
    assert tx is not None and tx.released
    assert tx.last_response is not None and tx.last_response.status == status
    assert tx.last_response_data(layer.serialize) == sent_bytes
    assert tx.request.call_id == invite.call_id and tx.request.top_via == invite.top_via
