"""Answering a digest challenge to a request we sent inside a dialog (RFC 3261 §22.2).

A provider may challenge any request of ours, not only the INVITE that set the call up: a
re-INVITE (hold, resume, joining legs after a transfer), a BYE, a NOTIFY, a REFER. Every
in-dialog request goes out through :func:`send_in_dialog`; when the leg's peer is one we have
credentials for (a trunk with ``username``/``password``, see :mod:`actors.call.trunk_auth`),
the request is kept on the leg (``Leg.in_flight``) until its final response. A 401/407 to it
is answered by sending it again in the same dialog: the dialog's next CSeq (a new request,
§8.1.3.5; for a re-INVITE that CSeq is the dialog's INVITE now, so its 2xx and our ACK match
it, §14.1), a new branch, the same body, plus ``Authorization`` (401) or
``Proxy-Authorization`` (407) for the strongest challenge offered. Each realm is answered
once per request: a second challenge for a realm the request already answers (a refused
password) fails the request as before, and so does a challenge from a peer we have no
credentials for. The port copies a re-INVITE's credentials into the ACK of its 2xx
(§13.2.2.4) as it does for the first INVITE.

Nothing is kept for peers without credentials (phones, trunks that never challenge), so most
calls never carry a request in their state.
"""

from __future__ import annotations

from collections.abc import Iterable

from actors.call.legs import dialog_of, in_dialog, with_dialog
from actors.call.messages import Leg
from actors.call.trunk_auth import (
    ANSWER_HEADER,
    CHALLENGE_HEADER,
    answered_nonce,
    cnonce_for,
    credentials_for,
)
from actors.call.turn import Turn
from bus.message import evolve
from sip.digest import build_authorization, choose_challenge
from sip.fields import CSeq
from sip.message import Request, Response
from sip.transaction_layer import client_key
from telephony.ids import leg_branch


def send_in_dialog(
    t: Turn, leg: Leg, method: str, *, body: bytes = b"", content_type: str | None = None,
    extra: Iterable[tuple[str, str]] = (),
) -> Leg:  # fmt: skip
    """Send ``method`` inside ``leg``'s dialog (new CSeq, our branch); the leg after it."""
    leg, request = in_dialog(leg, method, local=t.local, call_id=t.call_id, n=t.next_n(),
                             body=body, content_type=content_type, extra=extra)
    if credentials_for(t, leg) is not None:
        leg = evolve(leg, in_flight=(*leg.in_flight, t.dump(request)))
    leg = t.put(leg)
    t.send(leg, request)
    return leg


def _find(t: Turn, leg: Leg, tx: str) -> int | None:
    for i, data in enumerate(leg.in_flight):
        if client_key(t.request(data)) == tx:
            return i
    return None


def forget(t: Turn, leg: Leg, tx: str) -> Leg:
    """Transaction ``tx`` of ``leg`` is over (a final response, a timeout): drop its request."""
    if not leg.in_flight:
        return leg
    i = _find(t, leg, tx)
    if i is None:
        return leg
    return t.put(evolve(leg, in_flight=leg.in_flight[:i] + leg.in_flight[i + 1:]))


def on_final_response(t: Turn, leg: Leg, tx: str, resp: Response) -> bool:
    """A final response to an in-dialog request of ``leg``: True if it was a challenge we
    answered (the request went out again; nothing else is to be done with ``resp``)."""
    if not leg.in_flight or resp.status < 200:
        return False
    i = _find(t, leg, tx)
    if i is None:
        return False
    request = t.request(leg.in_flight[i])
    leg = t.put(evolve(leg, in_flight=leg.in_flight[:i] + leg.in_flight[i + 1:]))
    return _answer(t, leg, request, resp)


def _answer(t: Turn, leg: Leg, request: Request, resp: Response) -> bool:
    header = ANSWER_HEADER.get(resp.status)
    credentials = credentials_for(t, leg)
    if header is None or credentials is None or leg.status == "ended" or leg.dialog is None \
            or leg.dialog.state == "terminated":
        return False
    challenge = choose_challenge(resp.headers.get_all(CHALLENGE_HEADER[resp.status]))
    if challenge is None or answered_nonce(request, header, challenge.realm) is not None:
        return False
    username, password = credentials
    dialog = dialog_of(leg)
    dialog.local_seq += 1
    if request.method == "INVITE":
        dialog.invite_seq = dialog.local_seq
        dialog.local_invite_pending = True
    n = t.next_n()
    answer = build_authorization(challenge, method=request.method, uri=str(request.uri),
                                 username=username, password=password,
                                 cnonce=cnonce_for(t.call_id, leg.name, n), nc=1)
    headers = request.headers.replaced("CSeq", str(CSeq(seq=dialog.local_seq,
                                                        method=request.method)))
    via = request.top_via.with_param("branch", leg_branch(t.call_id, leg.name, n))
    again = request.with_headers(headers.appended(header, answer)).with_top_via(via)
    leg = t.put(with_dialog(leg, dialog, in_flight=(*leg.in_flight, t.dump(again))))
    t.send(leg, again)
    return True
