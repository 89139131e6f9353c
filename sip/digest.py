"""HTTP Digest authentication for SIP (RFC 3261 §22, RFC 2617, RFC 7616, RFC 8760).

The server is stateless: a nonce is ``timestamp || random || HMAC(secret)``,
so any process holding the secret can verify it, and an expired but
authentic nonce is answered with ``stale=true``. MD5 and SHA-256 with
``qop=auth`` are supported; replay protection via nonce-count is optional
(:class:`NonceCountTracker`).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import struct
from collections.abc import Callable
from dataclasses import dataclass

from sip.errors import DigestError, SipParseError
from sip.grammar import quote, read_quoted, read_token, skip_ws
from sip.message import Request
from sip.uri import parse_uri, uri_equal

_HASHES: dict[str, Callable[[bytes], str]] = {
    "MD5": lambda data: hashlib.md5(data, usedforsecurity=False).hexdigest(),
    "SHA-256": lambda data: hashlib.sha256(data).hexdigest(),
}
_NONCE_STRUCT = struct.Struct(">Q8s16s")

# Looks up HA1 = H(username ":" realm ":" password) for (username, realm, algorithm).
Ha1Lookup = Callable[[str, str, str], str | None]


def _h(algorithm: str, text: str) -> str:
    return _HASHES[algorithm](text.encode("utf-8"))


def compute_ha1(username: str, realm: str, password: str, algorithm: str = "MD5") -> str:
    return _h(algorithm, f"{username}:{realm}:{password}")


def compute_response(
    *, algorithm: str, ha1: str, nonce: str, method: str, uri: str,
    qop: str | None = None, nc: str | None = None, cnonce: str | None = None,
) -> str:  # fmt: skip
    ha2 = _h(algorithm, f"{method}:{uri}")
    if qop is None:  # RFC 2069 compatibility
        return _h(algorithm, f"{ha1}:{nonce}:{ha2}")
    return _h(algorithm, f"{ha1}:{nonce}:{nc}:{cnonce}:{qop}:{ha2}")


def parse_auth_header(value: str) -> tuple[str, dict[str, str]]:
    """Scheme and unquoted, lower-cased-name parameters of a credentials/challenge value."""
    try:
        scheme, pos = read_token(value, skip_ws(value, 0), "auth scheme")
        params: dict[str, str] = {}
        pos = skip_ws(value, pos)
        while pos < len(value):
            name, pos = read_token(value, pos, "auth parameter name")
            pos = skip_ws(value, pos)
            if pos >= len(value) or value[pos] != "=":
                raise DigestError(f"auth parameter {name!r} lacks '='")
            pos = skip_ws(value, pos + 1)
            if pos < len(value) and value[pos] == '"':
                param, pos = read_quoted(value, pos)
            else:
                param, pos = read_token(value, pos, f"value of {name}")
            params[name.lower()] = param
            pos = skip_ws(value, pos)
            if pos < len(value):
                if value[pos] != ",":
                    raise DigestError(f"expected ',' after auth parameter {name!r}")
                pos = skip_ws(value, pos + 1)
    except SipParseError as exc:
        raise DigestError(str(exc)) from exc
    return scheme, params


@dataclass(frozen=True, slots=True, kw_only=True)
class DigestChallenge:
    realm: str
    nonce: str
    algorithm: str = "MD5"
    qop: tuple[str, ...] = ("auth",)
    opaque: str | None = None
    stale: bool = False

    def __str__(self) -> str:
        parts = [f"realm={quote(self.realm)}", f"nonce={quote(self.nonce)}"]
        if self.opaque is not None:
            parts.append(f"opaque={quote(self.opaque)}")
        parts.append(f"algorithm={self.algorithm}")
        if self.qop:
            parts.append(f"qop={quote(','.join(self.qop))}")
        if self.stale:
            parts.append("stale=true")
        return "Digest " + ", ".join(parts)


def parse_challenge(value: str) -> DigestChallenge:
    scheme, params = parse_auth_header(value)
    if scheme.lower() != "digest":
        raise DigestError(f"not a Digest challenge: {scheme}")
    if "realm" not in params or "nonce" not in params:
        raise DigestError("Digest challenge lacks realm or nonce")
    qop = tuple(q.strip() for q in params.get("qop", "").split(",") if q.strip())
    return DigestChallenge(
        realm=params["realm"], nonce=params["nonce"],
        algorithm=params.get("algorithm", "MD5").upper(), qop=qop,
        opaque=params.get("opaque"), stale=params.get("stale", "").lower() == "true",
    )  # fmt: skip


def choose_challenge(values: list[str]) -> DigestChallenge | None:
    """The strongest supported challenge among ``values`` (RFC 8760: prefer SHA-256)."""
    usable: list[DigestChallenge] = []
    for value in values:
        try:
            challenge = parse_challenge(value)
        except DigestError:
            continue
        if challenge.algorithm in _HASHES and (not challenge.qop or "auth" in challenge.qop):
            usable.append(challenge)
    usable.sort(key=lambda c: c.algorithm != "SHA-256")
    return usable[0] if usable else None


def build_authorization(
    challenge: DigestChallenge, *, method: str, uri: str, username: str, password: str,
    cnonce: str | None = None, nc: int = 1,
) -> str:  # fmt: skip
    """The Authorization (or Proxy-Authorization) value answering ``challenge``."""
    ha1 = compute_ha1(username, challenge.realm, password, challenge.algorithm)
    parts = [
        f"username={quote(username)}", f"realm={quote(challenge.realm)}",
        f"nonce={quote(challenge.nonce)}", f"uri={quote(uri)}",
    ]  # fmt: skip
    if "auth" in challenge.qop:
        cnonce = cnonce or secrets.token_hex(8)
        nc_text = f"{nc:08x}"
        response = compute_response(
            algorithm=challenge.algorithm, ha1=ha1, nonce=challenge.nonce, method=method,
            uri=uri, qop="auth", nc=nc_text, cnonce=cnonce,
        )  # fmt: skip
        parts.extend(("qop=auth", f"nc={nc_text}", f"cnonce={quote(cnonce)}"))
    else:
        response = compute_response(
            algorithm=challenge.algorithm, ha1=ha1, nonce=challenge.nonce, method=method, uri=uri
        )
    parts.extend((f"response={quote(response)}", f"algorithm={challenge.algorithm}"))
    if challenge.opaque is not None:
        parts.append(f"opaque={quote(challenge.opaque)}")
    return "Digest " + ", ".join(parts)


class NonceCountTracker:
    """Optional replay guard: each nonce's nc must strictly increase.

    Owned by one server process; entries older than the nonce lifetime are
    pruned, so memory stays bounded by the request rate times the lifetime.
    """

    def __init__(self) -> None:
        self._seen: dict[str, tuple[int, float]] = {}

    def accept(self, nonce: str, nc: int, now: float, ttl: float) -> bool:
        if len(self._seen) > 1024:
            self._seen = {n: v for n, v in self._seen.items() if now - v[1] <= ttl}
        last = self._seen.get(nonce)
        if last is not None and nc <= last[0]:
            return False
        self._seen[nonce] = (nc, last[1] if last else now)
        return True


@dataclass(frozen=True, slots=True, kw_only=True)
class AuthResult:
    """Outcome of :meth:`DigestServer.verify`.

    When ``ok`` is False, answer with ``status`` adding ``headers`` (the
    challenges); ``reason`` says why, for logs.
    """

    ok: bool
    username: str | None = None
    status: int = 200
    stale: bool = False
    reason: str = ""
    headers: tuple[tuple[str, str], ...] = ()


class DigestServer:
    """Stateless digest challenger and verifier for one realm."""

    def __init__(
        self, *, realm: str, secret: bytes, nonce_ttl: float = 300.0,
        algorithms: tuple[str, ...] = ("SHA-256", "MD5"), proxy: bool = False,
    ) -> None:  # fmt: skip
        unknown = [a for a in algorithms if a not in _HASHES]
        if unknown or not algorithms:
            raise ValueError(f"unsupported digest algorithms {unknown}")
        if len(secret) < 16:
            raise ValueError("digest nonce secret must be at least 16 bytes")
        self.realm = realm
        self.nonce_ttl = nonce_ttl
        self.algorithms = algorithms
        self.proxy = proxy
        self._secret = secret

    def _mac(self, stamp: int, salt: bytes) -> bytes:
        data = struct.pack(">Q", stamp) + salt + self.realm.encode("utf-8")
        return hmac.new(self._secret, data, hashlib.sha256).digest()[:16]

    def make_nonce(self, now: float) -> str:
        stamp, salt = int(now), secrets.token_bytes(8)
        raw = _NONCE_STRUCT.pack(stamp, salt, self._mac(stamp, salt))
        return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")

    def nonce_age(self, nonce: str, now: float) -> float | None:
        """Seconds since ``nonce`` was issued, or None if we did not issue it."""
        try:
            raw = base64.urlsafe_b64decode(nonce + "=" * (-len(nonce) % 4))
            stamp, salt, mac = _NONCE_STRUCT.unpack(raw)
        except (ValueError, struct.error):
            return None
        if not hmac.compare_digest(mac, self._mac(stamp, salt)):
            return None
        return now - float(stamp)

    def challenge(self, now: float, *, stale: bool = False, reason: str = "") -> AuthResult:
        name = "Proxy-Authenticate" if self.proxy else "WWW-Authenticate"
        nonce = self.make_nonce(now)
        headers = tuple(
            (name, str(DigestChallenge(realm=self.realm, nonce=nonce, algorithm=alg, stale=stale)))
            for alg in self.algorithms
        )
        status = 407 if self.proxy else 401
        return AuthResult(ok=False, status=status, stale=stale, reason=reason, headers=headers)

    def _credentials(self, request: Request) -> dict[str, str] | None:
        name = "Proxy-Authorization" if self.proxy else "Authorization"
        for value in request.headers.get_all(name):
            try:
                scheme, params = parse_auth_header(value)
            except DigestError:
                continue
            if scheme.lower() == "digest" and params.get("realm") == self.realm:
                return params
        return None

    def verify(
        self, request: Request, *, now: float, ha1_lookup: Ha1Lookup,
        replay_guard: NonceCountTracker | None = None,
    ) -> AuthResult:  # fmt: skip
        creds = self._credentials(request)
        if creds is None:
            return self.challenge(now, reason="no Digest credentials for this realm")
        missing = [k for k in ("username", "nonce", "uri", "response") if k not in creds]
        algorithm = creds.get("algorithm", "MD5").upper()
        qop = creds.get("qop")
        if missing or algorithm not in self.algorithms or qop not in (None, "auth"):
            return self.challenge(now, reason=f"unusable credentials (missing {missing})")
        if qop and ("nc" not in creds or "cnonce" not in creds):
            return self.challenge(now, reason="qop=auth without nc/cnonce")
        if not self._uri_matches(creds["uri"], request):
            return AuthResult(ok=False, status=400, reason="digest uri differs from Request-URI")
        age = self.nonce_age(creds["nonce"], now)
        if age is None:
            return self.challenge(now, reason="nonce not issued by us")
        ha1 = ha1_lookup(creds["username"], self.realm, algorithm)
        expected = None if ha1 is None else compute_response(
            algorithm=algorithm, ha1=ha1, nonce=creds["nonce"], method=request.method,
            uri=creds["uri"], qop=qop, nc=creds.get("nc"), cnonce=creds.get("cnonce"),
        )  # fmt: skip
        if expected is None or not hmac.compare_digest(expected, creds["response"].lower()):
            return self.challenge(now, reason="wrong credentials")
        if age > self.nonce_ttl or age < -60:
            return self.challenge(now, stale=True, reason="nonce expired")
        if replay_guard is not None and qop:
            try:
                nc = int(creds["nc"], 16)
            except ValueError:
                return self.challenge(now, reason="malformed nc")
            if not replay_guard.accept(creds["nonce"], nc, now, self.nonce_ttl):
                return self.challenge(now, reason="nonce-count replayed")
        return AuthResult(ok=True, username=creds["username"])

    @staticmethod
    def _uri_matches(digest_uri: str, request: Request) -> bool:
        if digest_uri == str(request.uri):
            return True
        try:
            return uri_equal(parse_uri(digest_uri), request.uri)
        except SipParseError:
            return False
