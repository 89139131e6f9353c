"""Dialogs (RFC 3261 §12-§15): state, in-dialog request creation, target refresh.

A :class:`Dialog` holds only str/int/bool/list fields, so ``to_dict()`` is
msgpack-ready and ``from_dict`` restores it. URIs and name-addrs are kept as
their text and parsed when a request is built.
"""

from __future__ import annotations

import dataclasses
import secrets
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

from sip.errors import DialogError
from sip.fields import CSeq, NameAddr, Via, parse_name_addr
from sip.headers import HeaderField, Headers
from sip.message import Request, Response
from sip.uri import SipUri, parse_uri
from sip.validation import Rejection

DialogState = Literal["early", "confirmed", "terminated"]
# Requests that may change the remote target (§12.2, RFC 3311, RFC 3515, RFC 6665).
TARGET_REFRESH = frozenset({"INVITE", "UPDATE", "SUBSCRIBE", "NOTIFY", "REFER"})
_NO_NEW_CSEQ = frozenset({"ACK", "CANCEL"})


def _without_tag(name_addr: NameAddr) -> str:
    if "tag" not in name_addr.params:
        return str(name_addr)
    return str(NameAddr(uri=name_addr.uri, display_name=name_addr.display_name,
                        params=name_addr.params.remove("tag")))


def _remote_target(message: Request | Response, fallback: NameAddr) -> str:
    contacts = message.contacts
    # RFC 2543 peers may omit Contact; their From/To URI is the target then.
    return str(contacts[0].uri) if contacts else str(fallback.uri)


@dataclass(slots=True, kw_only=True)
class Dialog:
    call_id: str
    local_tag: str
    remote_tag: str
    local_uri: str
    remote_uri: str
    remote_target: str
    local_contact: str
    route_set: list[str] = field(default_factory=list)
    local_seq: int = 0
    remote_seq: int | None = None
    invite_seq: int | None = None
    secure: bool = False
    state: DialogState = "early"
    local_invite_pending: bool = False
    remote_invite_pending: bool = False

    # Creation

    @classmethod
    def from_uac(cls, request: Request, response: Response, *, local_contact: str) -> Dialog:
        """Dialog of a UAC from a 101-299 response carrying a To tag (§12.1.2)."""
        if not 100 < response.status < 300 or response.to.tag is None:
            raise DialogError("only a 101-299 response with a To tag creates a dialog")
        from_tag = request.from_.tag
        if from_tag is None:
            raise DialogError("request has no From tag")
        return cls(
            call_id=request.call_id,
            local_tag=from_tag,
            remote_tag=response.to.tag,
            local_uri=_without_tag(request.from_),
            remote_uri=_without_tag(request.to),
            remote_target=_remote_target(response, request.to),
            local_contact=local_contact,
            route_set=[str(r) for r in reversed(response.record_routes)],
            local_seq=request.cseq.seq,
            invite_seq=request.cseq.seq if request.method == "INVITE" else None,
            secure=isinstance(request.uri, SipUri) and request.uri.scheme == "sips",
            state="confirmed" if response.status >= 200 else "early",
            local_invite_pending=request.method == "INVITE" and response.status < 200,
        )

    @classmethod
    def from_uas(
        cls, request: Request, *, local_tag: str, local_contact: str, confirmed: bool = False
    ) -> Dialog:
        """Dialog of a UAS answering ``request`` with a To tag of ``local_tag`` (§12.1.1)."""
        return cls(
            call_id=request.call_id,
            local_tag=local_tag,
            remote_tag=request.from_.tag or "",
            local_uri=_without_tag(request.to),
            remote_uri=_without_tag(request.from_),
            remote_target=_remote_target(request, request.from_),
            local_contact=local_contact,
            route_set=[str(r) for r in request.record_routes],
            remote_seq=request.cseq.seq,
            secure=isinstance(request.uri, SipUri) and request.uri.scheme == "sips",
            state="confirmed" if confirmed else "early",
            remote_invite_pending=request.method == "INVITE",
        )

    # Identity and matching

    @property
    def id(self) -> tuple[str, str, str]:
        return (self.call_id, self.local_tag, self.remote_tag)

    def matches_request(self, request: Request) -> bool:
        """An incoming in-dialog request: To tag is ours, From tag is theirs."""
        return (
            request.call_id == self.call_id
            and request.to.tag == self.local_tag
            and (request.from_.tag or "") == self.remote_tag
        )

    def matches_response(self, response: Response) -> bool:
        return (
            response.call_id == self.call_id
            and response.from_.tag == self.local_tag
            and response.to.tag == self.remote_tag
        )

    # Outgoing requests (§12.2.1.1)

    def create_request(
        self, method: str, *, via: Via, body: bytes = b"", content_type: str | None = None,
        extra_headers: Iterable[tuple[str, str]] = (),
    ) -> Request:  # fmt: skip
        if self.state == "terminated":
            raise DialogError(f"cannot send {method}: dialog terminated")
        if method == "CANCEL":
            raise DialogError("CANCEL copies the INVITE's Via: use sip.builders.build_cancel")
        if method == "INVITE" and (self.local_invite_pending or self.remote_invite_pending):
            raise DialogError("an INVITE transaction is already in progress (§14.1)")
        if method in _NO_NEW_CSEQ:
            if self.invite_seq is None:
                raise DialogError(f"{method} needs a prior INVITE in this dialog")
            seq = self.invite_seq
        else:
            self.local_seq += 1
            seq = self.local_seq
        if method == "INVITE":
            self.invite_seq = seq
            self.local_invite_pending = True
        uri, routes = self._request_uri_and_routes()
        fields = [
            HeaderField("Via", str(via)),
            HeaderField("Max-Forwards", "70"),
            HeaderField("From", f"{self.local_uri};tag={self.local_tag}"),
            HeaderField("To", f"{self.remote_uri};tag={self.remote_tag}"),
            HeaderField("Call-ID", self.call_id),
            HeaderField("CSeq", str(CSeq(seq=seq, method=method))),
        ]
        fields.extend(HeaderField("Route", r) for r in routes)
        if method in TARGET_REFRESH:
            fields.append(HeaderField("Contact", f"<{self.local_contact}>"))
        fields.extend(HeaderField(n, v) for n, v in extra_headers)
        if body:
            fields.append(HeaderField("Content-Type", content_type or "application/sdp"))
        return Request(method=method, uri=parse_uri(uri), headers=Headers(fields), body=body)

    def _request_uri_and_routes(self) -> tuple[str, list[str]]:
        if not self.route_set:
            return self.remote_target, []
        first = parse_name_addr(self.route_set[0]).uri
        if isinstance(first, SipUri) and first.loose_route:
            return self.remote_target, list(self.route_set)
        # Strict router (RFC 2543): it becomes the Request-URI and the remote
        # target travels as the last Route.
        stripped = first.without_headers() if isinstance(first, SipUri) else first
        return str(stripped), [*self.route_set[1:], f"<{self.remote_target}>"]

    def create_ack(
        self, *, via: Via, body: bytes = b"", content_type: str | None = None
    ) -> Request:
        """ACK for a 2xx to this dialog's last INVITE (§13.2.2.4); use a new branch."""
        return self.create_request("ACK", via=via, body=body, content_type=content_type)

    def create_bye(self, *, via: Via, reason: str | None = None) -> Request:
        extra = [("Reason", reason)] if reason else []
        return self.create_request("BYE", via=via, extra_headers=extra)

    def create_reinvite(self, *, via: Via, sdp: bytes) -> Request:
        """A re-INVITE carrying a new offer, e.g. to hold or resume (§14.1)."""
        return self.create_request("INVITE", via=via, body=sdp, content_type="application/sdp")

    def create_refer(self, *, via: Via, refer_to: str, referred_by: str | None = None) -> Request:
        """A REFER for transfer (RFC 3515); ``refer_to`` is a name-addr or <URI>."""
        extra = [("Refer-To", refer_to)]
        if referred_by:
            extra.append(("Referred-By", referred_by))
        return self.create_request("REFER", via=via, extra_headers=extra)

    # Incoming requests and responses

    def receive_request(self, request: Request) -> Rejection | None:
        """Apply an in-dialog request (§12.2.2); a Rejection means answer and stop."""
        seq = request.cseq.seq
        if request.method not in _NO_NEW_CSEQ:
            if self.remote_seq is not None and seq < self.remote_seq:
                return Rejection(status=500, detail="CSeq lower than the dialog's remote CSeq")
            if request.method == "INVITE":
                if self.local_invite_pending:
                    return Rejection(status=491, detail="re-INVITE glare (§14.2)")
                if self.remote_invite_pending:
                    retry = str(secrets.randbelow(11))
                    return Rejection(
                        status=500,
                        detail="previous re-INVITE still pending (§14.2)",
                        headers=(("Retry-After", retry),),
                    )
                self.remote_invite_pending = True
            self.remote_seq = seq
        if request.method in TARGET_REFRESH and request.contacts:
            self.remote_target = str(request.contacts[0].uri)
        if request.method == "ACK" and self.state == "early":
            self.state = "confirmed"
        return None

    def response_sent(self, request: Request, response: Response) -> None:
        """Record the TU's final response to an in-dialog request."""
        if response.status < 200:
            return
        if request.method == "INVITE":
            self.remote_invite_pending = False
            if response.is_success:
                self.state = "confirmed"
            elif self.state == "early":
                self.state = "terminated"
        elif request.method == "BYE" and response.is_success:
            self.state = "terminated"

    def receive_response(self, request: Request, response: Response) -> None:
        """Apply a response to a request this dialog sent (§12.2.1.2, §13.2.2.4)."""
        if response.status < 200:
            return
        if request.method == "INVITE":
            self.local_invite_pending = False
        if response.status in (408, 481):
            self.state = "terminated"
            return
        if response.is_success:
            if request.method in TARGET_REFRESH and response.contacts:
                self.remote_target = str(response.contacts[0].uri)
            if request.method == "INVITE" and self.state == "early":
                self.state = "confirmed"
                if response.record_routes:
                    self.route_set = [str(r) for r in reversed(response.record_routes)]
            if request.method == "BYE":
                self.state = "terminated"

    def terminate(self) -> None:
        self.state = "terminated"

    # Persistence

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Dialog:
        return cls(**{**data, "route_set": list(data.get("route_set", []))})


@dataclass(slots=True, kw_only=True)
class Pending2xx:
    """A UAS 2xx to INVITE retransmitted until the ACK comes (§13.3.1.4).

    The TU resends ``response`` (through its server transaction) each time
    :meth:`handle_timer` returns "retransmit"; "give-up" means the ACK never
    came within 64*T1 and the dialog should be ended with a BYE.
    """

    response: bytes
    next_at: float
    interval: float
    give_up_at: float

    @classmethod
    def start(cls, response: bytes, now: float, t1: float = 0.5) -> Pending2xx:
        return cls(response=response, next_at=now + t1, interval=t1, give_up_at=now + 64 * t1)

    def next_timer(self) -> float:
        return min(self.next_at, self.give_up_at)

    def handle_timer(self, now: float, t2: float = 4.0) -> Literal["retransmit", "give-up"] | None:
        if now >= self.give_up_at:
            return "give-up"
        if now >= self.next_at:
            self.interval = min(self.interval * 2, t2)
            self.next_at = now + self.interval
            return "retransmit"
        return None
