"""Constructing messages: responses (§8.2.6), ACK for non-2xx (§17.1.1.3), CANCEL (§9.1)."""

from __future__ import annotations

import secrets
from collections.abc import Iterable

from sip.errors import RESPONSE_HEADERS, SipParseError
from sip.fields import MAGIC_COOKIE, CSeq, Via, parse_name_addr
from sip.grammar import Params, quote
from sip.headers import HeaderField, Headers
from sip.message import Request, Response
from sip.uri import host_reference

REASON_PHRASES = {
    100: "Trying", 180: "Ringing", 181: "Call Is Being Forwarded", 182: "Queued",
    183: "Session Progress", 199: "Early Dialog Terminated", 200: "OK", 202: "Accepted",
    204: "No Notification", 300: "Multiple Choices", 301: "Moved Permanently",
    302: "Moved Temporarily", 305: "Use Proxy", 380: "Alternative Service",
    400: "Bad Request", 401: "Unauthorized", 402: "Payment Required", 403: "Forbidden",
    404: "Not Found", 405: "Method Not Allowed", 406: "Not Acceptable",
    407: "Proxy Authentication Required", 408: "Request Timeout", 410: "Gone",
    412: "Conditional Request Failed", 413: "Request Entity Too Large",
    414: "Request-URI Too Long", 415: "Unsupported Media Type",
    416: "Unsupported URI Scheme", 420: "Bad Extension", 421: "Extension Required",
    422: "Session Interval Too Small", 423: "Interval Too Brief",
    480: "Temporarily Unavailable", 481: "Call/Transaction Does Not Exist",
    482: "Loop Detected", 483: "Too Many Hops", 484: "Address Incomplete", 485: "Ambiguous",
    486: "Busy Here", 487: "Request Terminated", 488: "Not Acceptable Here",
    489: "Bad Event", 491: "Request Pending", 493: "Undecipherable",
    500: "Server Internal Error", 501: "Not Implemented", 502: "Bad Gateway",
    503: "Service Unavailable", 504: "Server Time-out", 505: "Version Not Supported",
    513: "Message Too Large", 580: "Precondition Failure", 600: "Busy Everywhere",
    603: "Decline", 604: "Does Not Exist Anywhere", 606: "Not Acceptable",
}  # fmt: skip

# Methods whose 101-299 responses establish a dialog; such responses carry
# the request's Record-Route (§12.1.1).
_DIALOG_CREATING = frozenset({"INVITE", "SUBSCRIBE", "REFER", "NOTIFY"})


def reason_phrase(status: int) -> str:
    return REASON_PHRASES.get(status, REASON_PHRASES.get(status // 100 * 100, ""))


def new_branch() -> str:
    """A fresh RFC 3261 branch: magic cookie plus 64 random bits."""
    return MAGIC_COOKIE + secrets.token_hex(8)


def new_tag() -> str:
    return secrets.token_hex(6)


def new_call_id(host: str | None = None) -> str:
    ident = secrets.token_hex(12)
    return f"{ident}@{host}" if host else ident


def make_via(
    transport: str, host: str, port: int | None, *, branch: str | None = None, rport: bool = True
) -> Via:
    """Our Via; ``host`` may be a bare IPv6 address (as sockets give it): it is bracketed."""
    params = Params((("branch", branch or new_branch()),))
    if rport:
        params = params.set("rport")
    return Via(transport=transport.upper(), host=host_reference(host), port=port, params=params)


_COPIED = frozenset(RESPONSE_HEADERS)


def _copied_fields(
    headers: Headers, status: int, method: str | None, to_tag: str | None,
    to_has_tag: bool | None = None,
) -> list[HeaderField]:  # fmt: skip
    """Via/From/To/Call-ID/CSeq copied verbatim, so the client matches exactly.

    ``to_has_tag``: whether the (one) To field has a tag, when the caller knows already."""
    out: list[HeaderField] = []
    for f in headers:
        name = f.name
        if name in _COPIED:
            if name == "To" and to_tag and status > 100:
                tagged = _has_tag(f.value) if to_has_tag is None else to_has_tag
                if not tagged:
                    # Appending keeps the original bytes; in both name-addr and
                    # addr-spec forms a trailing ;tag= is a header parameter.
                    out.append(HeaderField(name, f"{f.value};tag={to_tag}"))
                    continue
            out.append(f)  # fields are immutable: shared, not copied
        elif name == "Timestamp" and status == 100:
            out.append(f)  # §8.2.6.1
        elif name == "Record-Route" and 100 < status < 300 and method in _DIALOG_CREATING:
            out.append(f)
    return out


def _has_tag(value: str) -> bool:
    try:
        return parse_name_addr(value).tag is not None
    except SipParseError:
        return ";tag=" in value.replace(" ", "").replace("\t", "").lower()


def make_response(
    request: Request,
    status: int,
    reason: str | None = None,
    *,
    to_tag: str | None = None,
    headers: Iterable[tuple[str, str]] = (),
    body: bytes = b"",
) -> Response:
    """A response to ``request`` per §8.2.6.2; ``to_tag`` is added if To has none."""
    to_has_tag: bool | None = None
    if to_tag and status > 100:
        try:
            to_has_tag = request.to.tag is not None  # parsed once per request, then cached
        except SipParseError:
            pass  # judged field by field, as for a request that could not be parsed
    fields = _copied_fields(request.headers, status, request.method, to_tag, to_has_tag)
    fields.extend(HeaderField(n, v) for n, v in headers)
    return Response(
        status=status,
        reason=reason_phrase(status) if reason is None else reason,
        headers=request.headers.sharing_views(fields),
        body=body,
    )


def response_for_parse_error(err: SipParseError, *, to_tag: str | None = None) -> Response | None:
    """The error response for an unparseable request, or None when none can be sent."""
    if not err.can_respond or err.headers is None:
        return None
    status = err.status if 400 <= err.status <= 599 else 400
    fields = _copied_fields(err.headers, status, None, to_tag)
    detail = str(err).replace("\r", " ").replace("\n", " ")[:200]
    fields.append(HeaderField("Warning", f"399 - {quote(detail)}"))
    return Response(status=status, reason=reason_phrase(status), headers=Headers(fields))


def build_ack_for_non2xx(invite: Request, response: Response) -> Request:
    """The ACK a client INVITE transaction sends for a 3xx-6xx (§17.1.1.3)."""
    headers: list[HeaderField] = [
        HeaderField("Via", str(invite.top_via)),
        HeaderField("Max-Forwards", "70"),
        HeaderField("From", invite.headers.get("From") or ""),
        HeaderField("To", response.headers.get("To") or ""),
        HeaderField("Call-ID", invite.call_id),
        HeaderField("CSeq", str(CSeq(seq=invite.cseq.seq, method="ACK"))),
    ]
    headers.extend(HeaderField("Route", v) for v in invite.headers.get_all("Route"))
    return Request(method="ACK", uri=invite.uri, headers=Headers(headers))


def build_cancel(request: Request) -> Request:
    """CANCEL for a pending ``request`` (§9.1): same branch, tags and CSeq number."""
    headers: list[HeaderField] = [
        HeaderField("Via", str(request.top_via)),
        HeaderField("Max-Forwards", "70"),
        HeaderField("From", request.headers.get("From") or ""),
        HeaderField("To", request.headers.get("To") or ""),
        HeaderField("Call-ID", request.call_id),
        HeaderField("CSeq", str(CSeq(seq=request.cseq.seq, method="CANCEL"))),
    ]
    headers.extend(HeaderField("Route", v) for v in request.headers.get_all("Route"))
    return Request(method="CANCEL", uri=request.uri, headers=Headers(headers))
