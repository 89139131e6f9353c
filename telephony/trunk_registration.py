"""Keeping a trunk registered at its provider (RFC 3261 §10.2), sans-IO.

One :class:`TrunkRegistration` per ``[[trunk]]`` with ``register = true``: responses and
transaction failures in, REGISTER requests out, time passed in as ``now`` and the next
deadline read from :meth:`TrunkRegistration.next_timer`. The caller sends each
:class:`SendRegister` through a client transaction and hands back the final response (or the
transaction's timeout) for the key :attr:`TrunkRegistration.pending_key` names.

* Digest (RFC 7616, RFC 8760): a 401/407 is answered once per attempt with the strongest
  challenge offered (SHA-256 before MD5, qop=auth); the challenge is remembered and the next
  REGISTER answers it in advance with the nonce count incremented. ``stale=true`` (the
  password was right, the nonce old) is answered again with the new nonce and is no failure;
  a challenge right after credentials the server did not call stale means they were refused.
* Refresh: at :data:`REFRESH_RATIO` of the interval the registrar granted (the ``expires``
  of our Contact in the 2xx, else its Expires header, else what we asked for).
* Failure (4xx-6xx, a timeout, refused credentials): retry after an exponential backoff,
  bounded, or after the Retry-After the provider gives; 423 is retried at once with its
  Min-Expires (§10.2.8). The last status and reason are kept for the stats.
* Stop: the binding is removed with ``Expires: 0`` (waiting for a REGISTER in flight first,
  §10.2: one at a time); :attr:`TrunkRegistration.done` once that is answered.

Call-ID and From tag are given (one of each per process life, §10.2.4 keeps the Call-ID
across refreshes); branches and cnonces derive from the Call-ID and the CSeq, so a run is
reproducible from its inputs.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Literal

from sip.digest import DigestChallenge, build_authorization, choose_challenge
from sip.errors import SipParseError
from sip.fields import MAGIC_COOKIE, CSeq
from sip.headers import HeaderField, Headers
from sip.message import Request, Response
from sip.transaction import Target
from sip.uri import SipUri, parse_uri, uri_equal

State = Literal["idle", "registering", "registered", "refreshing", "failing", "stopping",
                "unregistering", "stopped"]
Event = Literal["due", "challenged", "granted", "refused", "retry", "stop", "unbind"]

#: (state, event) -> next state; an event a state does not list is ignored (a late response)
TRANSITIONS: dict[tuple[State, Event], State] = {
    ("idle", "due"): "registering",
    ("failing", "due"): "registering",
    ("registered", "due"): "refreshing",
    ("registering", "challenged"): "registering",
    ("refreshing", "challenged"): "refreshing",
    ("unregistering", "challenged"): "unregistering",
    ("stopping", "challenged"): "unregistering",
    ("registering", "retry"): "registering",
    ("refreshing", "retry"): "refreshing",
    ("registering", "granted"): "registered",
    ("refreshing", "granted"): "registered",
    ("stopping", "granted"): "unregistering",
    ("unregistering", "granted"): "stopped",
    ("registering", "refused"): "failing",
    ("refreshing", "refused"): "failing",
    ("stopping", "refused"): "stopped",
    ("unregistering", "refused"): "stopped",
    ("idle", "stop"): "stopped",
    ("failing", "stop"): "stopped",
    ("registered", "stop"): "stopped",
    ("registering", "stop"): "stopping",
    ("refreshing", "stop"): "stopping",
    ("registered", "unbind"): "unregistering",
    ("failing", "unbind"): "unregistering",
}  # fmt: skip

DEFAULT_EXPIRES = 3600
REFRESH_RATIO = 0.75  # refresh at 75 % of the granted interval (RFC 3261 leaves it to us)
BACKOFF_FIRST_S = 2.0
BACKOFF_MAX_S = 300.0
MAX_STALE_IN_ROW = 3  # stale nonces answered in one attempt before calling it a failure
MAX_423_IN_ROW = 2
ALLOW = "INVITE, ACK, CANCEL, BYE, OPTIONS, REFER, NOTIFY, INFO"


class TrunkRegistrationError(ValueError):
    """The trunk cannot register: ``[[trunk]]`` lacks the username or password."""


@dataclass(frozen=True, slots=True, kw_only=True)
class RegistrationSpec:
    """What to register where: built from a ``[[trunk]]`` by :func:`spec_for_trunk`."""

    trunk: str
    username: str
    password: str
    aor: str  # sip:<username>@<domain>: To and From
    registrar: str  # the Request-URI: sip:<domain> (or the provider's host:port)
    contact: str  # our address: sip:<username>@<listen host>:<port>
    target: Target  # where the REGISTER goes (the trunk's host, port, transport)
    local_host: str  # Via sent-by
    local_port: int
    expires: int = DEFAULT_EXPIRES
    user_agent: str = "Contactor"


@dataclass(frozen=True, slots=True, kw_only=True)
class SendRegister:
    """Send ``request`` to ``target`` in a client transaction keyed ``key``."""

    request: Request
    target: Target
    key: str


@dataclass(frozen=True, slots=True, kw_only=True)
class StateChanged:
    """For logs: the registration of ``trunk`` went from ``before`` to ``after``."""

    trunk: str
    before: State
    after: State
    status: int = 0
    reason: str = ""
    expires: int = 0  # granted interval when ``after`` is "registered"
    retry_in: float | None = None  # when ``after`` is "failing"


Output = SendRegister | StateChanged


def _hex(text: str, n: int) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:n]


def _int(value: str | None) -> int | None:
    if value is None:
        return None
    try:
        return int(value.strip().split(";")[0].split("(")[0].strip())
    except ValueError:
        return None


class TrunkRegistration:
    def __init__(self, spec: RegistrationSpec, *, call_id: str, from_tag: str,
                 backoff_first_s: float = BACKOFF_FIRST_S, backoff_max_s: float = BACKOFF_MAX_S,
                 refresh_ratio: float = REFRESH_RATIO) -> None:
        self.spec = spec
        self.call_id = call_id
        self.from_tag = from_tag
        self.backoff_first_s = backoff_first_s
        self.backoff_max_s = backoff_max_s
        self.refresh_ratio = refresh_ratio
        self.state: State = "idle"
        self.cseq = 0
        self.expires = spec.expires  # what we ask for (raised by a 423's Min-Expires)
        self.pending_key: str | None = None
        self.next_at: float | None = None
        self.bound_until: float | None = None  # the provider holds our binding until then
        self.granted = 0
        self.failures = 0  # attempts failed in a row
        self.last_status = 0
        self.last_reason = ""
        self._challenge: DigestChallenge | None = None
        self._auth_header = "Authorization"
        self._nc = 0
        self._answered = False  # the request in flight answers a challenge of this attempt
        self._stale_in_row = 0
        self._brief_in_row = 0
        self._branch_seed = _hex(call_id, 12)

    # ------------------------------------------------------------ inputs

    def start(self, now: float) -> list[Output]:
        """The first REGISTER (nothing if started already)."""
        if self.state != "idle" or self.cseq:
            return []
        self.next_at = now
        return self.handle_timer(now)

    def next_timer(self) -> float | None:
        return self.next_at

    def handle_timer(self, now: float) -> list[Output]:
        if self.next_at is None or now < self.next_at:
            return []
        self.next_at = None
        before = self.state
        if not self._go("due"):
            return []
        self._answered, self._stale_in_row, self._brief_in_row = False, 0, 0
        return [*self._changed(before), self._send(self.expires)]

    def receive(self, key: str, response: Response, now: float) -> list[Output]:
        """A response to the REGISTER in flight (others, and provisionals, are ignored)."""
        if key != self.pending_key or response.status < 200:
            return []
        self.pending_key = None
        status = response.status
        if 200 <= status < 300:
            return self._granted(response, now)
        if status in (401, 407):
            return self._challenged(response, now)
        if status == 423 and self.state in ("registering", "refreshing"):
            minimum = _int(response.headers.get("Min-Expires"))
            self._brief_in_row += 1
            if minimum is not None and minimum > self.expires and \
                    self._brief_in_row <= MAX_423_IN_ROW:
                self.expires = minimum
                self._go("retry")
                return [self._send(self.expires)]
        retry_after = _int(response.headers.get("Retry-After"))
        return self._refused(now, status, response.reason or f"status {status}", retry_after)

    def failed(self, key: str, now: float, reason: str = "timeout") -> list[Output]:
        """The REGISTER in flight timed out (Timer F) or its transport failed."""
        if key != self.pending_key:
            return []
        self.pending_key = None
        return self._refused(now, 408, reason, None)

    def stop(self, now: float) -> list[Output]:
        """Remove the binding (``Expires: 0``); :attr:`done` once that is answered."""
        before = self.state
        self.next_at = None
        bound = self.bound_until is not None and self.bound_until > now
        if self.state in ("registered", "failing") and bound:
            self._go("unbind")
            self._answered, self._stale_in_row = False, 0
            return [*self._changed(before), self._send(0)]
        self._go("stop")  # a REGISTER in flight: un-register once it is answered
        return self._changed(before)

    @property
    def done(self) -> bool:
        return self.state == "stopped"

    # ------------------------------------------------------------ outcomes

    def _granted(self, response: Response, now: float) -> list[Output]:
        before = self.state
        if self.state == "stopping":
            self._go("granted")
            self._answered, self._stale_in_row = False, 0
            return [*self._changed(before), self._send(0)]
        if self.state == "unregistering":
            self._go("granted")
            self.bound_until = None
            self.last_status, self.last_reason = response.status, "unregistered"
            return self._changed(before, status=response.status)
        granted = self._granted_expires(response)
        if granted <= 0:
            return self._refused(now, response.status, "the registrar kept no binding", None)
        self._go("granted")
        self.granted = granted
        self.bound_until = now + granted
        self.next_at = now + granted * self.refresh_ratio
        self.failures = 0
        self.last_status, self.last_reason = response.status, response.reason
        return self._changed(before, status=response.status, expires=granted)

    def _granted_expires(self, response: Response) -> int:
        """§10.2.4: our Contact's ``expires`` in the 2xx, else Expires, else what we asked."""
        ours = parse_uri(self.spec.contact)
        try:
            contacts = response.contacts
        except SipParseError:
            contacts = ()
        for contact in contacts:
            if uri_equal(contact.uri, ours):
                value = _int(contact.params.get("expires"))
                if value is not None:
                    return value
        header = _int(response.headers.get("Expires"))
        return header if header is not None else self.expires

    def _challenged(self, response: Response, now: float) -> list[Output]:
        proxy = response.status == 407
        name = "Proxy-Authenticate" if proxy else "WWW-Authenticate"
        challenge = choose_challenge(response.headers.get_all(name))
        if challenge is None:
            return self._refused(now, response.status, f"no usable {name} challenge", None)
        if self.state != "stopping":  # stopping: answer with the un-REGISTER, whatever it is
            same = self._challenge is not None and self._challenge.nonce == challenge.nonce
            if self._answered and (same or not challenge.stale):
                return self._refused(now, response.status, "credentials refused", None)
            if challenge.stale:
                self._stale_in_row += 1
                if self._stale_in_row > MAX_STALE_IN_ROW:
                    return self._refused(now, response.status, "stale nonces in a row", None)
        before = self.state
        if self._challenge is None or self._challenge.nonce != challenge.nonce:
            self._nc = 0  # a new nonce counts from 1; an old one keeps counting (no replay)
        self._challenge = challenge
        self._auth_header = "Proxy-Authorization" if proxy else "Authorization"
        self._answered = True
        self._go("challenged")
        expires = 0 if self.state == "unregistering" else self.expires
        return [*self._changed(before), self._send(expires)]

    def _refused(self, now: float, status: int, reason: str,
                 retry_after: int | None) -> list[Output]:
        before = self.state
        if not self._go("refused"):
            return []
        self.last_status, self.last_reason = status, reason
        if self.state == "stopped":
            self.bound_until = None
            return self._changed(before, status=status)
        self.failures += 1
        delay = min(self.backoff_first_s * 2 ** (self.failures - 1), self.backoff_max_s)
        if retry_after is not None and retry_after > 0:
            delay = min(max(float(retry_after), self.backoff_first_s), self.backoff_max_s)
        self.next_at = now + delay
        return self._changed(before, status=status, retry_in=delay)

    # ------------------------------------------------------------ helpers

    def _go(self, event: Event) -> bool:
        after = TRANSITIONS.get((self.state, event))
        if after is None:
            return False
        self.state = after
        return True

    def _changed(self, before: State, *, status: int = 0, expires: int = 0,
                 retry_in: float | None = None) -> list[Output]:
        if before == self.state:
            return []
        return [StateChanged(trunk=self.spec.trunk, before=before, after=self.state,
                             status=status or self.last_status, reason=self.last_reason,
                             expires=expires, retry_in=retry_in)]

    def _send(self, expires: int) -> SendRegister:
        self.cseq += 1
        request = self.build(expires)
        key = f"{request.top_via.branch}|REGISTER"
        self.pending_key = key
        return SendRegister(request=request, target=self.spec.target, key=key)

    def build(self, expires: int) -> Request:
        """The next REGISTER (CSeq :attr:`cseq`), with credentials when we hold a challenge."""
        spec = self.spec
        transport = spec.target.transport.upper()
        branch = f"{MAGIC_COOKIE}reg{self._branch_seed}.{self.cseq}"
        fields = [
            HeaderField("Via", f"SIP/2.0/{transport} {spec.local_host}:{spec.local_port}"
                               f";branch={branch};rport"),
            HeaderField("Max-Forwards", "70"),
            HeaderField("From", f"<{spec.aor}>;tag={self.from_tag}"),
            HeaderField("To", f"<{spec.aor}>"),
            HeaderField("Call-ID", self.call_id),
            HeaderField("CSeq", str(CSeq(seq=self.cseq, method="REGISTER"))),
            HeaderField("Contact", f"<{spec.contact}>"),
            HeaderField("Expires", str(expires)),
            HeaderField("Allow", ALLOW),
            HeaderField("User-Agent", spec.user_agent),
        ]  # fmt: skip
        if self._challenge is not None:
            self._nc += 1
            value = build_authorization(
                self._challenge, method="REGISTER", uri=spec.registrar,
                username=spec.username, password=spec.password,
                cnonce=_hex(f"{self.call_id}:{self.cseq}", 16), nc=self._nc)
            fields.append(HeaderField(self._auth_header, value))
        return Request(method="REGISTER", uri=parse_uri(spec.registrar), headers=Headers(fields))

    # ------------------------------------------------------------ stats

    def stats(self, now: float) -> dict[str, object]:
        """What ``contactor status --json`` shows for this trunk (times in seconds from now)."""
        bound = self.bound_until is not None and self.bound_until > now
        return {
            "state": self.state,
            "registered": bound,
            "aor": self.spec.aor,
            "registrar": f"{self.spec.target.host}:{self.spec.target.port}",
            "expires_in": round(self.bound_until - now, 1) if bound and self.bound_until
            else None,
            "next_attempt_in": None if self.next_at is None
            else round(max(self.next_at - now, 0.0), 1),
            "failures": self.failures,
            "last_status": self.last_status,
            "last_reason": self.last_reason,
        }


def registrar_uri(host: str, port: int, transport: str, domain: str = "") -> str:
    """The REGISTER Request-URI: the provider's domain, else its host and port."""
    param = "" if transport.lower() == "udp" else f";transport={transport.lower()}"
    if domain:
        return f"sip:{domain}{param}"
    return str(SipUri(host=host, port=port)) + param
