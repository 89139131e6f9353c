"""The trunk registrations of one telephony process, as one sans-IO unit for the SIP stack.

One :class:`~telephony.trunk_registration.TrunkRegistration` per ``[[trunk]]`` with
``register = true``; this routes each final response or transaction failure to the machine
whose REGISTER it answers (by client transaction key), merges their timers and gathers their
stats (``trunks`` in the telephony service's stats).

:class:`InviteCredentials` remembers the credentials of INVITEs the call actors resent
through a trunk after a challenge (:mod:`actors.call.trunk_auth`), so that the ACK of their
2xx carries them too (RFC 3261 §13.2.2.4).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable

from conf.schema import Config, TrunkConfig
from sip.grammar import Params
from sip.headers import HeaderField
from sip.message import Request, Response
from sip.transaction import Target
from sip.uri import SipUri
from telephony.trunk_registration import (
    BACKOFF_FIRST_S,
    BACKOFF_MAX_S,
    Output,
    RegistrationSpec,
    TrunkRegistration,
    TrunkRegistrationError,
    registrar_uri,
)


def spec_for_trunk(trunk: TrunkConfig, *, host: str, port: int,
                   user_agent: str = "Contactor") -> RegistrationSpec:
    """What registering ``trunk`` means, with our listen address ``host``:``port``."""
    if not trunk.username or trunk.password is None:
        raise TrunkRegistrationError(f"trunk {trunk.name!r}: register = true needs "
                                     "username and password")
    transport = trunk.transport.lower()
    params = Params() if transport == "udp" else Params((("transport", transport),))
    domain = trunk.domain or trunk.host
    return RegistrationSpec(
        trunk=trunk.name, username=trunk.username, password=trunk.password,
        aor=str(SipUri(user=trunk.username, host=domain)),
        registrar=registrar_uri(trunk.host, trunk.port, transport, trunk.domain),
        contact=str(SipUri(user=trunk.username, host=host, port=port, params=params)),
        target=Target(transport=transport.upper(), host=trunk.host, port=trunk.port),
        local_host=host, local_port=port, expires=trunk.expires, user_agent=user_agent,
    )  # fmt: skip


class TrunkRegistrations:
    def __init__(self, machines: Iterable[TrunkRegistration] = ()) -> None:
        self.machines = {m.spec.trunk: m for m in machines}

    @classmethod
    def for_config(cls, config: Config, *, host: str, port: int,
                   call_id: Callable[[], str], tag: Callable[[], str], tls_port: int = 0,
                   backoff_first_s: float = BACKOFF_FIRST_S,
                   backoff_max_s: float = BACKOFF_MAX_S) -> TrunkRegistrations:
        """A machine for every registering trunk; ``call_id``/``tag`` draw one of each.
        ``tls_port``: where our TLS listener is (0: none), named in a TLS trunk's Contact."""
        return cls(TrunkRegistration(spec_for_trunk(
                                         t, host=host,
                                         port=tls_port if tls_port and t.transport.lower() == "tls"
                                         else port),
                                     call_id=call_id(), from_tag=tag(),
                                     backoff_first_s=backoff_first_s,
                                     backoff_max_s=backoff_max_s)
                   for t in config.trunks if t.register)

    def __len__(self) -> int:
        return len(self.machines)

    def _owner(self, key: str) -> TrunkRegistration | None:
        return next((m for m in self.machines.values() if m.pending_key == key), None)

    def owns(self, key: str) -> bool:
        return self._owner(key) is not None

    def start(self, now: float) -> list[Output]:
        return [out for m in self.machines.values() for out in m.start(now)]

    def next_timer(self) -> float | None:
        times = [t for m in self.machines.values() if (t := m.next_timer()) is not None]
        return min(times) if times else None

    def handle_timer(self, now: float) -> list[Output]:
        return [out for m in self.machines.values() for out in m.handle_timer(now)]

    def receive(self, key: str, response: Response, now: float) -> list[Output]:
        owner = self._owner(key)
        return [] if owner is None else owner.receive(key, response, now)

    def failed(self, key: str, now: float, reason: str) -> list[Output]:
        owner = self._owner(key)
        return [] if owner is None else owner.failed(key, now, reason)

    def stop(self, now: float) -> list[Output]:
        return [out for m in self.machines.values() for out in m.stop(now)]

    @property
    def done(self) -> bool:
        return all(m.done for m in self.machines.values())

    def stats(self, now: float) -> dict[str, dict[str, object]]:
        return {name: m.stats(now) for name, m in self.machines.items()}


_CREDENTIALS = ("authorization", "proxy-authorization")


class InviteCredentials:
    """Credentials of INVITEs sent, by (Call-ID, CSeq), until their ACK or for ``ttl_s``
    (the port resends a cached ACK for a retransmitted 2xx, so each is applied once)."""

    def __init__(self, ttl_s: float) -> None:
        self.ttl_s = ttl_s
        self._fields: dict[tuple[str, int], list[HeaderField]] = {}
        self._expiry: deque[tuple[float, tuple[str, int]]] = deque()

    def __len__(self) -> int:
        return len(self._fields)

    def keep(self, invite: Request, now: float) -> None:
        fields = [f for f in invite.headers if f.name.lower() in _CREDENTIALS]
        if fields:
            key = (invite.call_id, invite.cseq.seq)
            self._fields[key] = fields
            self._expiry.append((now + self.ttl_s, key))

    def apply(self, ack: Request) -> Request:
        """``ack`` with the credentials of the INVITE it acknowledges (unless it has some)."""
        fields = self._fields.pop((ack.call_id, ack.cseq.seq), None)
        if not fields or any(f.name.lower() in _CREDENTIALS for f in ack.headers):
            return ack
        headers = ack.headers
        for f in fields:
            headers = headers.appended(f.name, f.value)
        return ack.with_headers(headers)

    def next_timer(self) -> float | None:
        return self._expiry[0][0] if self._expiry else None

    def expire(self, now: float) -> None:
        while self._expiry and self._expiry[0][0] <= now:
            self._fields.pop(self._expiry.popleft()[1], None)
