"""Lexical building blocks of RFC 3261 §25: tokens, quoted strings, lists, parameters.

Header values reach these functions already unfolded (every CRLF+WSP folded
to one SP), so "LWS" here is just runs of SP/HTAB.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from sip.errors import SipParseError

ALPHANUM = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789")
TOKEN_CHARS = ALPHANUM | frozenset("-.!%*_+`'~")
# word (RFC 3261 §25.1) is used by Call-ID; it is token plus separators that
# cannot confuse a header parser.
WORD_CHARS = TOKEN_CHARS | frozenset('()<>:\\"/[]?{}')
# Generic parameter values are token / host / quoted-string; host adds the
# IPv6 reference characters.
PARAM_VALUE_CHARS = TOKEN_CHARS | frozenset(":[]")
WSP = " \t"

# The same character classes as regular expressions: one C-level match per check instead of
# a Python loop over characters (these run several times per header of every message).
_TOKEN_CLASS = r"A-Za-z0-9\-.!%*_+`'~"
_TOKEN = re.compile(f"[{_TOKEN_CLASS}]+")
_WORD = re.compile(f"[{_TOKEN_CLASS}()<>:\\\\\"/\\[\\]?{{}}]+")


def is_token(text: str) -> bool:
    return _TOKEN.fullmatch(text) is not None


def is_word(text: str) -> bool:
    return _WORD.fullmatch(text) is not None


def skip_ws(text: str, pos: int) -> int:
    end = len(text)
    while pos < end and text[pos] in WSP:
        pos += 1
    return pos


def read_token(text: str, pos: int, what: str) -> tuple[str, int]:
    """A token starting at ``pos``; raises naming ``what`` when there is none."""
    match = _TOKEN.match(text, pos)
    if match is None:
        found = repr(text[pos]) if pos < len(text) else "end of value"
        raise SipParseError(f"expected {what} (a token) at column {pos}, found {found}")
    return match[0], match.end()


def _is_qdtext(ch: str) -> bool:
    code = ord(ch)
    # qdtext: LWS / %x21 / %x23-5B / %x5D-7E / UTF8-NONASCII. Raw bytes that
    # were not valid UTF-8 arrive as lone surrogates and count as non-ASCII.
    return ch in WSP or code == 0x21 or 0x23 <= code <= 0x5B or 0x5D <= code <= 0x7E or code > 0x7F


def read_quoted(text: str, pos: int) -> tuple[str, int]:
    """Unescaped content of the quoted-string at ``pos`` and the index after it."""
    if pos >= len(text) or text[pos] != '"':
        raise SipParseError(f"expected '\"' at column {pos}")
    out: list[str] = []
    i = pos + 1
    end = len(text)
    while i < end:
        ch = text[i]
        if ch == '"':
            return "".join(out), i + 1
        if ch == "\\":
            if i + 1 >= end:
                break
            escaped = text[i + 1]
            if escaped in "\r\n" or ord(escaped) > 0x7F:
                raise SipParseError(f"invalid quoted-pair at column {i}")
            out.append(escaped)
            i += 2
            continue
        if not _is_qdtext(ch):
            raise SipParseError(f"control character {ch!r} in quoted string at column {i}")
        out.append(ch)
        i += 1
    raise SipParseError("unterminated quoted string")


def quote(text: str) -> str:
    """``text`` as a quoted-string, escaping what qdtext cannot carry."""
    out = ['"']
    for ch in text:
        if ch in "\r\n":
            raise ValueError("CR and LF cannot appear in a SIP quoted string")
        if ch in '"\\' or (ord(ch) < 0x20 and ch != "\t") or ord(ch) == 0x7F:
            out.append("\\")
        out.append(ch)
    out.append('"')
    return "".join(out)


def unquote(value: str) -> str:
    """The content of a parameter value, unescaped if it is a quoted-string."""
    if value.startswith('"'):
        content, end = read_quoted(value, 0)
        if end != len(value):
            raise SipParseError(f"text after quoted string in {value!r}")
        return content
    return value


def split_list(value: str) -> list[str]:
    """Split a header value on commas outside quoted strings and <...> (§7.3.1).

    Elements are stripped; empty elements are returned so callers can decide
    whether the grammar allows them.
    """
    if '"' not in value:  # the common cases, without a loop over characters
        if "," not in value:
            if value.rfind("<") > value.rfind(">"):
                raise SipParseError("unterminated '<' in header value")
            return [value.strip(WSP)]
        if "<" not in value:  # nothing can hide a comma: split at each
            return [part.strip(WSP) for part in value.split(",")]
    parts: list[str] = []
    start = 0
    i = 0
    end = len(value)
    in_angle = False
    while i < end:
        ch = value[i]
        if ch == '"':
            _, i = read_quoted(value, i)
            continue
        if ch == "<":
            in_angle = True
        elif ch == ">":
            in_angle = False
        elif ch == "," and not in_angle:
            parts.append(value[start:i].strip(WSP))
            start = i + 1
        i += 1
    if in_angle:
        raise SipParseError("unterminated '<' in header value")
    parts.append(value[start:].strip(WSP))
    return parts


@dataclass(frozen=True, slots=True)
class Params:
    """Ordered ``;name[=value]`` parameters; names compare case-insensitively.

    Values are kept as written (quoted strings keep their quotes) so that a
    message re-serializes to what was received; use :func:`unquote` to read
    a quoted value.
    """

    items: tuple[tuple[str, str | None], ...] = ()

    def _index(self, name: str) -> int:
        lowered = None
        for i, (key, _) in enumerate(self.items):
            if key == name:  # spelt as asked, as nearly always: no lowering
                return i
            if lowered is None:
                lowered = name.lower()
            if key.lower() == lowered:
                return i
        return -1

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self._index(name) >= 0

    def __iter__(self) -> Iterator[tuple[str, str | None]]:
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)

    def get(self, name: str) -> str | None:
        """The value of ``name``; None when absent or given without a value."""
        i = self._index(name)
        return None if i < 0 else self.items[i][1]

    def set(self, name: str, value: str | None = None) -> Params:
        i = self._index(name)
        if i < 0:
            return Params((*self.items, (name, value)))
        items = list(self.items)
        items[i] = (items[i][0], value)
        return Params(tuple(items))

    def remove(self, name: str) -> Params:
        lowered = name.lower()
        return Params(tuple(item for item in self.items if item[0].lower() != lowered))

    def to_text(self) -> str:
        if not self.items:
            return ""
        return "".join(f";{k}" if v is None else f";{k}={v}" for k, v in self.items)


EMPTY_PARAMS = Params()

_TOKEN_RE = r"[A-Za-z0-9\-.!%*_+`'~]+"
_SIMPLE_PARAM = re.compile(
    rf"[ \t]*;[ \t]*({_TOKEN_RE})"
    rf"(?:[ \t]*=[ \t]*([A-Za-z0-9\-.!%*_+`'~:\[\]]+|\"[^\"\\\x00-\x08\x0a-\x1f\x7f]*\"))?"
    r"(?=[ \t]*(?:;|$))"
)


def parse_params(text: str, pos: int, where: str) -> tuple[Params, int]:
    """Parse ``*( SEMI generic-param )`` from ``pos``; stops at the first non-';'.

    ``where`` names the construct for error messages (e.g. "Via").
    """
    items: list[tuple[str, str | None]] = []
    end = len(text)
    # Fast path for well-formed parameters; anything unusual falls through
    # to the character loop below, which also produces the error messages.
    while (match := _SIMPLE_PARAM.match(text, pos)) is not None:
        items.append((match[1], match[2]))
        pos = match.end()
    pos = skip_ws(text, pos)
    while pos < end and text[pos] == ";":
        pos = skip_ws(text, pos + 1)
        name, pos = read_token(text, pos, f"{where} parameter name")
        pos = skip_ws(text, pos)
        value: str | None = None
        if pos < end and text[pos] == "=":
            pos = skip_ws(text, pos + 1)
            if pos < end and text[pos] == '"':
                start = pos
                _, pos = read_quoted(text, pos)
                value = text[start:pos]
            else:
                start = pos
                while pos < end and text[pos] in PARAM_VALUE_CHARS:
                    pos += 1
                if pos == start:
                    raise SipParseError(f"{where} parameter {name!r} has an empty value")
                value = text[start:pos]
            pos = skip_ws(text, pos)
        items.append((name, value))
    return Params(tuple(items)), pos
