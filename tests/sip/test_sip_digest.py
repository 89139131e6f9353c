"""Digest authentication: RFC vectors, stateless nonces, stale, replay."""

from __future__ import annotations

import pytest

from sip.digest import (
    DigestServer,
    NonceCountTracker,
    build_authorization,
    choose_challenge,
    compute_ha1,
    compute_response,
    parse_auth_header,
    parse_challenge,
)
from sip.errors import DigestError
from sip.headers import Headers
from sip.message import Request
from sip.uri import parse_uri

SECRET = b"0123456789abcdef0123456789abcdef"
PASSWORDS = {"alice": "wonderland"}


def lookup(username: str, realm: str, algorithm: str) -> str | None:
    password = PASSWORDS.get(username)
    return None if password is None else compute_ha1(username, realm, password, algorithm)


def register(authorization: tuple[str, str] | None = None) -> Request:
    fields = [
        ("Via", "SIP/2.0/UDP 10.0.0.1;branch=z9hG4bKr1"),
        ("From", "<sip:alice@cc.example>;tag=1"),
        ("To", "<sip:alice@cc.example>"),
        ("Call-ID", "reg-1"),
        ("CSeq", "2 REGISTER"),
    ]
    if authorization:
        fields.append(authorization)
    return Request(method="REGISTER", uri=parse_uri("sip:cc.example"), headers=Headers(fields))


def answer(server: DigestServer, now: float, *, password: str = "wonderland", index: int = 0,
           nc: int = 1, uri: str = "sip:cc.example") -> Request:  # fmt: skip
    challenge = parse_challenge(server.challenge(now).headers[index][1])
    value = build_authorization(challenge, method="REGISTER", uri=uri, username="alice",
                                password=password, cnonce="c0ffee", nc=nc)  # fmt: skip
    name = "Proxy-Authorization" if server.proxy else "Authorization"
    return register((name, value))


def test_rfc2617_md5_vector() -> None:
    ha1 = compute_ha1("Mufasa", "testrealm@host.com", "Circle Of Life", "MD5")
    response = compute_response(
        algorithm="MD5", ha1=ha1, nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", method="GET",
        uri="/dir/index.html", qop="auth", nc="00000001", cnonce="0a4f113b",
    )  # fmt: skip
    assert response == "6629fae49393a05397450978507c4ef1"


@pytest.mark.parametrize(
    ("algorithm", "expected"),
    [
        ("MD5", "8ca523f5e9506fed4657c9700eebdbec"),
        ("SHA-256", "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"),
    ],
)
def test_rfc7616_vectors(algorithm: str, expected: str) -> None:
    ha1 = compute_ha1("Mufasa", "http-auth@example.org", "Circle of Life", algorithm)
    response = compute_response(
        algorithm=algorithm, ha1=ha1, nonce="7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v",
        method="GET", uri="/dir/index.html", qop="auth", nc="00000001",
        cnonce="f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ",
    )  # fmt: skip
    assert response == expected


def test_challenge_offers_sha256_then_md5() -> None:
    result = DigestServer(realm="cc.example", secret=SECRET).challenge(100.0)
    assert result.status == 401 and not result.ok
    names = {name for name, _ in result.headers}
    assert names == {"WWW-Authenticate"}
    challenges = [parse_challenge(v) for _, v in result.headers]
    assert [c.algorithm for c in challenges] == ["SHA-256", "MD5"]
    assert all(c.qop == ("auth",) and c.realm == "cc.example" for c in challenges)
    best = choose_challenge([v for _, v in reversed(result.headers)] + ["Basic realm=x"])
    assert best is not None and best.algorithm == "SHA-256"


@pytest.mark.parametrize("index", [0, 1])
def test_client_answer_verifies_for_both_algorithms(index: int) -> None:
    server = DigestServer(realm="cc.example", secret=SECRET)
    result = server.verify(answer(server, 100.0, index=index), now=110.0, ha1_lookup=lookup)
    assert result.ok and result.username == "alice"


def test_any_server_with_the_secret_verifies_the_nonce() -> None:
    issuing = DigestServer(realm="cc.example", secret=SECRET)
    other_process = DigestServer(realm="cc.example", secret=SECRET)
    assert other_process.verify(answer(issuing, 100.0), now=101.0, ha1_lookup=lookup).ok
    stranger = DigestServer(realm="cc.example", secret=b"x" * 32)
    rejected = stranger.verify(answer(issuing, 100.0), now=101.0, ha1_lookup=lookup)
    assert not rejected.ok and rejected.status == 401 and not rejected.stale


def test_wrong_password_unknown_user_and_missing_credentials() -> None:
    server = DigestServer(realm="cc.example", secret=SECRET)
    wrong = server.verify(answer(server, 100.0, password="nope"), now=101.0, ha1_lookup=lookup)
    assert not wrong.ok and wrong.status == 401 and not wrong.stale and wrong.headers
    unknown = server.verify(answer(server, 100.0), now=101.0, ha1_lookup=lambda *_: None)
    assert not unknown.ok and unknown.status == 401
    missing = server.verify(register(), now=101.0, ha1_lookup=lookup)
    assert not missing.ok and missing.reason.startswith("no Digest")
    other_scheme = register(("Authorization", "Basic YWxpY2U6d29uZGVybGFuZA=="))
    assert server.verify(other_scheme, now=101.0, ha1_lookup=lookup).status == 401


def test_expired_nonce_with_correct_digest_is_stale() -> None:
    server = DigestServer(realm="cc.example", secret=SECRET, nonce_ttl=60.0)
    stale = server.verify(answer(server, 100.0), now=200.0, ha1_lookup=lookup)
    assert not stale.ok and stale.stale and "stale=true" in stale.headers[0][1]
    wrong_and_old = server.verify(answer(server, 100.0, password="x"), now=200.0, ha1_lookup=lookup)
    assert not wrong_and_old.stale


def test_tampered_nonce_and_uri_mismatch() -> None:
    server = DigestServer(realm="cc.example", secret=SECRET)
    request = answer(server, 100.0)
    value = request.headers.get("Authorization") or ""
    scheme, params = parse_auth_header(value)
    forged = value.replace(params["nonce"], params["nonce"][:-2] + "AA")
    assert not server.verify(register(("Authorization", forged)), now=101.0, ha1_lookup=lookup).ok
    mismatch = server.verify(answer(server, 100.0, uri="sip:other.example"), now=101.0,
                             ha1_lookup=lookup)  # fmt: skip
    assert mismatch.status == 400
    assert scheme == "Digest" and params["username"] == "alice"


def test_nonce_count_replay_guard() -> None:
    server = DigestServer(realm="cc.example", secret=SECRET)
    guard = NonceCountTracker()
    challenge = parse_challenge(server.challenge(100.0).headers[0][1])

    def with_nc(nc: int) -> Request:
        value = build_authorization(challenge, method="REGISTER", uri="sip:cc.example",
                                    username="alice", password="wonderland", nc=nc)  # fmt: skip
        return register(("Authorization", value))

    assert server.verify(with_nc(1), now=101.0, ha1_lookup=lookup, replay_guard=guard).ok
    replay = server.verify(with_nc(1), now=102.0, ha1_lookup=lookup, replay_guard=guard)
    assert not replay.ok and replay.reason == "nonce-count replayed"
    assert server.verify(with_nc(2), now=103.0, ha1_lookup=lookup, replay_guard=guard).ok


def test_proxy_mode_uses_407_and_proxy_headers() -> None:
    server = DigestServer(realm="cc.example", secret=SECRET, proxy=True)
    challenge = server.challenge(100.0)
    assert challenge.status == 407 and challenge.headers[0][0] == "Proxy-Authenticate"
    assert server.verify(answer(server, 100.0), now=101.0, ha1_lookup=lookup).ok


@pytest.mark.parametrize(
    "value", ["", "Digest realm", 'Digest realm="x" nonce="y"', "Digest realm=,", '"quoted"']
)
def test_malformed_auth_headers(value: str) -> None:
    with pytest.raises(DigestError):
        parse_auth_header(value)


def test_server_rejects_weak_configuration() -> None:
    with pytest.raises(ValueError):
        DigestServer(realm="r", secret=b"short")
    with pytest.raises(ValueError):
        DigestServer(realm="r", secret=SECRET, algorithms=("SHA-1",))
