"""Header names (compact forms, canonical spelling) and the ordered header container."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import TypeVar, cast

from sip.errors import SipParseError
from sip.grammar import split_list

T = TypeVar("T")

# Bounds the cost of parsing one list header (each value is a URI parse);
# no sane Via chain or Contact set comes close.
MAX_LIST_VALUES = 128

# RFC 3261 §7.3.3 plus the compact forms registered by later RFCs.
COMPACT_FORMS = {
    "a": "Accept-Contact",
    "b": "Referred-By",
    "c": "Content-Type",
    "d": "Request-Disposition",
    "e": "Content-Encoding",
    "f": "From",
    "i": "Call-ID",
    "j": "Reject-Contact",
    "k": "Supported",
    "l": "Content-Length",
    "m": "Contact",
    "n": "Identity-Info",
    "o": "Event",
    "r": "Refer-To",
    "s": "Subject",
    "t": "To",
    "u": "Allow-Events",
    "v": "Via",
    "x": "Session-Expires",
    "y": "Identity",
}

_KNOWN_NAMES = (
    "Accept", "Accept-Contact", "Accept-Encoding", "Accept-Language", "Alert-Info", "Allow",
    "Allow-Events", "Authentication-Info", "Authorization", "Call-ID", "Call-Info", "Contact",
    "Content-Disposition", "Content-Encoding", "Content-Language", "Content-Length",
    "Content-Type", "CSeq", "Date", "Error-Info", "Event", "Expires", "From", "Identity",
    "Identity-Info", "In-Reply-To", "Max-Forwards", "Min-Expires", "Min-SE", "MIME-Version",
    "Organization", "P-Asserted-Identity", "P-Preferred-Identity", "Path", "Priority",
    "Proxy-Authenticate", "Proxy-Authorization", "Proxy-Require", "RAck", "Reason",
    "Record-Route", "Refer-To", "Referred-By", "Reject-Contact", "Replaces", "Reply-To",
    "Request-Disposition", "Require", "Retry-After", "Route", "RSeq", "Server",
    "Service-Route", "Session-Expires", "Subject", "Subscription-State", "Supported",
    "Timestamp", "To", "Unsupported", "User-Agent", "Via", "Warning", "WWW-Authenticate",
)  # fmt: skip
_CANONICAL = {name.lower(): name for name in _KNOWN_NAMES}

# Headers whose grammar is a comma-separated list (§7.3.1). Others, such as
# Date or WWW-Authenticate, contain commas inside one value and must not be split.
LIST_HEADERS = frozenset(
    name.lower()
    for name in (
        "Accept", "Accept-Contact", "Accept-Encoding", "Accept-Language", "Alert-Info", "Allow",
        "Allow-Events", "Call-Info", "Contact", "Content-Encoding", "Content-Language",
        "Error-Info", "In-Reply-To", "P-Asserted-Identity", "P-Preferred-Identity", "Path",
        "Proxy-Require", "Record-Route", "Reject-Contact", "Reply-To", "Require", "Route",
        "Service-Route", "Supported", "Unsupported", "Via", "Warning",
    )
)  # fmt: skip


def canonical_name(name: str) -> str:
    """Full, conventionally capitalised name for ``name`` (compact forms expanded).

    Unknown extension headers keep their spelling; lookups ignore case anyway.
    """
    lowered = name.lower()
    if len(lowered) == 1 and lowered in COMPACT_FORMS:
        return COMPACT_FORMS[lowered]
    return _CANONICAL.get(lowered, name)


@dataclass(frozen=True, slots=True)
class HeaderField:
    name: str
    value: str


class Headers:
    """An immutable, ordered sequence of header fields with lazy structured views.

    Field order is kept (it matters for Via, Route and Record-Route). Parsed
    structured values are cached per instance; "modifying" methods return a
    new instance.
    """

    __slots__ = ("_by_name", "_cache", "_fields")

    def __init__(self, fields: Iterable[HeaderField | tuple[str, str]] = ()) -> None:
        normalized: list[HeaderField] = []
        by_name: dict[str, list[str]] = {}
        for field in fields:
            name, value = (field.name, field.value) if isinstance(field, HeaderField) else field
            name = canonical_name(name)
            normalized.append(HeaderField(name, value))
            by_name.setdefault(name.lower(), []).append(value)
        self._fields = tuple(normalized)
        self._by_name = by_name
        self._cache: dict[tuple[str, object], object] = {}

    @property
    def fields(self) -> tuple[HeaderField, ...]:
        return self._fields

    def __iter__(self) -> Iterator[HeaderField]:
        return iter(self._fields)

    def __len__(self) -> int:
        return len(self._fields)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and canonical_name(name).lower() in self._by_name

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Headers) and self._fields == other._fields

    def __hash__(self) -> int:
        return hash(self._fields)

    def __repr__(self) -> str:
        return f"Headers({[(f.name, f.value) for f in self._fields]!r})"

    def get(self, name: str) -> str | None:
        """Value of the first field called ``name`` (any spelling), or None."""
        values = self._by_name.get(canonical_name(name).lower())
        return values[0] if values else None

    def get_all(self, name: str) -> list[str]:
        """Raw values of every field called ``name``, in order."""
        return list(self._by_name.get(canonical_name(name).lower(), ()))

    def count(self, name: str) -> int:
        return len(self._by_name.get(canonical_name(name).lower(), ()))

    def values(self, name: str) -> list[str]:
        """Every value of ``name``; list headers are split on top-level commas."""
        raw = self.get_all(name)
        if canonical_name(name).lower() not in LIST_HEADERS:
            return raw
        out: list[str] = []
        for value in raw:
            try:
                out.extend(split_list(value))
            except SipParseError as exc:
                raise SipParseError(f"{canonical_name(name)}: {exc}", header=name) from exc
        if len(out) > MAX_LIST_VALUES:
            raise SipParseError(
                f"{canonical_name(name)} has more than {MAX_LIST_VALUES} values", header=name
            )
        return out

    def parsed(self, name: str, parser: Callable[[Headers], T]) -> T:
        """``parser(self)`` computed once per instance and cached under ``name``.

        Parse errors are re-raised naming the header.
        """
        key = (name, parser)
        if key in self._cache:
            return cast(T, self._cache[key])
        try:
            result = parser(self)
        except SipParseError as exc:
            if exc.header is not None:
                raise
            raise SipParseError(
                f"malformed {name} header: {exc}", header=name, status=exc.status
            ) from exc
        self._cache[key] = result
        return result

    # Builders. Each returns a new Headers.

    def appended(self, name: str, value: str) -> Headers:
        return Headers((*self._fields, HeaderField(name, value)))

    def prepended(self, name: str, value: str) -> Headers:
        return Headers((HeaderField(name, value), *self._fields))

    def removed(self, name: str) -> Headers:
        lowered = canonical_name(name).lower()
        return Headers(f for f in self._fields if f.name.lower() != lowered)

    def replaced(self, name: str, value: str) -> Headers:
        """One ``name`` field with ``value``, at the position of the first old one."""
        lowered = canonical_name(name).lower()
        out: list[HeaderField] = []
        placed = False
        for f in self._fields:
            if f.name.lower() == lowered:
                if not placed:
                    out.append(HeaderField(f.name, value))
                    placed = True
                continue
            out.append(f)
        if not placed:
            out.append(HeaderField(name, value))
        return Headers(out)

    def replaced_first(self, name: str, value: str) -> Headers:
        """Replace only the first ``name`` field (e.g. the top Via)."""
        lowered = canonical_name(name).lower()
        out = list(self._fields)
        for i, f in enumerate(out):
            if f.name.lower() == lowered:
                out[i] = HeaderField(f.name, value)
                return Headers(out)
        return Headers((*out, HeaderField(name, value)))
