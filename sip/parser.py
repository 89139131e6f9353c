"""Bytes to messages: UDP datagrams and TCP/TLS byte streams (RFC 3261 §7, §18.3).

Only the start line, header splitting and Content-Length are parsed here;
structured header values are parsed on first access (see sip.message).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from sip.errors import SipFramingError, SipParseError
from sip.fields import parse_uint
from sip.grammar import WSP, is_token
from sip.headers import KNOWN_SPELLINGS, Headers
from sip.message import SIP_VERSION, Request, Response
from sip.uri import Uri, parse_uri


@dataclass(frozen=True, slots=True, kw_only=True)
class ParserLimits:
    """Bounds that keep hostile input from costing more than a few milliseconds."""

    max_datagram: int = 65_535
    max_header_bytes: int = 32_768
    max_line_length: int = 8_192
    max_headers: int = 256
    max_content_length: int = 1_048_576


DEFAULT_LIMITS = ParserLimits()

_HEAD_END = re.compile(rb"\r?\n\r?\n")
_VERSION = re.compile(r"SIP/[0-9]{1,3}\.[0-9]{1,3}", re.IGNORECASE)
_STATUS = re.compile(r"[0-9]{3}")
# name (a token), optional whitespace, colon, value
_HEADER_LINE = re.compile(r"([A-Za-z0-9\-.!%*_+`'~]+)[ \t]*:(.*)", re.DOTALL)
# Request-URIs by their text (the same one opens many requests: a dialog's remote target, a
# trunk's number); URIs are immutable, the parse pure, errors not kept. Bounded.
_parse_request_uri = lru_cache(maxsize=1024)(parse_uri)


@dataclass(frozen=True, slots=True, kw_only=True)
class KeepAlive:
    """A CRLFCRLF ping on a stream (RFC 5626 §4.4.1); answer with one CRLF."""


@dataclass(frozen=True, slots=True, kw_only=True)
class _StartLine:
    method: str | None = None
    uri: Uri | None = None
    status: int = 0
    reason: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class _Head:
    start: _StartLine | None
    start_error: SipParseError | None
    is_request: bool
    headers: Headers
    content_length: int | None


def _check_version(version: str, is_request: bool) -> None:
    if not _VERSION.fullmatch(version):
        raise SipParseError(f"invalid SIP-Version {version[:20]!r}")
    if version.upper() != SIP_VERSION:
        raise SipParseError(f"unsupported SIP-Version {version}", status=505 if is_request else 400)


def _parse_start_line(line: str, is_request: bool) -> _StartLine:
    if not is_request:
        parts = line.split(" ", 2)
        if len(parts) < 2:
            raise SipParseError(f"Status-Line {line[:60]!r} lacks a status code")
        _check_version(parts[0], False)
        if not _STATUS.fullmatch(parts[1]) or not 100 <= int(parts[1]) <= 699:
            raise SipParseError(f"invalid Status-Code {parts[1][:20]!r} in Status-Line")
        reason = parts[2] if len(parts) == 3 else ""
        if any(ord(ch) < 0x20 and ch != "\t" for ch in reason):
            raise SipParseError("control character in Reason-Phrase")
        return _StartLine(status=int(parts[1]), reason=reason)
    parts = line.split(" ")
    if len(parts) != 3 or not all(parts):
        raise SipParseError(
            f"Request-Line {line[:80]!r} is not 'Method SP Request-URI SP SIP-Version'"
        )
    method, uri_text, version = parts
    if not is_token(method):
        raise SipParseError(f"Request-Line method {method[:40]!r} is not a token")
    _check_version(version, True)
    try:
        uri = _parse_request_uri(uri_text)
    except SipParseError as exc:
        raise SipParseError(f"invalid Request-URI: {exc}") from exc
    return _StartLine(method=method, uri=uri)


def _split_lines(head: bytes, limits: ParserLimits) -> list[str]:
    text = head.decode("utf-8", "surrogateescape")
    lines = text.split("\r\n")
    breaks = len(lines) - 1
    if (text.count("\r") == breaks and text.count("\n") == breaks
            and max(map(len, lines)) <= limits.max_line_length):
        return lines  # every line ends in CRLF and none is too long: the common case
    lines = text.split("\n")
    for i, line in enumerate(lines):
        if line.endswith("\r"):
            line = line[:-1]
            lines[i] = line
        if "\r" in line:
            raise SipParseError(f"bare CR in line {i + 1}")
        if len(line) > limits.max_line_length:
            raise SipParseError(
                f"line {i + 1} longer than {limits.max_line_length} characters", status=513
            )
    return lines


def _parse_header_lines(lines: list[str], limits: ParserLimits) -> Headers:
    fields: list[tuple[str, str]] = []
    folded: dict[int, list[str]] = {}  # field index -> its continuation parts (rare)
    for number, line in enumerate(lines, start=2):
        if not line:
            continue
        if line[0] in WSP:
            if not fields:
                raise SipParseError(f"line {number}: continuation line before any header")
            folded.setdefault(len(fields) - 1, []).append(line.strip(WSP))
            continue
        name, colon, value = line.partition(":")
        if not colon or name not in KNOWN_SPELLINGS:  # else a token right up to the colon:
            match = _HEADER_LINE.fullmatch(line)  # what this pattern would match
            if match is None:
                raise SipParseError(f"line {number}: {line[:60]!r} is not 'name: value'")
            name, value = match[1], match[2]
        if len(fields) >= limits.max_headers:
            raise SipParseError(f"more than {limits.max_headers} header fields", status=513)
        fields.append((name, value.strip(WSP)))
    for i, parts in folded.items():
        name, first = fields[i]
        fields[i] = (name, " ".join(p for p in (first, *parts) if p).strip(WSP))
    return Headers(fields)  # names are made canonical there


def _content_length(headers: Headers, limits: ParserLimits) -> int | None:
    values = headers.get_all("Content-Length")
    if not values:
        return None
    if len(values) > 1 or "," in values[0]:
        raise SipParseError("more than one Content-Length value", header="Content-Length")
    value = values[0].strip(WSP)
    if value.isascii() and value.isdigit() and int(value[:12]) > limits.max_content_length:
        raise SipParseError(
            f"Content-Length exceeds {limits.max_content_length}",
            header="Content-Length",
            status=413,
        )
    try:
        return parse_uint(value, "Content-Length")
    except SipParseError as exc:
        raise SipParseError(str(exc), header="Content-Length") from exc


def _parse_head(head: bytes, limits: ParserLimits) -> _Head:
    """Header section to a _Head; raises when the section cannot be split into fields.

    Start-line errors are recorded rather than raised so that the error can
    carry the headers needed for a response.
    """
    if len(head) > limits.max_header_bytes:
        raise SipParseError(
            f"header section larger than {limits.max_header_bytes} bytes", status=513
        )
    lines = _split_lines(head, limits)
    first = lines[0]
    is_request = not first[:4].upper().startswith("SIP/")
    start: _StartLine | None = None
    start_error: SipParseError | None = None
    try:
        start = _parse_start_line(first, is_request)
    except SipParseError as exc:
        start_error = exc
    try:
        headers = _parse_header_lines(lines[1:], limits)
    except SipParseError as exc:
        raise exc.with_context(headers=None, is_request=is_request) from exc
    try:
        length = _content_length(headers, limits)
    except SipParseError as exc:
        raise exc.with_context(headers=headers, is_request=is_request) from exc
    return _Head(
        start=start,
        start_error=start_error,
        is_request=is_request,
        headers=headers,
        content_length=length,
    )


def _assemble(head: _Head, body: bytes) -> Request | Response:
    if head.start is None:
        assert head.start_error is not None
        raise head.start_error.with_context(headers=head.headers, is_request=head.is_request)
    if head.is_request:
        assert head.start.method is not None and head.start.uri is not None
        return Request(
            method=head.start.method, uri=head.start.uri, headers=head.headers, body=body
        )
    return Response(
        status=head.start.status, reason=head.start.reason, headers=head.headers, body=body
    )


def parse_datagram(data: bytes, limits: ParserLimits = DEFAULT_LIMITS) -> Request | Response:
    """Parse one UDP datagram.

    Octets beyond Content-Length are ignored; without Content-Length the body
    runs to the end of the datagram (§18.3). A datagram that ends without the
    empty line is accepted as a header-only message.
    """
    if len(data) > limits.max_datagram:
        raise SipParseError(f"datagram larger than {limits.max_datagram} bytes", status=513)
    start = len(data) - len(data.lstrip(b"\r\n"))
    if start == len(data):
        raise SipParseError("empty message")
    match = _HEAD_END.search(data, start, start + limits.max_header_bytes + 4)
    if match is None:
        head, body_start = data[start:].rstrip(b"\r\n"), len(data)
    else:
        head, body_start = data[start : match.start()], match.end()
    parsed = _parse_head(head, limits)
    available = len(data) - body_start
    if parsed.content_length is None:
        body = data[body_start:]
    elif parsed.content_length > available:
        raise SipParseError(
            f"Content-Length {parsed.content_length} exceeds the {available} body bytes received",
            header="Content-Length",
            headers=parsed.headers,
            is_request=parsed.is_request,
        )
    else:
        body = data[body_start : body_start + parsed.content_length]
    return _assemble(parsed, body)


def is_keepalive(data: bytes) -> bool:
    """A datagram made only of CRLFs, as some UAs send to keep NAT bindings open."""
    return bool(data) and not data.strip(b"\r\n")


StreamItem = Request | Response | KeepAlive | SipParseError


class StreamFramer:
    """Splits a TCP/TLS byte stream into messages (RFC 3261 §18.3).

    ``feed`` returns complete items in order: messages, keep-alive pings, and
    parse errors as values. A :class:`SipFramingError` means message
    boundaries are lost; it is the last item ever returned and the transport
    should close the connection (after answering, if ``can_respond``).
    Other :class:`SipParseError` items affect one message only.
    """

    def __init__(self, limits: ParserLimits = DEFAULT_LIMITS) -> None:
        self._limits = limits
        self._buffer = bytearray()
        self._scan_from = 0
        self._pending: _Head | None = None
        self._broken = False

    @property
    def broken(self) -> bool:
        return self._broken

    @property
    def buffered(self) -> int:
        return len(self._buffer)

    def feed(self, data: bytes) -> list[StreamItem]:
        if self._broken:
            return []
        self._buffer += data
        out: list[StreamItem] = []
        while (item := self._next()) is not None:
            out.append(item)
            if isinstance(item, SipFramingError):
                self._broken = True
                self._buffer.clear()
                break
        return out

    def _next(self) -> StreamItem | None:
        buf = self._buffer
        if self._pending is None:
            while buf.startswith(b"\r\n"):
                if buf.startswith(b"\r\n\r\n"):
                    del buf[:4]
                    return KeepAlive()
                if len(buf) < 4 and b"\r\n\r\n".startswith(bytes(buf)):
                    return None
                del buf[:2]
            end = buf.find(b"\r\n\r\n", self._scan_from)
            if end < 0:
                if len(buf) > self._limits.max_header_bytes:
                    return SipFramingError("header section too large", status=513)
                self._scan_from = max(0, len(buf) - 3)
                return None
            head = bytes(buf[:end])
            del buf[: end + 4]
            self._scan_from = 0
            try:
                self._pending = _parse_head(head, self._limits)
            except SipParseError as exc:
                return SipFramingError(
                    str(exc), header=exc.header, status=exc.status,
                    headers=exc.headers, is_request=exc.is_request,
                )  # fmt: skip
        need = self._pending.content_length or 0
        if len(buf) < need:
            return None
        body = bytes(buf[:need])
        del buf[:need]
        head_info, self._pending = self._pending, None
        try:
            return _assemble(head_info, body)
        except SipParseError as exc:
            return exc
