"""The simulated endpoints' sans-IO user agent, two of them wired back to back in memory."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from sim.wire import ua_events as ev
from sim.wire.calls import Call
from sim.wire.ua import UserAgent
from sip.builders import make_response, make_via
from sip.digest import DigestServer, compute_ha1
from sip.headers import Headers
from sip.message import Request, Response
from sip.offer_answer import build_answer
from sip.parser import parse_datagram
from sip.sdp import parse_sdp, serialize_sdp
from sip.serializer import serialize
from sip.transaction import Target
from sip.uri import parse_uri


class Wire:
    """Delivers every datagram at once; ``drop`` may swallow some."""

    def __init__(self, *agents: UserAgent) -> None:
        self.agents = {(a.host, a.port): a for a in agents}
        self.events: dict[int, list[ev.UaEvent]] = {a.port: [] for a in agents}
        self.drop: Callable[[bytes], bool] = lambda data: False
        self.sent: list[bytes] = []
        self.now = 0.0

    def target(self, agent: UserAgent) -> Target:
        return Target(transport="UDP", host=agent.host, port=agent.port)

    def run(self, agent: UserAgent, events: list[ev.UaEvent]) -> None:
        self.events[agent.port] += events
        for _ in range(100):
            moved = False
            for sender in self.agents.values():
                out, sender.outbox = sender.outbox, []
                for data, target in out:
                    moved = True
                    self.sent.append(data)
                    if self.drop(data):
                        continue
                    peer = self.agents[(target.host, target.port)]
                    source = Target(transport="UDP", host=sender.host, port=sender.port)
                    self.events[peer.port] += peer.receive(data, source, self.now)
            if not moved:
                return
        raise AssertionError("messages kept flowing")

    def tick(self, seconds: float) -> None:
        self.now += seconds
        for agent in self.agents.values():
            self.run(agent, agent.handle_timer(self.now))

    def take(self, agent: UserAgent) -> list[ev.UaEvent]:
        got, self.events[agent.port] = self.events[agent.port], []
        return got


def pair() -> tuple[Wire, UserAgent, UserAgent]:
    a = UserAgent(host="127.0.0.1", port=5071)
    b = UserAgent(host="127.0.0.1", port=5072)
    return Wire(a, b), a, b


def place(wire: Wire, a: UserAgent, b: UserAgent) -> tuple[Call, Call]:
    call, events = a.invite(user="+3311", number="5000", target=wire.target(b),
                            rtp_host="127.0.0.1", rtp_port=40000, now=wire.now)
    wire.run(a, events)
    [incoming] = wire.take(b)
    assert isinstance(incoming, ev.Incoming) and incoming.user == "5000"
    assert "+3311" in incoming.caller
    theirs = b.calls[incoming.call_id]
    theirs.rtp_port = 40002
    return call, theirs


def test_a_call_rings_is_answered_with_sdp_carries_info_digits_and_ends_with_bye() -> None:
    wire, a, b = pair()
    mine, theirs = place(wire, a, b)
    wire.run(b, b.ring(theirs, wire.now))
    assert wire.take(a) == [ev.Provisional(call_id=mine.call_id, status=180)]
    wire.run(b, b.answer(theirs, wire.now))
    assert ev.Answered(call_id=mine.call_id, status=200) in wire.take(a)
    assert mine.media is not None and mine.media.remote_port == 40002
    assert theirs.media is not None and theirs.media.remote_port == 40000
    assert mine.media.codec.name == "PCMU" and mine.media.telephone_event is not None
    assert theirs.pending_2xx is None  # our ACK reached it
    wire.run(a, a.info_digit(mine, "5", wire.now))
    assert wire.take(a) == [ev.InfoDone(call_id=mine.call_id, status=200)]
    info = next(parse_datagram(d) for d in wire.sent if d.startswith(b"INFO"))
    assert info.body == b"Signal=5\r\nDuration=100\r\n"
    assert info.content_type is not None and info.content_type.mime == "application/dtmf-relay"
    wire.run(b, b.bye(theirs, wire.now))
    assert wire.take(a) == [ev.Ended(call_id=mine.call_id, by="remote", how="bye")]
    assert mine.ended and theirs.ended


def test_a_cancel_before_any_provisional_waits_for_one() -> None:
    wire, a, b = pair()
    mine, theirs = place(wire, a, b)
    wire.run(a, a.cancel(mine, wire.now))  # only 100 Trying so far: the CANCEL waits
    assert not any(d.startswith(b"CANCEL") for d in wire.sent)
    wire.run(b, b.ring(theirs, wire.now))
    assert any(d.startswith(b"CANCEL") for d in wire.sent)
    assert ev.Ended(call_id=theirs.call_id, by="remote", how="cancel") in wire.take(b)
    assert wire.take(a)[-1] == ev.Failed(call_id=mine.call_id, status=487)
    assert any(d.startswith(b"ACK") for d in wire.sent)  # the 487 is ACKed (§17.1.1.3)


def test_an_answer_crossing_our_cancel_is_acked_and_ended_with_bye() -> None:
    wire, a, b = pair()
    mine, theirs = place(wire, a, b)
    wire.run(b, b.ring(theirs, wire.now))
    wire.drop = lambda data: data.startswith(b"CANCEL")
    wire.run(a, a.cancel(mine, wire.now))
    wire.drop = lambda data: False
    wire.run(b, b.answer(theirs, wire.now))
    assert ev.Ended(call_id=mine.call_id, by="local", how="bye") in wire.take(a)
    assert ev.Ended(call_id=theirs.call_id, by="remote", how="bye") in wire.take(b)


def test_an_offerless_invite_gets_our_offer_and_the_ack_brings_the_answer() -> None:
    _wire, a, b = pair()
    center = Target(transport="UDP", host=a.host, port=a.port)
    invite = Request(method="INVITE", uri=parse_uri("sip:3001@127.0.0.1:5072"), headers=Headers([
        ("Via", "SIP/2.0/UDP 127.0.0.1:5071;branch=z9hG4bKoffless1;rport"),
        ("From", "<sip:+3399@127.0.0.1>;tag=ctr1"), ("To", "<sip:3001@127.0.0.1>"),
        ("Call-ID", "offerless-1"), ("CSeq", "1 INVITE"), ("Max-Forwards", "70"),
        ("Contact", "<sip:center@127.0.0.1:5071>")]))  # fmt: skip
    events = b.receive(serialize(invite), center, 0.0)
    assert [type(e) for e in events] == [ev.Incoming]
    call = b.calls["offerless-1"]
    call.rtp_port = 41000
    b.answer(call, 0.0)
    ok = parse_datagram(next(d for d, _ in b.outbox if d.startswith(b"SIP/2.0 200")))
    offer = parse_sdp(ok.body)
    assert offer.media[0].port == 41000 and call.media is None
    answer = serialize_sdp(build_answer(offer, address="127.0.0.1", port=42000, session_id=7,
                                        session_version=1)[0])
    ack = Request(method="ACK", uri=parse_uri("sip:3001@127.0.0.1:5072"), headers=Headers([
        ("Via", "SIP/2.0/UDP 127.0.0.1:5071;branch=z9hG4bKoffless2"),
        ("From", "<sip:+3399@127.0.0.1>;tag=ctr1"), ("To", ok.headers.get("To") or ""),
        ("Call-ID", "offerless-1"), ("CSeq", "1 ACK"), ("Max-Forwards", "70"),
        ("Content-Type", "application/sdp")]), body=answer)  # fmt: skip
    assert b.receive(serialize(ack), center, 0.1) == [ev.MediaUpdated(call_id="offerless-1")]
    assert call.media is not None and call.media.remote_port == 42000
    assert call.pending_2xx is None


def test_a_reinvite_gets_an_answer_and_moves_the_media() -> None:
    wire, a, b = pair()
    mine, theirs = place(wire, a, b)
    wire.run(b, b.answer(theirs, wire.now))
    wire.take(a)
    theirs.rtp_port = 9  # the far end moves its media (a center joining an agent)
    assert theirs.dialog is not None
    request = theirs.dialog.create_request(
        "INVITE", via=make_via("UDP", b.host, b.port),
        body=theirs.make_offer(), content_type="application/sdp")
    events = a.receive(serialize(request), wire.target(b), wire.now)
    assert events == [ev.MediaUpdated(call_id=mine.call_id)]
    assert mine.media is not None and mine.media.remote_port == 9
    assert mine.media_is_placeholder
    ok = parse_datagram(a.outbox[-1][0])
    assert isinstance(ok, Response) and ok.status == 200
    assert parse_sdp(ok.body).media[0].port == 40000


def test_an_unacknowledged_2xx_is_retransmitted_then_the_call_is_given_up() -> None:
    wire, a, b = pair()
    _mine, theirs = place(wire, a, b)
    wire.drop = lambda data: data.startswith(b"ACK")
    wire.run(b, b.answer(theirs, wire.now))
    oks = sum(1 for d in wire.sent if d.startswith(b"SIP/2.0 200"))
    wire.tick(0.6)
    assert sum(1 for d in wire.sent if d.startswith(b"SIP/2.0 200")) == oks + 1
    assert sum(1 for d in wire.sent if d.startswith(b"ACK")) >= 2  # each 2xx ACKed again
    wire.drop = lambda data: data.startswith(b"ACK") or data.startswith(b"BYE")
    for _ in range(40):
        wire.tick(1.0)
    assert ev.Ended(call_id=theirs.call_id, by="local", how="bye") in wire.take(b)


def test_options_keepalives_are_answered() -> None:
    wire, a, b = pair()
    options = Request(method="OPTIONS", uri=parse_uri("sip:3001@127.0.0.1:5072"),
                      headers=Headers([("Via", "SIP/2.0/UDP 127.0.0.1:5071;branch=z9hG4bKopt1"),
                                       ("From", "<sip:keepalive@127.0.0.1>;tag=k1"),
                                       ("To", "<sip:3001@127.0.0.1:5072>"),
                                       ("Call-ID", "ka-1"), ("CSeq", "1 OPTIONS")]))  # fmt: skip
    assert b.receive(serialize(options), wire.target(a), 0.0) == []
    [(data, target)] = [o for o in b.outbox if not o[0].startswith(b"SIP/2.0 100")]
    assert data.startswith(b"SIP/2.0 200") and target.port == 5071


class Registrar:
    """A UserAgent-shaped registrar: digest with the SIP core's server side."""

    def __init__(self, password: str) -> None:
        self.host, self.port = "127.0.0.1", 5060
        self.outbox: list[tuple[bytes, Target]] = []
        self.digest = DigestServer(realm="sim", secret=b"0123456789abcdef0123")
        self.password = password
        self.contacts: list[str] = []

    def receive(self, data: bytes, source: Target, now: float) -> list[ev.UaEvent]:
        request = parse_datagram(data)
        assert isinstance(request, Request) and request.method == "REGISTER"
        auth = self.digest.verify(request, now=now, ha1_lookup=lambda user, realm, alg:
                                  compute_ha1(user, realm, self.password, alg))
        if auth.ok:
            self.contacts.append(request.headers.get("Contact") or "")
            reply = make_response(request, 200, to_tag="r1")
        else:
            reply = make_response(request, auth.status, to_tag="r1", headers=auth.headers)
        self.outbox.append((serialize(reply), source))
        return []

    def handle_timer(self, now: float) -> list[ev.UaEvent]:
        return []


@pytest.mark.parametrize(("password", "ok"), [("secret-1", True), ("wrong", False)])
def test_register_answers_the_digest_challenge(password: str, ok: bool) -> None:
    phone = UserAgent(host="127.0.0.1", port=5073)
    registrar = Registrar("secret-1")
    wire = Wire(phone, registrar)  # type: ignore[arg-type]
    target = Target(transport="UDP", host="127.0.0.1", port=5060)
    wire.run(phone, phone.register(user="3001", password=password, domain="127.0.0.1",
                                   registrar=target, expires=300, now=0.0))  # fmt: skip
    [registered] = wire.take(phone)
    assert registered == ev.Registered(user="3001", ok=ok, status=200 if ok else 401)
    assert registrar.contacts == (["<sip:3001@127.0.0.1:5073>"] if ok else [])
    cseqs = [parse_datagram(d).cseq.seq for d in wire.sent if d.startswith(b"REGISTER")]
    assert cseqs == sorted(set(cseqs))  # one Call-ID, CSeq counting up (§10.2)


def test_the_placeholder_answer_of_an_ivr_is_recognised() -> None:
    wire, a, b = pair()
    mine, theirs = place(wire, a, b)
    theirs.rtp_port = 9
    wire.run(b, b.answer(theirs, wire.now))
    assert mine.media_is_placeholder
    assert parse_sdp(mine.invite.body).media[0].port == 40000  # our offer: our RTP port
