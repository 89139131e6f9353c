"""The registrar and location service for agent phones (RFC 3261 §10.3), sans-IO.

A phone registers as ``sip:<extension>@<domain>`` and proves it with HTTP Digest (username
the agent's extension, password the agent's password). A wrong password with a nonce we
issued is refused with 403 (a definite no, so a misconfigured phone does not retry in a
loop); anything else without valid credentials is challenged with 401.

Each address of record keeps several contacts (a desk phone and a softphone), each with its
expiry, Call-ID and CSeq (§10.3 step 7). Registered contacts are pinged with OPTIONS every
``keepalive_s``; one that stops answering is dropped, so a binding is what can really ring.
Changes are reported as :class:`BindingsChanged` for the caller to persist.

SIP outbound (RFC 5626 §6): a REGISTER with ``Supported: outbound`` whose Contact carries
``+sip.instance`` and ``reg-id`` binds a *flow*: keyed by (AOR, instance, reg-id), so a new
registration of that flow replaces the old one whatever its Contact URI, and reached over
the connection (or UDP 5-tuple) the REGISTER came on rather than at the Contact's address.
The 200 OK then carries ``Require: outbound`` and a ``Flow-Timer`` within which the phone
keeps the flow alive (less than the idle time after which connections are closed). When
a flow's connection closes its bindings go (:meth:`Registrar.flow_closed`, §5.3: a dead
flow cannot reach the phone); a lookup gives one flow per instance, the latest (§7).
"""

from __future__ import annotations

import heapq
import ipaddress
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from conf.schema import Config, SipConfig
from sip.builders import make_response
from sip.digest import DigestServer, compute_ha1, parse_auth_header
from sip.errors import SipParseError
from sip.fields import NameAddr, parse_name_addr
from sip.grammar import split_list, unquote
from sip.message import Request, Response
from sip.transaction import Target
from sip.uri import AbsoluteUri, SipUri, TelUri, Uri, parse_uri
from telephony.messages import Contact, Peer

#: the reason DigestServer gives for a response that does not match the password
WRONG_CREDENTIALS = "wrong credentials"
MAX_CONTACTS = 10
#: Flow-Timer for flows over connections (RFC 5626 §4.4.1's default pace is 95-120 s) ...
FLOW_TIMER_S = 120
#: ... and for UDP flows, which NATs forget sooner (the RFC's default: 24-29 s)
UDP_FLOW_TIMER_S = 29
_MAX_REG_ID = 2**31 - 1


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
    instance: str = ""  # +sip.instance, unquoted ("<urn:...>"); with reg_id, a flow (RFC 5626)
    reg_id: int = 0  # 0: not a flow

    @property
    def is_flow(self) -> bool:
        return self.reg_id > 0

    @property
    def key(self) -> str:
        """What the binding is filed under in its AOR: the Contact URI, or for a flow its
        instance and reg-id (RFC 5626 §6)."""
        return f"{self.instance};reg-id={self.reg_id}" if self.is_flow else self.contact

    def contact_header(self, now: float) -> str:
        """This binding as a Contact of the 200 OK to REGISTER."""
        flow = f';+sip.instance="{self.instance}";reg-id={self.reg_id}' if self.is_flow else ""
        return f"<{self.contact}>;expires={max(0, int(self.expires_at - now))}{flow}"

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


def flow_timer_for(sip: SipConfig) -> int:
    """The Flow-Timer for flows over connections: the default, or half the idle time after
    which ``[sip] tcp_idle_timeout_s`` closes a silent connection if that is shorter."""
    idle = sip.tcp_idle_timeout_s
    return FLOW_TIMER_S if idle <= 0 else max(1, min(FLOW_TIMER_S, int(idle // 2)))


@dataclass(frozen=True, slots=True, kw_only=True)
class _Flow:
    """The RFC 5626 parameters of one Contact (reg-id checked)."""

    instance: str
    reg_id: int


def _flow_of(contact: NameAddr) -> _Flow | str | None:
    """The contact's flow; None without ``+sip.instance`` and ``reg-id`` (a reg-id alone is
    ignored, §6); a string saying what is wrong with a malformed parameter."""
    instance, reg_id = contact.params.get("+sip.instance"), contact.params.get("reg-id")
    if not instance or reg_id is None:
        return None
    if not reg_id.isdigit() or not 1 <= int(reg_id) <= _MAX_REG_ID:
        return f"Bad reg-id {reg_id[:20]!r}"
    try:
        instance = unquote(instance)
    except SipParseError:
        return "Bad +sip.instance"
    if '"' in instance or "\\" in instance:  # written back quoted in the 200 OK
        return "Bad +sip.instance"
    return _Flow(instance=instance, reg_id=int(reg_id)) if instance else None


def _first_hop_lacks_outbound(request: Request) -> bool:
    """The REGISTER came through a proxy whose Path entry has no ``ob`` (RFC 5626 §6: the
    flow would end at that proxy, which does not keep it for us)."""
    if len(request.vias) < 2:
        return False
    paths = [entry for value in request.headers.get_all("Path") for entry in split_list(value)]
    if not paths:
        return True
    try:
        first = parse_name_addr(paths[0].strip())
    except SipParseError:
        return True
    return not (isinstance(first.uri, SipUri) and "ob" in first.uri.params)


class Registrar:
    def __init__(
        self, *, digest: DigestServer, passwords: Mapping[str, str],
        min_expires: int = 60, max_expires: int = 3600, default_expires: int = 3600,
        keepalive_s: float = 30.0, flow_timer_s: int = FLOW_TIMER_S,
    ) -> None:  # fmt: skip
        self.digest = digest
        self.passwords = dict(passwords)  # extension -> password
        self.min_expires = min_expires
        self.max_expires = max_expires
        self.default_expires = default_expires
        self.keepalive_s = keepalive_s
        self.flow_timer_s = flow_timer_s
        self._bindings: dict[str, dict[str, Binding]] = {}  # aor -> binding.key -> binding
        self._expiry: list[tuple[float, str, str]] = []  # (deadline, aor, key)
        # Heap entries whose time differs from _ping_at are stale (re-registered, removed).
        self._pings: list[tuple[float, str, str]] = []
        self._ping_at: dict[tuple[str, str], float] = {}
        self._flows: dict[Peer, set[tuple[str, str]]] = {}  # flow -> (aor, key) bound to it
        self._to_tag = ""

    # ---------------------------------------------------------------- lookups

    def __len__(self) -> int:
        return sum(len(b) for b in self._bindings.values())

    def locate(self, aor: str, now: float) -> list[Binding]:
        """Live bindings of ``aor``, best first: highest q, then the most recently registered;
        of the flows of one instance only the latest (RFC 5626 §7: one target per instance)."""
        found = [b for b in self._bindings.get(aor_key(aor), {}).values() if b.expires_at > now]
        found.sort(key=lambda b: (-b.q, -b.registered_at))
        instances: set[str] = set()
        best: list[Binding] = []
        for b in found:
            if b.is_flow:
                if b.instance in instances:
                    continue
                instances.add(b.instance)
            best.append(b)
        return best

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

    def _flows_asked(self, request: Request) -> dict[int, _Flow] | Response:
        """The flows the REGISTER binds, by Contact index, or the refusal (RFC 5626 §6)."""
        if "outbound" not in (tag.lower() for tag in request.supported):
            return {}  # reg-id is ignored: an RFC 3261 registration
        flows: dict[int, _Flow] = {}
        for i, contact in enumerate(request.contacts):
            flow = _flow_of(contact)
            if isinstance(flow, str):
                return self._reply(request, 400, flow)
            if flow is not None:
                flows[i] = flow
        if len(flows) > 1:
            return self._reply(request, 400, "Several Contacts With reg-id")
        if flows and _first_hop_lacks_outbound(request):
            return self._reply(request, 439, "First Hop Lacks Outbound Support")
        return flows

    def _update(self, request: Request, aor: str, source: Target,
                now: float) -> tuple[Response, list[BindingsChanged]]:
        current = dict(self._bindings.get(aor, {}))
        call_id, cseq = request.call_id, request.cseq.seq
        if request.contact_is_wildcard:
            if request.expires != 0 or request.contacts:
                return self._reply(request, 400, "Wildcard Needs Expires 0"), []
            if any(b.call_id == call_id and b.cseq >= cseq for b in current.values()):
                return self._reply(request, 400, "CSeq Not Increasing"), []
            return self._commit(request, aor, {}, now, changed=bool(current), flow=None)
        flows = self._flows_asked(request)
        if isinstance(flows, Response):
            return flows, []
        user_agent = request.headers.get("User-Agent") or ""
        changed = False
        for i, contact in enumerate(request.contacts):
            if not isinstance(contact.uri, SipUri):
                return self._reply(request, 400, "Contact Must Be A SIP URI"), []
            uri = str(contact.uri)
            flow = flows.get(i)
            key = f"{flow.instance};reg-id={flow.reg_id}" if flow else uri
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
            # a flow is reached where its REGISTER came from, whatever its Contact says
            peer = (Peer(transport=source.transport, host=source.host, port=source.port)
                    if flow else contact_peer(contact.uri, source))
            current[key] = Binding(
                aor=aor, contact=uri, expires_at=now + min(expires, self.max_expires),
                call_id=call_id, cseq=cseq, q=q, peer=peer, registered_at=now,
                user_agent=user_agent, instance=flow.instance if flow else "",
                reg_id=flow.reg_id if flow else 0,
            )  # fmt: skip
        if len(current) > MAX_CONTACTS:
            return self._reply(request, 403, "Too Many Contacts"), []
        return self._commit(request, aor, current, now, changed=changed,
                            flow=source if flows else None)

    def _commit(self, request: Request, aor: str, bindings: dict[str, Binding], now: float,
                *, changed: bool, flow: Target | None) -> tuple[Response, list[BindingsChanged]]:
        self._unindex(aor)
        if bindings:
            self._bindings[aor] = bindings
        else:
            self._bindings.pop(aor, None)
        for b in bindings.values():
            heapq.heappush(self._expiry, (b.expires_at, aor, b.key))
            self._schedule_ping(aor, b.key, now)
            self._index(b)
        headers = [("Contact", b.contact_header(now)) for b in bindings.values()]
        if flow is not None:  # RFC 5626 §6: the phone learns its flow is in use, and its pace
            timer = self.flow_timer_s if flow.reliable else min(self.flow_timer_s,
                                                                UDP_FLOW_TIMER_S)
            headers += [("Require", "outbound"), ("Flow-Timer", str(timer))]
        ok = self._reply(request, 200, headers=headers)
        events = [BindingsChanged(aor=aor, bindings=tuple(bindings.values()))] if changed else []
        return ok, events

    def _index(self, binding: Binding) -> None:
        if binding.is_flow:
            self._flows.setdefault(binding.peer, set()).add((binding.aor, binding.key))

    def _unindex(self, aor: str, only: str | None = None) -> None:
        for b in self._bindings.get(aor, {}).values():
            if b.is_flow and (only is None or b.key == only):
                bound = self._flows.get(b.peer)
                if bound is not None:
                    bound.discard((aor, b.key))
                    if not bound:
                        del self._flows[b.peer]

    # ---------------------------------------------------------------- restore, expire, ping

    def load(self, bindings: Iterable[Binding], now: float) -> None:
        """Restore persisted bindings (those already expired are skipped, and flows: their
        connections ended with the process that had them)."""
        for b in bindings:
            if b.expires_at <= now or b.is_flow:
                continue
            self._bindings.setdefault(b.aor, {})[b.key] = b
            heapq.heappush(self._expiry, (b.expires_at, b.aor, b.key))
            self._schedule_ping(b.aor, b.key, now)

    def _schedule_ping(self, aor: str, key: str, now: float) -> None:
        at = now + self.keepalive_s
        self._ping_at[(aor, key)] = at
        heapq.heappush(self._pings, (at, aor, key))

    def remove(self, aor: str, key: str) -> list[BindingsChanged]:
        """Drop the binding of ``aor`` filed as ``key`` (:attr:`Binding.key`). A Contact URI
        that is no key drops the flows registered with that URI."""
        bindings = self._bindings.get(aor)
        if bindings is None:
            return []
        keys = [key] if key in bindings else [k for k, b in bindings.items()
                                               if b.is_flow and b.contact == key]
        if not keys:
            return []
        for k in keys:
            self._unindex(aor, k)
            del bindings[k]
            self._ping_at.pop((aor, k), None)
        if not bindings:
            del self._bindings[aor]
        return [BindingsChanged(aor=aor, bindings=tuple(bindings.values()))]

    def flow_closed(self, source: Target) -> list[BindingsChanged]:
        """The connection ``source`` names has closed: the flows bound to it are gone."""
        peer = Peer(transport=source.transport, host=source.host, port=source.port)
        changes: list[BindingsChanged] = []
        for aor, key in sorted(self._flows.get(peer, ())):
            changes.extend(self.remove(aor, key))
        return changes

    def next_timer(self) -> float | None:
        heads = [h[0][0] for h in (self._expiry, self._pings) if h]
        return min(heads) if heads else None

    def expire(self, now: float) -> list[BindingsChanged]:
        changes: list[BindingsChanged] = []
        while self._expiry and self._expiry[0][0] <= now:
            deadline, aor, key = heapq.heappop(self._expiry)
            binding = self._bindings.get(aor, {}).get(key)
            if binding is not None and binding.expires_at == deadline:
                changes.extend(self.remove(aor, key))
        return changes

    def due_pings(self, now: float) -> list[Binding]:
        """Bindings to ping now; each is scheduled again ``keepalive_s`` later."""
        due: list[Binding] = []
        while self._pings and self._pings[0][0] <= now:
            at, aor, key = heapq.heappop(self._pings)
            binding = self._bindings.get(aor, {}).get(key)
            if binding is None or self._ping_at.get((aor, key)) != at:
                continue
            due.append(binding)
            self._schedule_ping(aor, key, now)
        return due


def phone_passwords(config: Config) -> dict[str, str]:
    """Digest secrets by extension: agents' phones and supervisors' phones register."""
    passwords = {u.extension: u.password for u in config.users
                 if u.extension and u.password}
    passwords.update({a.extension: a.password for a in config.agents})
    return passwords
