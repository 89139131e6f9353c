"""REGISTER for simulated phones (RFC 3261 §10): the request and the digest answer to a 401.

Plain functions over a :class:`Registration` record; :class:`sim.wire.ua.UserAgent` sends
what they build through its transaction layer.
"""

from __future__ import annotations

from dataclasses import dataclass

from sip.digest import build_authorization, choose_challenge
from sip.headers import Headers
from sip.message import Request, Response
from sip.transaction import Target
from sip.uri import parse_uri

#: a challenge answered this many times in a row without success means the password is wrong
MAX_CHALLENGES = 2


@dataclass(slots=True, kw_only=True)
class Registration:
    user: str
    password: str
    domain: str
    registrar: Target
    expires: int
    call_id: str
    from_tag: str
    cseq: int = 0
    challenges: int = 0

    @property
    def aor(self) -> str:
        return f"sip:{self.user}@{self.domain}"


def register_request(reg: Registration, *, via: str, contact: str, auth: str | None,
                     user_agent: str) -> Request:  # fmt: skip
    """The next REGISTER of ``reg`` (one Call-ID, CSeq counting up, §10.2)."""
    reg.cseq += 1
    fields = [("Via", via), ("Max-Forwards", "70"),
              ("From", f"<{reg.aor}>;tag={reg.from_tag}"), ("To", f"<{reg.aor}>"),
              ("Call-ID", reg.call_id), ("CSeq", f"{reg.cseq} REGISTER"),
              ("Contact", f"<{contact}>"), ("Expires", str(reg.expires)),
              ("User-Agent", user_agent)]  # fmt: skip
    if auth is not None:
        fields.append(("Authorization", auth))
    return Request(method="REGISTER", uri=parse_uri(f"sip:{reg.domain}"), headers=Headers(fields))


def challenge_answer(reg: Registration, resp: Response) -> str | None:
    """The Authorization value answering a 401/407, or None (give up: not a challenge, no
    usable one, or challenged too often - the credentials are wrong)."""
    if resp.status not in (401, 407) or reg.challenges >= MAX_CHALLENGES:
        return None
    name = "WWW-Authenticate" if resp.status == 401 else "Proxy-Authenticate"
    challenge = choose_challenge(resp.headers.get_all(name))
    if challenge is None:
        return None
    reg.challenges += 1
    return build_authorization(challenge, method="REGISTER", uri=f"sip:{reg.domain}",
                               username=reg.user, password=reg.password)
