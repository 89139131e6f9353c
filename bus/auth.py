"""Client authentication and authorisation for the gateway. Pure: time and secrets injected.

Tokens are ``user.expiry.nonce.signature`` signed with HMAC-SHA256 under the center's secret,
so any gateway process (including a restarted one) can verify them without shared state.
Authorisation is declared on the message classes: ``CLIENT_ROLES`` lists who may send one.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass

from bus.message import Message

ROLES = frozenset({"operator", "supervisor", "technologist", "quality-manager", "admin"})
#: roles that may act on other agents' behalf (an operator may only act as itself)
MANAGERS = frozenset({"supervisor", "admin"})


class AuthError(PermissionError):
    """Login or token refused. ``code`` is stable for clients."""

    code = "auth.denied"


class BadToken(AuthError):
    code = "auth.bad_token"


class Forbidden(AuthError):
    code = "auth.forbidden"


@dataclass(frozen=True, slots=True, kw_only=True)
class User:
    name: str
    password: str
    roles: frozenset[str]


@dataclass(frozen=True, slots=True, kw_only=True)
class Session:
    user: str
    roles: frozenset[str]
    expires_at: float
    token: str

    @property
    def topic_prefix(self) -> str:
        # Unguessable: PUB subscribers without a valid session cannot subscribe to anything.
        return self.token.rsplit(".", 1)[1][:24]


class Authenticator:
    def __init__(self, users: Mapping[str, User], secret: bytes, ttl_s: float = 12 * 3600) -> None:
        if len(secret) < 16:
            raise ValueError("gateway secret must be at least 16 bytes")
        self.users = dict(users)
        self.secret = secret
        self.ttl_s = ttl_s

    def login(self, user: str, password: str, now: float, nonce: str) -> Session:
        known = self.users.get(user)
        # compare even for unknown users so timing does not reveal which logins exist
        expected = known.password if known is not None else "\x00" * 16
        if (not hmac.compare_digest(expected.encode(), password.encode()) or known is None
                or not known.password):
            raise AuthError(f"login refused for {user!r}: unknown user or wrong password")
        return self.issue(user, now, nonce)

    def issue(self, user: str, now: float, nonce: str) -> Session:
        """A session for ``user`` without a password: for holders of the secret only (the
        local ``contactor`` CLI reads it from the data dir, which only the owner can)."""
        known = self.users.get(user)
        if known is None:
            raise AuthError(f"no user {user!r}")
        expires = int(now + self.ttl_s)
        body = f"{user}.{expires}.{nonce}"
        return Session(
            user=user,
            roles=known.roles,
            expires_at=float(expires),
            token=f"{body}.{self._sign(body)}",
        )

    def verify(self, token: str, now: float) -> Session:
        parts = token.split(".")
        if len(parts) != 4:
            raise BadToken("token is malformed: log in again")
        user, expires, nonce, sig = parts
        body = f"{user}.{expires}.{nonce}"
        if not hmac.compare_digest(sig, self._sign(body)):
            raise BadToken("token signature is invalid: log in again")
        if not expires.isdigit() or float(expires) < now:
            raise BadToken("token has expired: log in again")
        known = self.users.get(user)
        if known is None:
            raise BadToken(f"user {user!r} no longer exists")
        return Session(user=user, roles=known.roles, expires_at=float(expires), token=token)

    def _sign(self, body: str) -> str:
        return hmac.new(self.secret, body.encode(), hashlib.sha256).hexdigest()


def authorize(session: Session, msg: Message, to: str) -> None:
    """Raise :class:`Forbidden` unless ``session`` may send ``msg`` to ``to``."""
    allowed: frozenset[str] = getattr(type(msg), "CLIENT_ROLES", frozenset())
    if not allowed:
        raise Forbidden(f"{msg.TAG} is not a client command")
    if not (session.roles & allowed) and "admin" not in session.roles:
        need = ", ".join(sorted(allowed))
        raise Forbidden(f"{session.user} may not send {msg.TAG}: needs role {need}")
    # A command that names who acts (``AcceptHelp.supervisor``) must name the sender itself.
    claimed = getattr(msg, "supervisor", None)
    if isinstance(claimed, str) and claimed != session.user and "admin" not in session.roles:
        raise Forbidden(f"{session.user} may not act as supervisor {claimed!r}")
    kind, _, ident = to.partition("/")
    if kind == "agent" and ident != session.user and not (session.roles & MANAGERS):
        raise Forbidden(f"{session.user} may act only as agent/{session.user}, not {to}")
