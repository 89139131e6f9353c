"""A trunk challenges the INVITE of our outgoing leg: the call actor answers once with the
trunk's credentials (RFC 3261 §22.2), or fails the leg as before when it cannot."""

from __future__ import annotations

from pathlib import Path

from actors.call.behaviour import CallBehaviour
from actors.call.legs import LocalSip
from actors.call.messages import CallEnded
from actors.call.trunk_auth import MAX_AUTH_TRIES, cnonce_for
from actors.call.turn import CallSettings
from conf.load import parse_config
from sip.digest import DigestServer, compute_ha1, parse_auth_header
from sip.message import Request
from sip.transaction_layer import client_key
from telephony.messages import CancelReceived, InviteReceived, Peer, SendRequest
from tests.actors.call.support import (
    ANNA_PHONE,
    CARRIER,
    SDP_CALLER,
    SDP_PHONE,
    Calls,
    as_request,
    request_text,
    statuses,
)

CONFIG = """
[sip]
listen = "127.0.0.1:5060"
domain = "127.0.0.1"
[[trunk]]
name = "provider"
host = "192.0.2.50"
port = 5080
username = "acct"
password = "s3cret"
country_code = "33"
[[trunk]]
name = "carrier"
host = "192.0.2.10"
allow = ["192.0.2.10"]
country_code = "33"
[[route]]
match = "_06XXXXXXXX"
target = "external:+33612345678"
[[route]]
match = "5000"
target = "agent:anna"
[[agent]]
login = "anna"
name = "Anna"
password = "a"
extension = "1001"
"""
CALL = "00000000000000c3"
PROVIDER = Peer(transport="UDP", host="192.0.2.50", port=5080)
REALM = "provider.example"


def calls() -> Calls:
    config = parse_config(CONFIG, source=Path("test.toml"))
    return Calls(behaviour=CallBehaviour(CallSettings(
        config=config, local=LocalSip(host="127.0.0.1", port=5060, domain="127.0.0.1"))))


def dial_out(c: Calls, trunk: str = "") -> Request:
    data = request_text("INVITE", call_id="c1@carrier", from_tag="ctag", body=SDP_CALLER)
    c.tell(CALL, InviteReceived(call_id=CALL, tx="tx-a", request=data, peer=CARRIER,
                                route="external:+33612345678", caller="+33140000001",
                                dialled="+33612345678", source="trunk:carrier",
                                out_trunk=trunk))
    return sent_invite(c)


def sent_invite(c: Calls) -> Request:
    invites = [(as_request(m.request), m.peer) for m in c.take(CALL)
               if isinstance(m, SendRequest) and m.request.startswith(b"INVITE")]
    assert len(invites) == 1, invites
    request, peer = invites[0]
    assert peer in (PROVIDER, Peer(transport="UDP", host="192.0.2.10", port=5060))
    return request


def challenge(nonce: str = "n1", *, stale: bool = False, realm: str = REALM,
              algorithm: str = "MD5") -> str:
    return (f'Digest realm="{realm}", nonce="{nonce}", algorithm={algorithm}, qop="auth"'
            + (", stale=true" if stale else ""))


def ha1(user: str, realm: str, algorithm: str) -> str | None:
    return compute_ha1(user, realm, "s3cret", algorithm) if user == "acct" else None


def test_a_407_is_answered_with_proxy_authorization_and_the_call_connects() -> None:
    c = calls()
    first = dial_out(c)
    assert first.uri.host == "192.0.2.50" and first.cseq.seq == 1  # type: ignore[union-attr]
    proxy = DigestServer(realm=REALM, secret=b"z" * 32, algorithms=("MD5",), proxy=True)
    verdict = proxy.verify(first, now=0.0, ha1_lookup=ha1)
    assert verdict.status == 407
    c.answer(CALL, "b", first, 407, headers=verdict.headers)
    second = sent_invite(c)
    # §22.2 / §8.1.3.5: same Call-ID, From tag, To and body; CSeq + 1; a new branch
    assert second.call_id == first.call_id and second.from_.tag == first.from_.tag
    assert str(second.to) == str(first.to) and second.to.tag is None
    assert second.cseq.seq == 2 and second.cseq.method == "INVITE"
    assert second.top_via.branch != first.top_via.branch and second.body == first.body
    assert str(second.uri) == str(first.uri)
    assert proxy.verify(second, now=0.0, ha1_lookup=ha1).ok
    _scheme, params = parse_auth_header(second.headers.get("Proxy-Authorization") or "")
    assert params["cnonce"] == cnonce_for(CALL, "b", 2) and params["nc"] == "00000001"
    assert c.state(CALL).legs["b"].tx == client_key(second)
    assert statuses(c.take(CALL)) == []  # the caller heard nothing of the challenge
    c.answer(CALL, "b", second, 180)
    assert statuses(c.take(CALL)) == [180]
    c.answer(CALL, "b", second, 200, body=SDP_PHONE)
    sent = c.take(CALL)
    assert statuses(sent) == [200]
    (ack,) = [as_request(m.request) for m in sent if isinstance(m, SendRequest)]
    assert ack.method == "ACK" and ack.cseq.seq == 2  # the ACK of the INVITE answered
    assert c.kinds(CALL) == ["call.created", "call.ringing", "call.answered"]


def test_a_401_gets_authorization_and_the_answer_is_the_same_each_time() -> None:
    results = []
    for _ in range(2):  # a pure decide: the same inputs give the same INVITE
        c = calls()
        first = dial_out(c)
        c.answer(CALL, "b", first, 401,
                 headers=[("WWW-Authenticate", challenge(algorithm="SHA-256")),
                          ("WWW-Authenticate", challenge("md5nonce"))])
        second = sent_invite(c)
        assert second.headers.get("Proxy-Authorization") is None
        results.append(second.headers.get("Authorization"))
    assert results[0] == results[1]
    _scheme, params = parse_auth_header(results[0] or "")
    assert params["algorithm"] == "SHA-256" and params["username"] == "acct"
    assert params["uri"] == "sip:+33612345678@192.0.2.50:5080"


def test_the_same_nonce_again_means_wrong_credentials_and_the_caller_gets_480() -> None:
    c = calls()
    first = dial_out(c)
    c.answer(CALL, "b", first, 407, headers=[("Proxy-Authenticate", challenge())])
    second = sent_invite(c)
    c.answer(CALL, "b", second, 407, headers=[("Proxy-Authenticate", challenge())])
    sent = c.take(CALL)
    assert statuses(sent) == [480]
    assert not any(isinstance(m, SendRequest) for m in sent)
    ended = c.journal[CALL][-1]
    assert isinstance(ended, CallEnded) and ended.status == 480 and ended.by_leg == "b"


def test_a_fresh_nonce_without_stale_is_also_a_refusal() -> None:
    c = calls()
    first = dial_out(c)
    c.answer(CALL, "b", first, 401, headers=[("WWW-Authenticate", challenge("a"))])
    second = sent_invite(c)
    c.answer(CALL, "b", second, 401, headers=[("WWW-Authenticate", challenge("b"))])
    assert statuses(c.take(CALL)) == [480]


def test_stale_nonces_are_answered_again_but_not_forever() -> None:
    c = calls()
    invite = dial_out(c)
    c.answer(CALL, "b", invite, 407, headers=[("Proxy-Authenticate", challenge("s0"))])
    for i in range(1, 10):
        invite = sent_invite(c)
        assert invite.cseq.seq == i + 1
        c.answer(CALL, "b", invite, 407,
                 headers=[("Proxy-Authenticate", challenge(f"s{i}", stale=True))])
        if c.state(CALL).phase in ("ending", "ended"):
            break
    assert invite.cseq.seq == MAX_AUTH_TRIES + 1  # 1 + MAX_AUTH_TRIES INVITEs sent, then 480
    assert statuses(c.take(CALL)) == [480]


def test_a_proxy_then_its_uas_both_get_credentials() -> None:
    c = calls()
    first = dial_out(c)
    c.answer(CALL, "b", first, 407, headers=[("Proxy-Authenticate", challenge("p1"))])
    second = sent_invite(c)
    c.answer(CALL, "b", second, 401,
             headers=[("WWW-Authenticate", challenge("u1", realm="uas.example"))])
    third = sent_invite(c)
    assert third.cseq.seq == 3
    assert 'realm="provider.example"' in (third.headers.get("Proxy-Authorization") or "")
    assert 'realm="uas.example"' in (third.headers.get("Authorization") or "")


def test_a_trunk_without_credentials_fails_as_before() -> None:
    c = calls()
    first = dial_out(c, trunk="carrier")
    c.answer(CALL, "b", first, 401, headers=[("WWW-Authenticate", challenge())])
    assert statuses(c.take(CALL)) == [480]


def test_a_phone_that_challenges_is_not_answered() -> None:
    c = calls()
    c.invite(CALL, route="agent:anna")
    invite = c.locate(CALL, "b", ANNA_PHONE)
    c.answer(CALL, "b", invite, 401, headers=[("WWW-Authenticate", challenge())])
    assert statuses(c.take(CALL)) == [480]


def test_a_challenge_after_the_caller_cancelled_is_not_answered() -> None:
    c = calls()
    first = dial_out(c)
    c.tell(CALL, CancelReceived(call_id=CALL, leg="a", tx="tx-a"))
    c.take(CALL)
    assert c.state(CALL).legs["b"].status == "cancelling"
    c.answer(CALL, "b", first, 407, headers=[("Proxy-Authenticate", challenge())])
    assert not any(isinstance(m, SendRequest) for m in c.take(CALL))
    assert c.state(CALL).phase == "ended"
