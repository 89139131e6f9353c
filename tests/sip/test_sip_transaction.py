"""RFC 3261 §17 transactions (with RFC 6026 Accepted states), timers passed in."""

from __future__ import annotations

import msgpack
import pytest

from sip.builders import make_response, make_via
from sip.errors import TransactionError
from sip.fields import CSeq
from sip.headers import Headers
from sip.message import Request, Response
from sip.parser import parse_datagram
from sip.transaction import State, Target, TimerConfig
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
)
from sip.uri import parse_uri
from sip.validation import rejection_response, validate_request

UAS = Target(transport="UDP", host="192.0.2.20", port=5060)
UAC = Target(transport="UDP", host="192.0.2.7", port=40000)


def make_request(
    method: str = "INVITE",
    *,
    transport: str = "UDP",
    branch: str | None = "z9hG4bKtest1",
    rport: bool = True,
    seq: int = 1,
    to_tag: str | None = None,
) -> Request:
    via = make_via(transport, "10.0.0.1", 5060, branch=branch, rport=rport)
    if branch is None:
        via = via.__class__(transport=transport, host="10.0.0.1", port=5060)
    to = "<sip:bob@example.com>" + (f";tag={to_tag}" if to_tag else "")
    headers = Headers(
        [
            ("Via", str(via)),
            ("Max-Forwards", "70"),
            ("From", "<sip:alice@example.com>;tag=a1"),
            ("To", to),
            ("Call-ID", "call-1@10.0.0.1"),
            ("CSeq", str(CSeq(seq=seq, method="INVITE" if method == "ACK" else method))),
            ("Route", "<sip:proxy.example.com;lr>"),
            ("Contact", "<sip:alice@10.0.0.1>"),
        ]
    )
    if method == "ACK":
        headers = headers.replaced("CSeq", f"{seq} ACK")
    return Request(method=method, uri=parse_uri("sip:bob@example.com"), headers=headers)


def response_to(request: Request, status: int, to_tag: str | None = "b1") -> Response:
    return make_response(request, status, to_tag=to_tag)


def sent(outputs: list[Output]) -> list[Request | Response]:
    return [parse_datagram(o.data) for o in outputs if isinstance(o, SendMessage)]


def of_type(outputs: list[Output], kind: type) -> list[object]:
    return [o for o in outputs if isinstance(o, kind)]


def run_timers_until(layer: TransactionLayer, end: float) -> list[tuple[float, Output]]:
    fired: list[tuple[float, Output]] = []
    while (deadline := layer.next_timer()) is not None and deadline <= end:
        fired.extend((deadline, o) for o in layer.handle_timer(deadline))
    return fired


def test_invite_client_retransmits_with_timer_a_until_timer_b() -> None:
    layer = TransactionLayer()
    invite = make_request()
    key, out = layer.send_request(invite, UAS, now=0.0)
    assert [m.method for m in sent(out)] == ["INVITE"]  # type: ignore[union-attr]
    fired = run_timers_until(layer, 100.0)
    sends = [t for t, o in fired if isinstance(o, SendMessage)]
    assert sends == [0.5, 1.5, 3.5, 7.5, 15.5, 31.5]
    timeouts = [(t, o) for t, o in fired if isinstance(o, TransactionTimeout)]
    assert timeouts == [(32.0, TransactionTimeout(key=key, timer="B"))]
    assert isinstance(fired[-1][1], TransactionTerminated) and len(layer) == 0


def test_invite_client_failure_sends_ack_and_absorbs_retransmissions() -> None:
    layer = TransactionLayer()
    invite = make_request()
    key, _ = layer.send_request(invite, UAS, now=0.0)
    out = layer.receive(response_to(invite, 180), UAS, now=0.2)
    assert of_type(out, ResponseReceived) and layer.get(key).state is State.PROCEEDING  # type: ignore[union-attr]
    assert layer.next_timer() is None  # no retransmissions once a provisional arrived
    busy = response_to(invite, 486)
    out = layer.receive(busy, UAS, now=1.0)
    (ack,) = sent(out)
    assert isinstance(ack, Request) and ack.method == "ACK" and ack.uri == invite.uri
    assert (ack.cseq.seq, ack.cseq.method) == (1, "ACK") and ack.to.tag == "b1"
    assert ack.top_via.branch == invite.top_via.branch and ack.headers.get_all("Route") == [
        "<sip:proxy.example.com;lr>"
    ]
    assert [o.response.status for o in of_type(out, ResponseReceived)] == [486]  # type: ignore[attr-defined]
    again = layer.receive(busy, UAS, now=2.0)
    assert [m.method for m in sent(again)] == ["ACK"] and not of_type(again, ResponseReceived)  # type: ignore[union-attr]
    assert layer.next_timer() == 33.0  # Timer D = 32 s over UDP
    assert of_type(layer.handle_timer(33.0), TransactionTerminated)


def test_invite_client_accepted_state_passes_2xx_retransmissions() -> None:
    layer = TransactionLayer()
    invite = make_request()
    key, _ = layer.send_request(invite, UAS, now=0.0)
    ok = response_to(invite, 200)
    first = layer.receive(ok, UAS, now=0.1)
    assert of_type(first, ResponseReceived) and not sent(first)  # the TU ACKs 2xx
    assert layer.get(key).state is State.ACCEPTED  # type: ignore[union-attr]
    assert of_type(layer.receive(ok, UAS, now=0.6), ResponseReceived)
    assert of_type(layer.handle_timer(0.1 + 32.0), TransactionTerminated)
    (stray,) = layer.receive(ok, UAS, now=40.0)
    assert isinstance(stray, StrayResponse) and stray.response.status == 200


def test_reliable_transport_has_no_retransmissions_and_zero_timer_d() -> None:
    layer = TransactionLayer()
    invite = make_request(transport="TCP")
    tcp = Target(transport="TCP", host="192.0.2.20", port=5060)
    layer.send_request(invite, tcp, now=0.0)
    assert layer.next_timer() == 32.0  # only Timer B
    out = layer.receive(response_to(invite, 503), tcp, now=1.0)
    assert [type(o).__name__ for o in out] == [
        "SendMessage", "ResponseReceived", "TransactionTerminated",
    ]  # fmt: skip
    assert len(layer) == 0


def test_non_invite_client_timer_e_backoff_caps_at_t2_and_f_times_out() -> None:
    layer = TransactionLayer()
    options = make_request("OPTIONS")
    key, _ = layer.send_request(options, UAS, now=0.0)
    fired = run_timers_until(layer, 40.0)
    sends = [t for t, o in fired if isinstance(o, SendMessage)]
    assert sends[:6] == [0.5, 1.5, 3.5, 7.5, 11.5, 15.5]
    assert TransactionTimeout(key=key, timer="F") in [o for _, o in fired]


def test_non_invite_client_proceeding_retransmits_every_t2_then_completes() -> None:
    layer = TransactionLayer(TimerConfig(t1=0.5, t2=4.0, t4=5.0))
    bye = make_request("BYE", to_tag="b1")
    key, _ = layer.send_request(bye, UAS, now=0.0)
    layer.receive(response_to(bye, 100), UAS, now=0.1)
    fired = run_timers_until(layer, 9.0)
    assert [t for t, o in fired if isinstance(o, SendMessage)] == [0.5, 4.5, 8.5]
    out = layer.receive(response_to(bye, 200), UAS, now=9.0)
    assert of_type(out, ResponseReceived) and layer.next_timer() == 14.0  # Timer K = T4
    assert of_type(layer.handle_timer(14.0), TransactionTerminated) and layer.get(key) is None


def test_invite_server_trying_retransmission_and_failure_with_timer_g() -> None:
    layer = TransactionLayer()
    invite = make_request()
    out = layer.receive(invite, UAC, now=0.0)
    (trying,) = sent(out)
    assert isinstance(trying, Response) and trying.status == 100 and trying.to.tag is None
    (received,) = of_type(out, RequestReceived)
    assert isinstance(received, RequestReceived) and received.key is not None
    key = received.key
    retrans = layer.receive(invite, UAC, now=0.3)
    assert [m.status for m in sent(retrans)] == [100] and not of_type(retrans, RequestReceived)  # type: ignore[union-attr]
    layer.send_response(key, make_response(received.request, 180, to_tag="b1"), now=0.4)
    assert [m.status for m in sent(layer.receive(invite, UAC, now=0.5))] == [180]  # type: ignore[union-attr]
    out = layer.send_response(key, make_response(received.request, 486, to_tag="b1"), now=1.0)
    assert [m.status for m in sent(out)] == [486]  # type: ignore[union-attr]
    fired = run_timers_until(layer, 10.0)
    assert [t for t, o in fired if isinstance(o, SendMessage)] == [1.5, 2.5, 4.5, 8.5]
    ack = make_request("ACK", to_tag="b1")
    assert layer.receive(ack, UAC, now=10.0) == []  # absorbed, moves to Confirmed
    assert layer.get(key).state is State.CONFIRMED  # type: ignore[union-attr]
    assert layer.next_timer() == 15.0  # Timer I = T4
    assert of_type(layer.handle_timer(15.0), TransactionTerminated)


def test_invite_server_timer_h_reports_missing_ack() -> None:
    layer = TransactionLayer()
    (received,) = of_type(layer.receive(make_request(), UAC, now=0.0), RequestReceived)
    assert isinstance(received, RequestReceived) and received.key is not None
    layer.send_response(received.key, make_response(received.request, 480, to_tag="x"), now=0.0)
    fired = [o for _, o in run_timers_until(layer, 40.0)]
    assert TransactionTimeout(key=received.key, timer="H") in fired


def test_invite_server_accepted_passes_ack_and_2xx_retransmissions() -> None:
    layer = TransactionLayer(auto_trying=False)
    out = layer.receive(make_request(), UAC, now=0.0)
    assert not sent(out)
    (received,) = of_type(out, RequestReceived)
    assert isinstance(received, RequestReceived) and received.key is not None
    ok = make_response(received.request, 200, to_tag="b1")
    layer.send_response(received.key, ok, now=0.1)
    assert [m.status for m in sent(layer.send_response(received.key, ok, now=0.6))] == [200]  # type: ignore[union-attr]
    assert layer.receive(make_request(), UAC, now=0.7) == []  # retransmitted INVITE absorbed
    ack = make_request("ACK", to_tag="b1", branch="z9hG4bKack2")  # ACK for 2xx: new branch
    (stray_ack,) = layer.receive(ack, UAC, now=0.8)
    assert isinstance(stray_ack, RequestReceived) and stray_ack.key is None
    same_branch_ack = make_request("ACK", to_tag="b1")
    (passed,) = layer.receive(same_branch_ack, UAC, now=0.9)
    assert isinstance(passed, RequestReceived) and passed.key == received.key
    assert of_type(layer.handle_timer(0.1 + 32.0), TransactionTerminated)


def test_non_invite_server_absorbs_then_repeats_final_until_timer_j() -> None:
    layer = TransactionLayer()
    options = make_request("OPTIONS")
    (received,) = layer.receive(options, UAC, now=0.0)
    assert isinstance(received, RequestReceived) and received.key is not None
    assert layer.receive(options, UAC, now=0.1) == []
    ok = make_response(received.request, 200, to_tag="b1")
    layer.send_response(received.key, ok, now=0.2)
    assert [m.status for m in sent(layer.receive(options, UAC, now=0.3))] == [200]  # type: ignore[union-attr]
    with pytest.raises(TransactionError):
        layer.send_response(received.key, ok, now=0.4)
    assert layer.next_timer() == pytest.approx(32.2)
    assert of_type(layer.handle_timer(33.0), TransactionTerminated)
    with pytest.raises(TransactionError):
        layer.send_response(received.key, ok, now=34.0)


def test_cancel_matches_pending_invite() -> None:
    layer = TransactionLayer()
    (_, invite_rx) = layer.receive(make_request(), UAC, now=0.0)
    assert isinstance(invite_rx, RequestReceived)
    cancel = make_request("CANCEL")
    (cancel_rx,) = layer.receive(cancel, UAC, now=0.5)
    assert isinstance(cancel_rx, RequestReceived) and cancel_rx.cancels == invite_rx.key
    assert cancel_rx.key != invite_rx.key
    other = make_request("CANCEL", branch="z9hG4bKother")
    (unmatched,) = layer.receive(other, UAC, now=0.6)
    assert isinstance(unmatched, RequestReceived) and unmatched.cancels is None


def test_rport_and_received_decide_where_responses_go() -> None:
    layer = TransactionLayer()
    out = layer.receive(make_request("OPTIONS"), UAC, now=0.0)
    (rx,) = of_type(out, RequestReceived)
    assert isinstance(rx, RequestReceived)
    via = rx.request.top_via
    assert (via.received, via.rport) == ("192.0.2.7", 40000)
    assert rx.key is not None
    (send,) = layer.send_response(rx.key, make_response(rx.request, 200, to_tag="t"), now=0.1)
    assert isinstance(send, SendMessage) and send.target == UAC
    assert parse_datagram(send.data).top_via.rport == 40000
    plain = TransactionLayer()
    (rx2,) = plain.receive(make_request("OPTIONS", rport=False), UAC, now=0.0)
    assert isinstance(rx2, RequestReceived) and rx2.key is not None
    assert rx2.request.top_via.received == "192.0.2.7" and not rx2.request.top_via.rport_requested
    (send2,) = plain.send_response(rx2.key, make_response(rx2.request, 200, to_tag="t"), now=0.1)
    assert isinstance(send2, SendMessage)
    assert (send2.target.host, send2.target.port) == ("192.0.2.7", 5060)
    tcp_source = Target(transport="TCP", host="192.0.2.7", port=50123)
    (rx3,) = plain.receive(make_request("MESSAGE", transport="TCP"), tcp_source, now=0.0)
    assert isinstance(rx3, RequestReceived) and rx3.key is not None
    out3 = plain.send_response(rx3.key, make_response(rx3.request, 200, to_tag="t"), now=0.1)
    assert isinstance(out3[0], SendMessage) and out3[0].target == tcp_source
    assert isinstance(out3[-1], TransactionTerminated)  # Timer J is zero over TCP


def test_rfc2543_requests_match_without_branch() -> None:
    layer = TransactionLayer()
    invite = make_request(branch=None)
    assert invite.top_via.branch is None
    (_, rx) = layer.receive(invite, UAC, now=0.0)
    assert isinstance(rx, RequestReceived) and rx.key is not None and rx.key.startswith("2543|")
    assert [m.status for m in sent(layer.receive(invite, UAC, now=0.2))] == [100]  # type: ignore[union-attr]
    layer.send_response(rx.key, make_response(rx.request, 404, to_tag="nf"), now=0.3)
    wrong_tag_ack = make_request("ACK", branch=None, to_tag="other")
    assert of_type(layer.receive(wrong_tag_ack, UAC, now=0.4), RequestReceived)
    assert layer.get(rx.key).state is State.COMPLETED  # type: ignore[union-attr]
    assert layer.receive(make_request("ACK", branch=None, to_tag="nf"), UAC, now=0.5) == []
    assert layer.get(rx.key).state is State.CONFIRMED  # type: ignore[union-attr]


def test_transport_error_and_stray_messages() -> None:
    layer = TransactionLayer()
    invite = make_request()
    key, _ = layer.send_request(invite, UAS, now=0.0)
    out = layer.transport_error(key, now=0.1)
    assert out == [TransportFailed(key=key), TransactionTerminated(key=key)]
    two_vias = response_to(invite, 200)
    two_vias = two_vias.with_headers(two_vias.headers.appended("Via", "SIP/2.0/UDP x.example"))
    (discarded,) = layer.receive(two_vias, UAS, now=0.2)
    assert isinstance(discarded, Discarded)
    no_via = invite.with_headers(invite.headers.replaced("Via", "garbage"))
    (bad,) = layer.receive(no_via, UAC, now=0.3)
    assert isinstance(bad, Discarded) and "Via" in bad.reason
    # A usable Via is enough for a server transaction: the TU then answers 400 through it.
    broken = invite.with_headers(invite.headers.replaced("CSeq", "nonsense"))
    rx = of_type(layer.receive(broken, UAC, now=0.3), RequestReceived)[0]
    assert isinstance(rx, RequestReceived) and rx.key is not None
    rejection = validate_request(rx.request)
    assert rejection is not None and rejection.status == 400
    out = layer.send_response(rx.key, rejection_response(rx.request, rejection), now=0.3)
    assert [m.status for m in sent(out)] == [400]  # type: ignore[union-attr]
    with pytest.raises(TransactionError):
        layer.send_request(make_request("ACK"), UAS, now=0.4)
    with pytest.raises(TransactionError):
        layer.send_request(make_request(branch="1234"), UAS, now=0.4)


def test_state_persists_through_msgpack_and_keeps_running() -> None:
    layer = TransactionLayer()
    invite = make_request()
    key, _ = layer.send_request(invite, UAS, now=0.0)
    layer.handle_timer(0.5)  # one retransmission: next A at 1.5
    (_, server_rx) = layer.receive(make_request(branch="z9hG4bKsrv", seq=7), UAC, now=0.6)
    assert isinstance(server_rx, RequestReceived) and server_rx.key is not None
    layer.send_response(server_rx.key, make_response(server_rx.request, 603, to_tag="d"), now=0.7)
    blob = msgpack.packb(layer.to_dict(), use_bin_type=True)
    restored = TransactionLayer.from_dict(msgpack.unpackb(blob, raw=False))
    assert restored.next_timer() == layer.next_timer() == 1.2  # Timer G of the 603
    tx = restored.get(key)
    assert tx is not None and tx.state is State.CALLING and tx.interval == 1.0
    assert [t for t, o in run_timers_until(restored, 1.5) if isinstance(o, SendMessage)] == [
        1.2, 1.5,
    ]  # fmt: skip
    out = restored.receive(response_to(invite, 404), UAS, now=2.0)
    assert [m.method for m in sent(out)] == ["ACK"]  # type: ignore[union-attr]
