"""The registrar and location service for agent phones (RFC 3261 §10.3), sans-IO.

A phone registers as ``sip:<extension>@<domain>`` and proves it with HTTP Digest (username
the agent's extension, password the agent's password). A wrong password with a nonce we
issued is refused with 403 (a definite no, so a misconfigured phone does not retry in a
loop); anything else without valid credentials is challenged with 401.

Each address of record keeps several contacts (a desk phone and a softphone), each with its
expiry, Call-ID and CSeq (§10.3 step 7). Registered contacts are pinged with OPTIONS every
``keepalive_s``; one that stops answering is dropped, so a binding is what can really ring.
Changes are reported as :class:`BindingsChanged` for the caller to persist.
"""

from __future__ import annotations

import heapq
import ipaddress
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from conf.schema import Config
from sip.builders import make_response
from sip.digest import DigestServer, compute_ha1, parse_auth_header
from sip.errors import SipParseError
from sip.fields import NameAddr
from sip.message import Request, Response
from sip.transaction import Target
from sip.uri import AbsoluteUri, SipUri, TelUri, Uri, parse_uri
from telephony.messages import Contact, Peer

#: the reason DigestServer gives for a response that does not match the password
WRONG_CREDENTIALS = "wrong credentials"
MAX_CONTACTS = 10


@dataclass(frozen=True, slots=True, kw_only=True)
class Binding:
    aor: str
    contact: str  # the Contact URI as registered
    expires_at: float
    call_id: str
    cseq: int
    q: float = 1.0
    peer: Peer  # where requests to this contact go
    registered_at: float
    user_agent: str = ""

    def as_contact(self) -> Contact:
        return Contact(uri=self.contact, peer=self.peer, q=self.q,
                       registered_at=self.registered_at)


@dataclass(frozen=True, slots=True, kw_only=True)
class BindingsChanged:
    """The complete current bindings of ``aor`` (empty: none left)."""

    aor: str
    bindings: tuple[Binding, ...]


def aor_key(uri: Uri | str) -> str:
    """The address of record of ``uri``: scheme, user and host, nothing else (§10.3 step 5)."""
    parsed = parse_uri(uri) if isinstance(uri, str) else uri
    if isinstance(parsed, SipUri):
        scheme = "sip" if parsed.scheme == "sips" else parsed.scheme
        return f"{scheme}:{parsed.user or ''}@{parsed.host.lower()}"
    if isinstance(parsed, TelUri):
        return f"tel:{parsed.digits}"
    assert isinstance(parsed, AbsoluteUri)
    return str(parsed)


def _private(host: str) -> bool:
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return address.is_private and not address.is_loopback


def contact_peer(contact: SipUri, source: Target) -> Peer:
    """Where to send requests for ``contact``: the Contact's address, or the REGISTER's source
    when the Contact names a private address the source is not (the phone is behind NAT)."""
    transport = (contact.transport or ("tls" if contact.scheme == "sips" else "udp")).upper()
    if source.reliable or (_private(contact.address) and contact.address != source.host):
        return Peer(transport=source.transport, host=source.host, port=source.port)
    default = 5061 if transport == "TLS" else 5060
    return Peer(transport=transport, host=contact.address, port=contact.port or default)


class Registrar:
    def __init__(
        self, *, digest: DigestServer, passwords: Mapping[str, str],
        min_expires: int = 60, max_expires: int = 3600, default_expires: int = 3600,
        keepalive_s: float = 30.0,
    ) -> None:  # fmt: skip
        self.digest = digest
        self.passwords = dict(passwords)  # extension -> password
        self.min_expires = min_expires
        self.max_expires = max_expires
        self.default_expires = default_expires
        self.keepalive_s = keepalive_s
        self._bindings: dict[str, dict[str, Binding]] = {}
        self._expiry: list[tuple[float, str, str]] = []
        # Heap entries whose time differs from _ping_at are stale (re-registered, removed).
        self._pings: list[tuple[float, str, str]] = []
        self._ping_at: dict[tuple[str, str], float] = {}
        self._to_tag = ""

    # ---------------------------------------------------------------- lookups

    def __len__(self) -> int:
        return sum(len(b) for b in self._bindings.values())

    def locate(self, aor: str, now: float) -> list[Binding]:
        """Live bindings of ``aor``, best first: highest q, then the most recently registered."""
        found = [b for b in self._bindings.get(aor_key(aor), {}).values() if b.expires_at > now]
        return sorted(found, key=lambda b: (-b.q, -b.registered_at))

    def _ha1(self, username: str, realm: str, algorithm: str) -> str | None:
        password = self.passwords.get(username)
        return None if password is None else compute_ha1(username, realm, password, algorithm)

    # ---------------------------------------------------------------- REGISTER

    def register(self, request: Request, source: Target, now: float, *,
                 to_tag: str) -> tuple[Response, list[BindingsChanged]]:
        """The response to REGISTER ``request`` (with ``to_tag``) and the bindings changed."""
        self._to_tag = to_tag
        result = self.digest.verify(request, now=now, ha1_lookup=self._ha1)
        if not result.ok:
            if result.reason == WRONG_CREDENTIALS and self._known_user(request):
                return self._reply(request, 403, "Wrong Password"), []
            return self._reply(request, result.status, headers=result.headers), []
        try:
            aor = aor_key(request.to.uri)
        except SipParseError:
            return self._reply(request, 400), []
        to = request.to.uri
        user = to.user if isinstance(to, SipUri) else None
        if user is None or user not in self.passwords:
            return self._reply(request, 404, "Unknown Address Of Record"), []
        if result.username != user:
            return self._reply(request, 403, "Not Your Address Of Record"), []
        return self._update(request, aor, source, now)

    def _reply(self, request: Request, status: int, reason: str | None = None, *,
               headers: Iterable[tuple[str, str]] = ()) -> Response:
        return make_response(request, status, reason, to_tag=self._to_tag, headers=headers)

    def _known_user(self, request: Request) -> bool:
        for value in request.headers.get_all("Authorization"):
            try:
                _scheme, params = parse_auth_header(value)
            except ValueError:
                continue
            if params.get("username") in self.passwords:
                return True
        return False

    def _expires_of(self, contact: NameAddr, request: Request) -> int:
        value = contact.params.get("expires")
        if value is not None and value.isdigit():
            return int(value)
        header = request.expires
        return self.default_expires if header is None else header

    def _update(self, request: Request, aor: str, source: Target,
                now: float) -> tuple[Response, list[BindingsChanged]]:
        current = dict(self._bindings.get(aor, {}))
        call_id, cseq = request.call_id, request.cseq.seq
        if request.contact_is_wildcard:
            if request.expires != 0 or request.contacts:
                return self._reply(request, 400, "Wildcard Needs Expires 0"), []
            if any(b.call_id == call_id and b.cseq >= cseq for b in current.values()):
                return self._reply(request, 400, "CSeq Not Increasing"), []
            return self._commit(request, aor, {}, now, changed=bool(current))
        user_agent = request.headers.get("User-Agent") or ""
        changed = False
        for contact in request.contacts:
            if not isinstance(contact.uri, SipUri):
                return self._reply(request, 400, "Contact Must Be A SIP URI"), []
            key = str(contact.uri)
            expires = self._expires_of(contact, request)
            if 0 < expires < self.min_expires:
                return self._reply(request, 423, headers=[("Min-Expires",
                                                           str(self.min_expires))]), []
            old = current.get(key)
            if old is not None and old.call_id == call_id and old.cseq >= cseq:
                return self._reply(request, 400, "CSeq Not Increasing"), []
            changed = True
            if expires == 0:
                current.pop(key, None)
                continue
            q_text = contact.params.get("q")
            try:
                q = float(q_text) if q_text is not None else 1.0
            except ValueError:
                q = 1.0
            current[key] = Binding(
                aor=aor, contact=key, expires_at=now + min(expires, self.max_expires),
                call_id=call_id, cseq=cseq, q=q, peer=contact_peer(contact.uri, source),
                registered_at=now, user_agent=user_agent,
            )  # fmt: skip
        if len(current) > MAX_CONTACTS:
            return self._reply(request, 403, "Too Many Contacts"), []
        return self._commit(request, aor, current, now, changed=changed)

    def _commit(self, request: Request, aor: str, bindings: dict[str, Binding], now: float,
                *, changed: bool) -> tuple[Response, list[BindingsChanged]]:
        if bindings:
            self._bindings[aor] = bindings
        else:
            self._bindings.pop(aor, None)
        for b in bindings.values():
            heapq.heappush(self._expiry, (b.expires_at, aor, b.contact))
            self._schedule_ping(aor, b.contact, now)
        headers = [("Contact", f"<{b.contact}>;expires={max(0, int(b.expires_at - now))}")
                   for b in bindings.values()]
        ok = self._reply(request, 200, headers=headers)
        events = [BindingsChanged(aor=aor, bindings=tuple(bindings.values()))] if changed else []
        return ok, events

    # ---------------------------------------------------------------- restore, expire, ping

    def load(self, bindings: Iterable[Binding], now: float) -> None:
        """Restore persisted bindings (those already expired are skipped)."""
        for b in bindings:
            if b.expires_at <= now:
                continue
            self._bindings.setdefault(b.aor, {})[b.contact] = b
            heapq.heappush(self._expiry, (b.expires_at, b.aor, b.contact))
            self._schedule_ping(b.aor, b.contact, now)

    def _schedule_ping(self, aor: str, contact: str, now: float) -> None:
        at = now + self.keepalive_s
        self._ping_at[(aor, contact)] = at
        heapq.heappush(self._pings, (at, aor, contact))

    def remove(self, aor: str, contact: str) -> list[BindingsChanged]:
        bindings = self._bindings.get(aor)
        if bindings is None or contact not in bindings:
            return []
        del bindings[contact]
        self._ping_at.pop((aor, contact), None)
        if not bindings:
            del self._bindings[aor]
        return [BindingsChanged(aor=aor, bindings=tuple(bindings.values()))]

    def next_timer(self) -> float | None:
        heads = [h[0][0] for h in (self._expiry, self._pings) if h]
        return min(heads) if heads else None

    def expire(self, now: float) -> list[BindingsChanged]:
        changes: list[BindingsChanged] = []
        while self._expiry and self._expiry[0][0] <= now:
            deadline, aor, contact = heapq.heappop(self._expiry)
            binding = self._bindings.get(aor, {}).get(contact)
            if binding is not None and binding.expires_at == deadline:
                changes.extend(self.remove(aor, contact))
        return changes

    def due_pings(self, now: float) -> list[Binding]:
        """Bindings to ping now; each is scheduled again ``keepalive_s`` later."""
        due: list[Binding] = []
        while self._pings and self._pings[0][0] <= now:
            at, aor, contact = heapq.heappop(self._pings)
            binding = self._bindings.get(aor, {}).get(contact)
            if binding is None or self._ping_at.get((aor, contact)) != at:
                continue
            due.append(binding)
            self._schedule_ping(aor, contact, now)
        return due


def phone_passwords(config: Config) -> dict[str, str]:
    """Digest secrets by extension: agents' phones and supervisors' phones register."""
    passwords = {u.extension: u.password for u in config.users
                 if u.extension and u.password}
    passwords.update({a.extension: a.password for a in config.agents})
    return passwords
