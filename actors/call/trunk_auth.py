"""Answering a provider's digest challenge to the INVITE of a leg we send through a trunk.

A provider that wants to know who places a call answers our INVITE with 401 (its UAS) or 407
(its proxy) and a challenge; the transaction layer has ACKed that already. If the leg's trunk
has credentials, the INVITE is sent again with them (RFC 3261 §22.2, §8.1.3.5): the same
Call-ID, From tag and To, the CSeq one higher, a new branch, plus ``Authorization`` (401) or
``Proxy-Authorization`` (407) answering the strongest challenge offered. Credentials for
other realms (a proxy's and then its UAS's) stay in the request.

Refused credentials are not retried: a challenge for a realm the INVITE already answered
fails the leg as before (the caller hears 480), unless the provider calls our nonce stale
(``stale=true``: the password was right) - and never more than :data:`MAX_AUTH_TRIES`
times per leg. The count needs no field of its own: our INVITEs start at CSeq 1 and only
this step raises it before the dialog exists.

Pure like the rest of the call actor: the cnonce is derived from the call id, the leg and
the branch counter, so one decide gives one result.
"""

from __future__ import annotations

import hashlib

from actors.call.messages import Leg
from actors.call.turn import Turn
from bus.message import evolve
from conf.schema import Config, TrunkConfig
from sip.digest import DigestChallenge, build_authorization, choose_challenge, parse_auth_header
from sip.errors import DigestError
from sip.fields import CSeq
from sip.headers import Headers
from sip.message import Request, Response
from sip.transaction_layer import client_key
from telephony.ids import leg_branch
from telephony.routing import trunk_peer

MAX_AUTH_TRIES = 3
#: the header answering a 401 / a 407, and the one carrying its challenge
ANSWER_HEADER = {401: "Authorization", 407: "Proxy-Authorization"}
CHALLENGE_HEADER = {401: "WWW-Authenticate", 407: "Proxy-Authenticate"}


def trunk_of(config: Config, leg: Leg, preferred: str = "") -> TrunkConfig | None:
    """The trunk ``leg`` was sent through (by its peer; ``preferred`` if several match)."""
    if leg.peer is None:
        return None
    matches = [t for t in config.trunks if trunk_peer(t) == leg.peer]
    return next((t for t in matches if t.name == preferred), matches[0] if matches else None)


def credentials_for(t: Turn, leg: Leg) -> tuple[str, str] | None:
    """(username, password) for challenges from ``leg``'s peer: a trunk that has them."""
    trunk = trunk_of(t.settings.config, leg, t.s.out_trunk)
    if trunk is None or not trunk.username or trunk.password is None:
        return None
    return trunk.username, trunk.password


def answered_nonce(request: Request, header: str, realm: str) -> str | None:
    for value in request.headers.get_all(header):
        try:
            scheme, params = parse_auth_header(value)
        except DigestError:
            continue
        if scheme.lower() == "digest" and params.get("realm") == realm:
            return params.get("nonce", "")
    return None


def _without_realm(headers: Headers, header: str, realm: str) -> Headers:
    """``headers`` minus the ``header`` credentials for ``realm`` (others stay, §22.3)."""
    kept = Headers(f for f in headers if f.name.lower() != header.lower())
    for value in headers.get_all(header):
        try:
            _scheme, params = parse_auth_header(value)
        except DigestError:
            continue
        if params.get("realm") != realm:
            kept = kept.appended(header, value)
    return kept


def _worth_answering(invite: Request, header: str, challenge: DigestChallenge) -> bool:
    if invite.cseq.seq > MAX_AUTH_TRIES:
        return False
    nonce = answered_nonce(invite, header, challenge.realm)
    if nonce is None:
        return True  # a realm not answered yet
    return challenge.stale and nonce != challenge.nonce


def cnonce_for(call_id: str, leg: str, n: int) -> str:
    return hashlib.sha256(f"{call_id}.{leg}.{n}".encode()).hexdigest()[:16]


def answer_challenge(t: Turn, leg: Leg, resp: Response) -> bool:
    """Send ``leg``'s INVITE again with credentials if ``resp`` is a challenge we can answer
    (True); False leaves the failure to the caller."""
    header = ANSWER_HEADER.get(resp.status)
    if header is None or leg.role != "uac" or leg.status not in ("trying", "early") \
            or leg.cancel_pending or not leg.invite or t.s.phase in ("ending", "ended"):
        return False
    credentials = credentials_for(t, leg)
    if credentials is None:
        return False
    username, password = credentials
    challenge = choose_challenge(resp.headers.get_all(CHALLENGE_HEADER[resp.status]))
    invite = t.request(leg.invite)
    if challenge is None or not _worth_answering(invite, header, challenge):
        return False
    n = t.next_n()
    via = invite.top_via.with_param("branch", leg_branch(t.call_id, leg.name, n))
    answer = build_authorization(
        challenge, method="INVITE", uri=str(invite.uri), username=username,
        password=password, cnonce=cnonce_for(t.call_id, leg.name, n), nc=1)
    headers = _without_realm(invite.headers, header, challenge.realm)
    headers = headers.replaced("CSeq", str(CSeq(seq=invite.cseq.seq + 1, method="INVITE")))
    request = invite.with_headers(headers.appended(header, answer)).with_top_via(via)
    leg = t.put(evolve(leg, invite=t.dump(request), tx=client_key(request), status="trying",
                        provisional=False, dialog=None))
    t.send(leg, request, leg.peer)
    return True
