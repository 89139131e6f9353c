"""Structured header values: Via, name-addr, CSeq, media types, scalars (RFC 3261 §20, §25)."""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from sip.errors import SipParseError
from sip.grammar import (
    EMPTY_PARAMS,
    WSP,
    Params,
    is_token,
    parse_params,
    quote,
    read_quoted,
    read_token,
    skip_ws,
)
from sip.uri import Uri, parse_port, parse_uri, split_hostport, valid_ipv4, valid_ipv6

MAGIC_COOKIE = "z9hG4bK"
_TOKEN = r"[A-Za-z0-9\-.!%*_+`'~]+"
# "SIP/2.0/UDP host[:port]" (host a name, IPv4 address or IPv6 reference) written without
# optional whitespace, followed by parameters or nothing: what nearly every peer sends.
# Anything else takes the general path.
_PLAIN_VIA = re.compile(rf"({_TOKEN})/({_TOKEN})/({_TOKEN}) "
                        r"((?:\[[0-9A-Fa-f:.]+\]|[^ \t;:,\[\]]+)(?::[0-9]+)?)(?=;|\Z)")
_CSEQ_SPLIT = re.compile(r"[ \t]+")
_DIGITS = frozenset("0123456789")
MAX_CSEQ = 2**32 - 1
_MAX_INT_DIGITS = 10


def parse_uint(text: str, what: str, maximum: int = MAX_CSEQ) -> int:
    """A decimal ``1*DIGIT`` no larger than ``maximum``."""
    text = text.strip(WSP)
    if not text or not text.isascii() or not text.isdigit():
        raise SipParseError(f"{what} must be a non-negative integer, got {text[:40]!r}")
    digits = text.lstrip("0") or "0"
    if len(digits) > _MAX_INT_DIGITS or int(digits) > maximum:
        raise SipParseError(f"{what} {text[:40]} exceeds {maximum}")
    return int(digits)


@dataclass(frozen=True, slots=True, kw_only=True)
class Via:
    """One via-parm (§20.42)."""

    transport: str = "UDP"
    host: str
    port: int | None = None
    params: Params = EMPTY_PARAMS
    protocol: str = "SIP"
    version: str = "2.0"

    def __str__(self) -> str:
        port = "" if self.port is None else f":{self.port}"
        return (
            f"{self.protocol}/{self.version}/{self.transport} "
            f"{self.host}{port}{self.params.to_text()}"
        )

    @property
    def branch(self) -> str | None:
        return self.params.get("branch")

    @property
    def is_rfc3261_branch(self) -> bool:
        """Branch carries the magic cookie and an actual identifier (RFC 4475 §3.2.1)."""
        branch = self.branch
        return branch is not None and branch.startswith(MAGIC_COOKIE) and len(branch) > 7

    @property
    def sent_by(self) -> str:
        return self.host if self.port is None else f"{self.host}:{self.port}"

    @property
    def received(self) -> str | None:
        """The received address without IPv6 brackets (RFC 5118 §4.5 allows both)."""
        value = self.params.get("received")
        if value and value.startswith("["):
            return value[1:-1]
        return value

    @property
    def rport_requested(self) -> bool:
        return "rport" in self.params

    @property
    def rport(self) -> int | None:
        value = self.params.get("rport")
        return int(value) if value else None

    @property
    def maddr(self) -> str | None:
        return self.params.get("maddr")

    @property
    def reliable(self) -> bool:
        return self.transport.upper() != "UDP"

    def with_param(self, name: str, value: str | None = None) -> Via:
        return replace(self, params=self.params.set(name, value))


def _validate_via_params(params: Params) -> None:
    for name, value in params:
        lowered = name.lower()
        if lowered == "received":
            bare = value[1:-1] if value and value.startswith("[") and value.endswith("]") else value
            if not bare or not (valid_ipv4(bare) or valid_ipv6(bare)):
                raise SipParseError(f"Via received={value!r} is not an IP address")
        elif lowered == "rport":
            if value is not None:
                parse_port(value, "Via rport")
        elif lowered == "ttl":
            parse_uint(value or "", "Via ttl", 255)
        elif lowered in ("branch", "maddr") and not value:
            raise SipParseError(f"Via {name} parameter needs a value")


def parse_via(text: str) -> Via:
    """Parse one via-parm (already split from a comma list)."""
    plain = _PLAIN_VIA.match(text)
    if plain is not None:
        host, port = split_hostport(plain[4])
        params, pos = parse_params(text, plain.end(), "Via")
        if pos != len(text):
            raise SipParseError(f"unexpected {text[pos : pos + 20]!r} in Via at column {pos}")
        _validate_via_params(params)
        return Via(protocol=plain[1], version=plain[2], transport=plain[3].upper(), host=host,
                   port=port, params=params)
    return parse_via_general(text)


def parse_via_general(text: str) -> Via:
    """:func:`parse_via` without its shortcut for plain Vias (which must agree with it)."""
    pos = skip_ws(text, 0)
    protocol, pos = read_token(text, pos, "Via protocol name")
    parts = [protocol]
    for what in ("Via protocol version", "Via transport"):
        pos = skip_ws(text, pos)
        if pos >= len(text) or text[pos] != "/":
            raise SipParseError(f"expected '/' in Via sent-protocol at column {pos}")
        pos = skip_ws(text, pos + 1)
        token, pos = read_token(text, pos, what)
        parts.append(token)
    after_protocol = pos
    pos = skip_ws(text, pos)
    if pos == after_protocol:
        raise SipParseError("missing space between Via sent-protocol and sent-by")
    start = pos
    sent_by = text[start:].split(";", 1)[0].split(",", 1)[0]
    if not sent_by.startswith("[") and sent_by.count(":") > 1:
        raise SipParseError(f"Via sent-by {sent_by.strip(WSP)[:60]!r}: an IPv6 address must "
                            "be enclosed in brackets (RFC 3261 §25 IPv6reference)")
    if pos < len(text) and text[pos] == "[":
        close = text.find("]", pos)
        if close < 0:
            raise SipParseError("unterminated IPv6 reference in Via")
        pos = close + 1
    while pos < len(text) and text[pos] not in WSP + ";:,":
        pos += 1
    hostport = text[start:pos]
    pos = skip_ws(text, pos)
    if pos < len(text) and text[pos] == ":":
        pos = skip_ws(text, pos + 1)
        port_start = pos
        while pos < len(text) and text[pos] in _DIGITS:
            pos += 1
        hostport += ":" + text[port_start:pos]
    host, port = split_hostport(hostport)
    params, pos = parse_params(text, pos, "Via")
    if pos != len(text):
        raise SipParseError(f"unexpected {text[pos : pos + 20]!r} in Via at column {pos}")
    _validate_via_params(params)
    return Via(
        protocol=parts[0], version=parts[1], transport=parts[2].upper(),
        host=host, port=port, params=params,
    )  # fmt: skip


@dataclass(frozen=True, slots=True, kw_only=True)
class NameAddr:
    """A name-addr or addr-spec with header parameters (From, To, Contact, Route...)."""

    uri: Uri
    display_name: str | None = None
    params: Params = EMPTY_PARAMS

    def __str__(self) -> str:
        name = "" if self.display_name is None else quote(self.display_name) + " "
        return f"{name}<{self.uri}>{self.params.to_text()}"

    @property
    def tag(self) -> str | None:
        return self.params.get("tag")

    def with_tag(self, tag: str) -> NameAddr:
        return replace(self, params=self.params.set("tag", tag))

    def with_param(self, name: str, value: str | None = None) -> NameAddr:
        return replace(self, params=self.params.set(name, value))


def _parse_uri_text(text: str) -> Uri:
    if not text or " " in text or "\t" in text:
        raise SipParseError(f"whitespace or empty URI in {text[:80]!r}")
    return parse_uri(text)


def parse_name_addr(text: str) -> NameAddr:
    pos = skip_ws(text, 0)
    display: str | None = None
    if pos < len(text) and text[pos] == '"':
        display, pos = read_quoted(text, pos)
        pos = skip_ws(text, pos)
        if pos >= len(text) or text[pos] != "<":
            raise SipParseError("display name must be followed by <URI>")
    lt = text.find("<", pos)
    if lt >= 0:
        if display is None and lt > pos:
            words = text[pos:lt].split()
            bad = next((w for w in words if not is_token(w)), None)
            if bad is not None:
                raise SipParseError(f"display name word {bad!r} must be quoted")
            display = " ".join(words) if words else None
        gt = text.find(">", lt)
        if gt < 0:
            raise SipParseError("missing '>' after URI")
        uri = _parse_uri_text(text[lt + 1 : gt])
        pos = gt + 1
    else:
        end = text.find(";", pos)
        end = len(text) if end < 0 else end
        uri_text = text[pos:end].rstrip(WSP)
        if any(ch in uri_text for ch in ",?"):
            raise SipParseError("a URI containing ',' or '?' must be enclosed in <>")
        uri = _parse_uri_text(uri_text)
        pos = end
    params, pos = parse_params(text, pos, "header")
    if pos != len(text):
        raise SipParseError(f"unexpected {text[pos : pos + 20]!r} at column {pos}")
    return NameAddr(uri=uri, display_name=display, params=params)


@dataclass(frozen=True, slots=True, kw_only=True)
class CSeq:
    seq: int
    method: str

    def __str__(self) -> str:
        return f"{self.seq} {self.method}"


def parse_cseq(text: str) -> CSeq:
    parts = _CSEQ_SPLIT.split(text.strip(WSP))
    if len(parts) != 2:
        raise SipParseError(f"CSeq {text[:40]!r} is not 'number method'")
    number, method = parts
    if not is_token(method):
        raise SipParseError(f"CSeq method {method!r} is not a token")
    return CSeq(seq=parse_uint(number, "CSeq number"), method=method)


@dataclass(frozen=True, slots=True, kw_only=True)
class MediaType:
    type: str
    subtype: str
    params: Params = EMPTY_PARAMS

    def __str__(self) -> str:
        return f"{self.type}/{self.subtype}{self.params.to_text()}"

    @property
    def mime(self) -> str:
        return f"{self.type}/{self.subtype}".lower()


def parse_media_type(text: str, *, allow_wildcard: bool = False) -> MediaType:
    """media-type (§20.15) or, for Accept, a media-range with ``*``."""
    pos = skip_ws(text, 0)
    if allow_wildcard and text[pos : pos + 1] == "*":
        type_, pos = "*", pos + 1
    else:
        type_, pos = read_token(text, pos, "media type")
    pos = skip_ws(text, pos)
    if pos >= len(text) or text[pos] != "/":
        raise SipParseError(f"media type {text[:40]!r} lacks '/'")
    pos = skip_ws(text, pos + 1)
    if allow_wildcard and text[pos : pos + 1] == "*":
        subtype, pos = "*", pos + 1
    else:
        subtype, pos = read_token(text, pos, "media subtype")
    params, pos = parse_params(text, pos, "media type")
    if pos != len(text):
        raise SipParseError(f"unexpected {text[pos : pos + 20]!r} in media type")
    return MediaType(type=type_, subtype=subtype, params=params)


_DATE_RE = re.compile(
    r"(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d{2} "
    r"(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4} "
    r"([01]\d|2[0-3]):[0-5]\d:[0-5]\d GMT",
    re.ASCII,
)


def validate_date(text: str) -> str:
    """``text`` if it is an RFC 1123 date in GMT as §20.17 requires."""
    if not _DATE_RE.fullmatch(text.strip(WSP)):
        raise SipParseError(f"Date {text[:40]!r} is not an RFC 1123 date in GMT")
    return text


def parse_option_tags(values: list[str]) -> tuple[str, ...]:
    tags: list[str] = []
    for value in values:
        if not value:
            continue
        if not is_token(value):
            raise SipParseError(f"option tag {value[:40]!r} is not a token")
        tags.append(value)
    return tuple(tags)
