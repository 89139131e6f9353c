"""Semantic checks a UAS runs on a parsed request before acting on it (RFC 3261 §8.2).

``validate_request`` returns the :class:`Rejection` to answer with, or None.
Checks run in the order of §8.2: well-formedness of the headers every
response needs, then method and URI scheme, then extensions, then bodies.
ACK must never be answered; callers drop an ACK that fails validation.
"""

from __future__ import annotations

from dataclasses import dataclass

from sip.builders import make_response, reason_phrase
from sip.errors import SipParseError
from sip.fields import MediaType, parse_media_type, validate_date
from sip.message import Request, Response
from sip.uri import SipUri, TelUri

# Header views parsed (and so checked) before a request is acted on.
_MANDATORY_VIEWS = ("vias", "from_", "to", "call_id", "cseq")
_OPTIONAL_VIEWS = (
    "max_forwards", "contacts", "routes", "record_routes", "content_type", "require",
    "proxy_require",
)  # fmt: skip
_NO_REQUIRE_CHECK = frozenset({"ACK", "CANCEL"})
# Requests whose answer carries a body of ours (an SDP offer or answer), so
# an Accept header that excludes our types makes them unanswerable (406).
_ANSWERED_WITH_BODY = frozenset({"INVITE", "UPDATE"})


@dataclass(frozen=True, slots=True, kw_only=True)
class Rejection:
    """Why a request is refused: status, a detail naming the culprit, extra headers."""

    status: int
    detail: str
    headers: tuple[tuple[str, str], ...] = ()

    @property
    def reason(self) -> str:
        return reason_phrase(self.status)


@dataclass(frozen=True, slots=True, kw_only=True)
class RequestPolicy:
    """What this element supports; drives 405/415/416/420/406/483 decisions."""

    uri_schemes: frozenset[str] = frozenset({"sip", "sips"})
    extensions: frozenset[str] = frozenset()
    body_types: frozenset[str] = frozenset({"application/sdp"})
    body_encodings: frozenset[str] = frozenset({"identity"})
    answer_types: frozenset[str] = frozenset({"application/sdp"})
    methods: frozenset[str] | None = None
    proxy: bool = False


DEFAULT_POLICY = RequestPolicy()


def _well_formed(message: Request | Response) -> str | None:
    """The first problem with a header every message needs, or None."""
    try:
        for view in _MANDATORY_VIEWS:
            getattr(message, view)
    except SipParseError as exc:
        return str(exc)
    return None


def _optional_headers(request: Request) -> str | None:
    try:
        for view in _OPTIONAL_VIEWS:
            getattr(request, view)
        date = request.headers.get_all("Date")
        if len(date) > 1:
            return "Date header appears more than once"
        if date:
            validate_date(date[0])
    except SipParseError as exc:
        return str(exc)
    return None


def _scheme(request: Request) -> str:
    uri = request.uri
    if isinstance(uri, SipUri):
        return uri.scheme
    if isinstance(uri, TelUri):
        return "tel"
    return uri.scheme.lower()


def _accepts(ranges: list[MediaType], offered: frozenset[str]) -> bool:
    for media_range in ranges:
        kind, sub = media_range.type.lower(), media_range.subtype.lower()
        for mime in offered:
            o_kind, _, o_sub = mime.partition("/")
            if kind in ("*", o_kind) and sub in ("*", o_sub):
                return True
    return False


def _extensions(request: Request, policy: RequestPolicy) -> Rejection | None:
    if request.method in _NO_REQUIRE_CHECK:
        return None
    tags = list(request.require)
    if policy.proxy:
        tags.extend(request.proxy_require)
    if not tags:
        return None  # nearly every request: nothing required
    supported = {t.lower() for t in policy.extensions}
    unsupported = [t for t in tags if t.lower() not in supported]
    if unsupported:
        return Rejection(
            status=420,
            detail=f"unsupported extensions: {', '.join(unsupported)}",
            headers=(("Unsupported", ", ".join(unsupported)),),
        )
    return None


def _accept_headers(policy: RequestPolicy) -> tuple[tuple[str, str], ...]:
    return (
        ("Accept", ", ".join(sorted(policy.body_types))),
        ("Accept-Encoding", ", ".join(sorted(policy.body_encodings))),
    )


def _bodies(request: Request, policy: RequestPolicy) -> Rejection | None:
    if request.body:
        content_type = request.content_type
        if content_type is None:
            return Rejection(status=400, detail="body without Content-Type")
        if content_type.mime not in policy.body_types:
            return Rejection(
                status=415,
                detail=f"unsupported Content-Type {content_type.mime}",
                headers=_accept_headers(policy),
            )
        encodings = [e.lower() for e in request.headers.values("Content-Encoding") if e]
        bad = [e for e in encodings if e not in policy.body_encodings]
        if bad:
            return Rejection(
                status=415, detail=f"unsupported Content-Encoding {bad[0]}",
                headers=_accept_headers(policy),
            )
    if request.method in _ANSWERED_WITH_BODY:
        try:
            ranges = [
                parse_media_type(v, allow_wildcard=True)
                for v in request.headers.values("Accept")
                if v
            ]
        except SipParseError as exc:
            return Rejection(status=400, detail=f"malformed Accept header: {exc}")
        # An Accept header with no usable value is ignored rather than read as
        # "no bodies at all": offer/answer needs the body regardless.
        if ranges and not _accepts(ranges, policy.answer_types):
            return Rejection(
                status=406, detail="Accept excludes every body type this element can send"
            )
    return None


def validate_request(request: Request, policy: RequestPolicy = DEFAULT_POLICY) -> Rejection | None:
    """The rejection to answer ``request`` with, or None when it may be processed."""
    problem = _well_formed(request) or _optional_headers(request)
    if problem is not None:
        return Rejection(status=400, detail=problem)
    if request.cseq.method != request.method:
        return Rejection(
            status=400,
            detail=f"CSeq method {request.cseq.method} does not match {request.method}",
        )
    if _scheme(request) not in policy.uri_schemes:
        return Rejection(status=416, detail=f"Request-URI scheme {_scheme(request)} not served")
    if isinstance(request.uri, SipUri) and request.uri.headers:
        return Rejection(status=400, detail="Request-URI must not contain headers")
    # §16.3 lets a proxy answer OPTIONS itself; this element answers 483 to all.
    if policy.proxy and request.max_forwards == 0:
        return Rejection(status=483, detail="Max-Forwards reached 0")
    if policy.methods is not None and request.method not in policy.methods:
        allow = ", ".join(sorted(policy.methods))
        return Rejection(
            status=405, detail=f"method {request.method} not allowed", headers=(("Allow", allow),)
        )
    return _extensions(request, policy) or _bodies(request, policy)


def validate_response(response: Response) -> str | None:
    """Why ``response`` must be discarded (§17.1.3 cannot match it), or None."""
    return _well_formed(response)


def rejection_response(
    request: Request, rejection: Rejection, *, to_tag: str | None = None
) -> Response:
    return make_response(request, rejection.status, to_tag=to_tag, headers=rejection.headers)
