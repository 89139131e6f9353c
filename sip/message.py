"""SIP requests and responses (RFC 3261 §7) with lazily parsed, cached header views."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from functools import lru_cache

from sip.errors import SipParseError
from sip.fields import (
    CSeq,
    MediaType,
    NameAddr,
    Via,
    parse_cseq,
    parse_media_type,
    parse_name_addr,
    parse_option_tags,
    parse_uint,
    parse_via,
)
from sip.grammar import WORD_CHARS, is_token, split_list
from sip.headers import Headers
from sip.uri import Uri

SIP_VERSION = "SIP/2.0"
MAX_FORWARDS_LIMIT = 255

# Header values by their text. The parsers are pure and their results immutable, and the same
# text comes back within a call (a From, To, Call-ID or CSeq in each message of a dialog, our
# Via in the responses to our requests) and across calls (CSeq "1 INVITE", a trunk's URIs):
# a hit returns what parsing would. Bounded; errors are not kept (they are raised again).
PARSE_MEMO_SIZE = 4096
_memo = lru_cache(maxsize=PARSE_MEMO_SIZE)
_parse_name_addr = _memo(parse_name_addr)
_parse_via = _memo(parse_via)
_parse_cseq = _memo(parse_cseq)


def _single(headers: Headers, name: str) -> str:
    values = headers.get_all(name)
    if not values:
        raise SipParseError(f"missing {name} header", header=name)
    if len(values) > 1:
        raise SipParseError(f"{name} header appears {len(values)} times", header=name)
    return values[0]


def _call_id(headers: Headers) -> str:
    return _checked_call_id(_single(headers, "Call-ID"))


@_memo
def _checked_call_id(raw: str) -> str:
    value = raw.strip(" \t")
    left, at, right = value.partition("@")
    bad_right = bool(at) and (not right or not set(right) <= WORD_CHARS)
    if not left or not set(left) <= WORD_CHARS or bad_right:
        raise SipParseError(f"invalid Call-ID {value[:60]!r}", header="Call-ID")
    return value


def _cseq(headers: Headers) -> CSeq:
    return _parse_cseq(_single(headers, "CSeq"))


def _vias(headers: Headers) -> tuple[Via, ...]:
    values = headers.values("Via")
    if not values:
        raise SipParseError("missing Via header", header="Via")
    return tuple(map(_parse_via, values))


def _from(headers: Headers) -> NameAddr:
    return _parse_name_addr(_single(headers, "From"))


def _to(headers: Headers) -> NameAddr:
    return _parse_name_addr(_single(headers, "To"))


def _contacts(headers: Headers) -> tuple[NameAddr, ...]:
    return tuple(_parse_name_addr(v) for v in headers.values("Contact") if v != "*")


def _routes(headers: Headers) -> tuple[NameAddr, ...]:
    return tuple(map(_parse_name_addr, headers.values("Route")))


def _record_routes(headers: Headers) -> tuple[NameAddr, ...]:
    return tuple(map(_parse_name_addr, headers.values("Record-Route")))


def _max_forwards(headers: Headers) -> int | None:
    if "Max-Forwards" not in headers:
        return None
    return parse_uint(_single(headers, "Max-Forwards"), "Max-Forwards", MAX_FORWARDS_LIMIT)


def _content_type(headers: Headers) -> MediaType | None:
    if "Content-Type" not in headers:
        return None
    return parse_media_type(_single(headers, "Content-Type"))


def _expires(headers: Headers) -> int | None:
    if "Expires" not in headers:
        return None
    return parse_uint(_single(headers, "Expires"), "Expires")


def _require(headers: Headers) -> tuple[str, ...]:
    return parse_option_tags(headers.values("Require"))


def _proxy_require(headers: Headers) -> tuple[str, ...]:
    return parse_option_tags(headers.values("Proxy-Require"))


def _supported(headers: Headers) -> tuple[str, ...]:
    return parse_option_tags(headers.values("Supported"))


class _HeaderViews:
    """Typed accessors shared by requests and responses.

    Each parses its header on first use and caches the result in the
    (immutable) Headers instance; malformed or missing mandatory headers
    raise :class:`SipParseError` naming the header.
    """

    __slots__ = ()
    headers: Headers

    @property
    def call_id(self) -> str:
        return self.headers.parsed("Call-ID", _call_id)

    @property
    def cseq(self) -> CSeq:
        return self.headers.parsed("CSeq", _cseq)

    @property
    def vias(self) -> tuple[Via, ...]:
        return self.headers.parsed("Via", _vias)

    @property
    def top_via(self) -> Via:
        return self.vias[0]

    @property
    def from_(self) -> NameAddr:
        return self.headers.parsed("From", _from)

    @property
    def to(self) -> NameAddr:
        return self.headers.parsed("To", _to)

    @property
    def contacts(self) -> tuple[NameAddr, ...]:
        """Contact values, without the ``*`` wildcard (see :attr:`contact_is_wildcard`)."""
        return self.headers.parsed("Contact", _contacts)

    @property
    def contact_is_wildcard(self) -> bool:
        return "*" in self.headers.values("Contact")

    @property
    def routes(self) -> tuple[NameAddr, ...]:
        return self.headers.parsed("Route", _routes)

    @property
    def record_routes(self) -> tuple[NameAddr, ...]:
        return self.headers.parsed("Record-Route", _record_routes)

    @property
    def max_forwards(self) -> int | None:
        return self.headers.parsed("Max-Forwards", _max_forwards)

    @property
    def content_type(self) -> MediaType | None:
        return self.headers.parsed("Content-Type", _content_type)

    @property
    def expires(self) -> int | None:
        return self.headers.parsed("Expires", _expires)

    @property
    def require(self) -> tuple[str, ...]:
        return self.headers.parsed("Require", _require)

    @property
    def proxy_require(self) -> tuple[str, ...]:
        return self.headers.parsed("Proxy-Require", _proxy_require)

    @property
    def supported(self) -> tuple[str, ...]:
        return self.headers.parsed("Supported", _supported)


@dataclass(frozen=True, slots=True, kw_only=True)
class Request(_HeaderViews):
    method: str
    uri: Uri
    headers: Headers = field(default_factory=Headers)
    body: bytes = b""
    version: str = SIP_VERSION

    def __post_init__(self) -> None:
        if not is_token(self.method):
            raise ValueError(f"method {self.method!r} is not a token")

    def with_headers(self, headers: Headers) -> Request:
        return replace(self, headers=headers)

    def with_top_via(self, via: Via) -> Request:
        return replace(self, headers=_replace_top_via(self.headers, via))


@dataclass(frozen=True, slots=True, kw_only=True)
class Response(_HeaderViews):
    status: int
    reason: str = ""
    headers: Headers = field(default_factory=Headers)
    body: bytes = b""
    version: str = SIP_VERSION

    def __post_init__(self) -> None:
        if not 100 <= self.status <= 699:
            raise ValueError(f"status {self.status} outside 100-699")

    @property
    def is_provisional(self) -> bool:
        return self.status < 200

    @property
    def is_success(self) -> bool:
        return 200 <= self.status < 300

    def with_headers(self, headers: Headers) -> Response:
        return replace(self, headers=headers)


Message = Request | Response


def _replace_top_via(headers: Headers, via: Via) -> Headers:
    """Replace the first via-parm, which may share a field with others."""
    first = headers.get("Via")
    if first is None:
        return headers.prepended("Via", str(via))
    rest = split_list(first)[1:]
    return headers.replaced_first("Via", ", ".join([str(via), *rest]))
