"""Header names (compact forms, canonical spelling) and the ordered header container."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import TypeVar

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
# Spellings that need no lowering: the canonical ones (what builders and most peers write)
# and the compact forms in either case.
_EXACT = {
    **{name: name for name in _KNOWN_NAMES},
    **COMPACT_FORMS,
    **{short.upper(): full for short, full in COMPACT_FORMS.items()},
}
#: header names as most messages spell them (tokens all): a parser may take them as they are
KNOWN_SPELLINGS = frozenset(_EXACT)

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
    known = _EXACT.get(name)
    if known is not None:
        return known
    lowered = name.lower()
    if len(lowered) == 1 and lowered in COMPACT_FORMS:
        return COMPACT_FORMS[lowered]
    return _CANONICAL.get(lowered, name)


_KNOWN = frozenset(_KNOWN_NAMES)
_LIST_KEYS = frozenset(name for name in _KNOWN_NAMES if name.lower() in LIST_HEADERS)


def _key(name: str) -> str:
    """Where ``name`` is indexed: its canonical spelling if known, else its lower case."""
    known = _EXACT.get(name)
    if known is not None:
        return known
    canonical = canonical_name(name)
    return canonical if canonical in _KNOWN else canonical.lower()


@dataclass(frozen=True, slots=True)
class HeaderField:
    name: str
    value: str


# HeaderField(name, value) without the Python frame of its __init__ (most of what one cost):
# the slots' own setters, which a frozen dataclass leaves alone (it guards ``__setattr__``)
_new_field = object.__new__
_set_field_name = HeaderField.__dict__["name"].__set__
_set_field_value = HeaderField.__dict__["value"].__set__


class Headers:
    """An immutable, ordered sequence of header fields with lazy structured views.

    Field order is kept (it matters for Via, Route and Record-Route). Parsed
    structured values are cached per instance; "modifying" methods return a
    new instance.
    """

    __slots__ = ("_by_name", "_cache", "_fields")

    def __init__(self, fields: Iterable[HeaderField | tuple[str, str]] = ()) -> None:
        normalized: list[HeaderField] = []
        append = normalized.append
        by_name: dict[str, tuple[str, ...]] = {}
        exact = _EXACT
        for field in fields:
            kept: HeaderField | None
            if isinstance(field, HeaderField):
                kept, name, value = field, field.name, field.value
            else:
                kept = None
                name, value = field
            canonical = exact.get(name)
            if canonical is None:
                canonical = canonical_name(name)
                key = canonical if canonical in _KNOWN else canonical.lower()
            else:
                key = canonical
            if kept is not None and canonical == name:
                append(kept)  # immutable, and spelt canonically already: kept as it is
            else:
                made = _new_field(HeaderField)  # HeaderField(canonical, value)
                _set_field_name(made, canonical)
                _set_field_value(made, value)
                append(made)
            # tuples of strings: the collector soon stops scanning them (lists it never does)
            values = by_name.get(key)
            by_name[key] = (value,) if values is None else (*values, value)
        self._fields = tuple(normalized)
        self._by_name = by_name
        # parser -> (header name, parsed value)
        self._cache: dict[Callable[[Headers], object], tuple[str, object]] = {}

    @property
    def fields(self) -> tuple[HeaderField, ...]:
        return self._fields

    def __iter__(self) -> Iterator[HeaderField]:
        return iter(self._fields)

    def __len__(self) -> int:
        return len(self._fields)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and _key(name) in self._by_name

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Headers) and self._fields == other._fields

    def __hash__(self) -> int:
        return hash(self._fields)

    def __repr__(self) -> str:
        return f"Headers({[(f.name, f.value) for f in self._fields]!r})"

    def get(self, name: str) -> str | None:
        """Value of the first field called ``name`` (any spelling), or None."""
        values = self._by_name.get(_EXACT.get(name) or _key(name))
        return values[0] if values else None

    def get_all(self, name: str) -> list[str]:
        """Raw values of every field called ``name``, in order."""
        return list(self._by_name.get(_EXACT.get(name) or _key(name), ()))

    def count(self, name: str) -> int:
        return len(self._by_name.get(_key(name), ()))

    def values(self, name: str) -> list[str]:
        """Every value of ``name``; list headers are split on top-level commas."""
        key = _EXACT.get(name) or _key(name)
        raw = self._by_name.get(key, ())
        if key not in _LIST_KEYS:
            return list(raw)
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
        """``parser(self)`` computed once per instance and cached (per parser).

        ``parser`` must read only the fields called ``name``: the builders below carry the
        cached values of the headers they leave alone over to the new instance.
        Parse errors are re-raised naming the header.
        """
        entry = self._cache.get(parser)
        if entry is not None:
            return entry[1]  # type: ignore[return-value]
        try:
            result = parser(self)
        except SipParseError as exc:
            if exc.header is not None:
                raise
            raise SipParseError(
                f"malformed {name} header: {exc}", header=name, status=exc.status
            ) from exc
        self._cache[parser] = (name, result)
        return result

    # Builders. Each returns a new Headers.

    def sharing_views(self, fields: Iterable[HeaderField | tuple[str, str]]) -> Headers:
        """``Headers(fields)``, with the parsed views of this instance for every header whose
        fields are the same in both (a response copies its request's Via, From, Call-ID and
        CSeq: their views need no second parse)."""
        out = Headers(fields)
        mine, theirs = self._by_name, out._by_name
        out._cache = {parser: entry for parser, entry in self._cache.items()
                      if mine.get(key := _EXACT.get(entry[0]) or _key(entry[0]))
                      == theirs.get(key)}
        return out

    def _derived(self, fields: Iterable[HeaderField], changed: str) -> Headers:
        """A new instance of ``fields``, keeping the parsed views of every header but
        ``changed`` (a message whose top Via is rewritten need not parse its To again)."""
        out = Headers(fields)
        key = _key(changed)
        out._cache = {parser: entry for parser, entry in self._cache.items()
                      if _key(entry[0]) != key}
        return out

    def appended(self, name: str, value: str) -> Headers:
        return self._derived((*self._fields, HeaderField(name, value)), name)

    def prepended(self, name: str, value: str) -> Headers:
        return self._derived((HeaderField(name, value), *self._fields), name)

    def removed(self, name: str) -> Headers:
        lowered = canonical_name(name).lower()
        return self._derived((f for f in self._fields if f.name.lower() != lowered), name)

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
        return self._derived(out, name)

    def replaced_first(self, name: str, value: str) -> Headers:
        """Replace only the first ``name`` field (e.g. the top Via)."""
        lowered = canonical_name(name).lower()
        out = list(self._fields)
        for i, f in enumerate(out):
            if f.name.lower() == lowered:
                out[i] = HeaderField(f.name, value)
                return self._derived(out, name)
        return self._derived((*out, HeaderField(name, value)), name)
