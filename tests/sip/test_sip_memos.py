"""The parse memos and header shortcuts change how fast, never what.

Header values are parsed once per text (``sip.message``), Request-URIs once per text
(``sip.parser``), header lines spelt as most peers spell them skip the line pattern, and
``Headers`` builds its fields (tuples) without Python-level constructors. Each is checked
against the code it bypasses on the same input: same value, or the same error - raised again
on every attempt (errors are never kept).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TypeVar

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sip import message as message_module
from sip import parser as parser_module
from sip.errors import SipParseError
from sip.fields import parse_cseq, parse_name_addr, parse_via
from sip.grammar import WSP
from sip.headers import KNOWN_SPELLINGS, HeaderField, Headers, canonical_name
from sip.message import Request, Response
from sip.parser import DEFAULT_LIMITS, ParserLimits, _parse_header_lines, parse_datagram
from sip.uri import parse_uri

T = TypeVar("T")
SETTINGS = settings(max_examples=300, deadline=None)

_ADDR_PIECES = ['"Bob"', "Bob", " ", "<", ">", "sip:", "bob", "@", "127.0.0.1", ":", "5060",
                ";tag=", "a1", ";lr", ";", "=", ",", "?", "tel:+33", "\t", ""]
_VIA_PIECES = ["SIP/2.0/UDP ", "SIP/2.0/TCP ", "host", "127.0.0.2", ":", "5070", ";branch=",
               "z9hG4bK-1", ";rport", ";received=", "1.2.3.4", "x", " ", ";", ""]
_CSEQ_PIECES = ["1", "2", " ", "INVITE", "BYE", "\t", "x", "-1", "99999999999", ""]
_CALL_ID_PIECES = ["abc", "@", "host", " ", "1-2", "{", "", "\t", "é"]


def _outcome(fn: Callable[[str], T], text: str) -> tuple[str, object]:
    try:
        return ("ok", fn(text))
    except SipParseError as exc:
        return ("error", str(exc))


@SETTINGS
@given(st.lists(st.sampled_from(_ADDR_PIECES), max_size=10).map("".join),
       st.lists(st.sampled_from(_VIA_PIECES), max_size=10).map("".join),
       st.lists(st.sampled_from(_CSEQ_PIECES), max_size=4).map("".join))
def test_memoised_values_equal_fresh_parses_and_errors_repeat(addr: str, via: str,
                                                               cseq: str) -> None:
    for memo, fresh, text in ((message_module._parse_name_addr, parse_name_addr, addr),
                              (message_module._parse_via, parse_via, via),
                              (message_module._parse_cseq, parse_cseq, cseq),
                              (parser_module._parse_request_uri, parse_uri, addr)):
        expected = _outcome(fresh, text)
        assert _outcome(memo, text) == expected  # first use: parsed
        assert _outcome(memo, text) == expected  # second: from the memo, or raised again


def _invite(call_id: str, to: str, cseq: str) -> bytes:
    return (f"INVITE sip:bob@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.2:5070;branch=z9hG4bK-7"
            f"\r\nFrom: <sip:alice@127.0.0.2>;tag=f1\r\nTo: {to}\r\nCall-ID: {call_id}\r\n"
            f"CSeq: {cseq}\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n").encode()


@SETTINGS
@given(st.lists(st.sampled_from(_CALL_ID_PIECES), max_size=5).map("".join),
       st.lists(st.sampled_from(_ADDR_PIECES), max_size=8).map("".join),
       st.lists(st.sampled_from(_CSEQ_PIECES), max_size=4).map("".join))
def test_views_of_messages_sharing_text_equal_those_of_an_empty_memo(call_id: str, to: str,
                                                                      cseq: str) -> None:
    """Two messages with the same header text read the same as one parsed with no memo."""
    data = _invite(call_id, to, cseq)
    if b"\r\n" in (call_id + to + cseq).encode():
        return

    def views(msg: Request | Response) -> list[tuple[str, object]]:
        return [_outcome(lambda name: getattr(msg, name), name)
                for name in ("call_id", "to", "cseq", "from_", "vias")]

    try:
        first, second = parse_datagram(data), parse_datagram(data)
    except SipParseError:
        return  # not even a message: nothing to view
    warm = (views(first), views(second))
    for memo in (message_module._parse_name_addr, message_module._parse_via,
                 message_module._parse_cseq, message_module._checked_call_id):
        memo.cache_clear()
    cold = views(parse_datagram(data))
    assert warm[0] == cold
    assert warm[1] == cold


def test_a_memoised_view_is_the_same_object_in_both_messages() -> None:
    """What makes the memo pay: the second message of a dialog does not parse its To again."""
    data = _invite("m-1@h", "<sip:bob@127.0.0.1>;tag=t9", "5 INVITE")
    a, b = parse_datagram(data.replace(b"z9hG4bK-7", b"z9hG4bK-8")), parse_datagram(data)
    assert a.to is b.to
    assert a.cseq is b.cseq
    assert a.top_via is not b.top_via  # different text, different parse
    assert a.top_via.branch == "z9hG4bK-8"


def test_a_malformed_value_raises_each_time_naming_its_header() -> None:
    data = _invite("m-2@h", "<sip:bob@127.0.0.1", "1 INVITE")
    for _ in range(2):
        msg = parse_datagram(data)
        with pytest.raises(SipParseError, match="To"):
            msg.to  # noqa: B018


# ---------------------------------------------------------------- header lines and fields

_LINE = re.compile(r"([A-Za-z0-9\-.!%*_+`'~]+)[ \t]*:(.*)", re.DOTALL)


def _lines_by_pattern(lines: list[str]) -> Headers:
    """The header lines as the parser read them before its shortcut (no folding here)."""
    fields: list[tuple[str, str]] = []
    for number, line in enumerate(lines, start=2):
        match = _LINE.fullmatch(line)
        if match is None:
            raise SipParseError(f"line {number}: {line[:60]!r} is not 'name: value'")
        fields.append((match[1], match[2].strip(WSP)))
    return Headers(fields)


_NAMES = [*sorted(KNOWN_SPELLINGS)[:20], "Via", "v", "V", "From", "CSeq", "cseq", "X-Foo",
          "Via ", "Via\t", "Vi a", "", "Ç", "To;", "Call-ID"]
_VALUES = ["", " x", "\tSIP/2.0/UDP h", " a:b:c", " <sip:a@b>;tag=1 ", " 1 INVITE", ":", "é"]


@SETTINGS
@given(st.lists(st.tuples(st.sampled_from(_NAMES), st.sampled_from([":", "", " :"]),
                          st.sampled_from(_VALUES)), min_size=1, max_size=8))
def test_header_line_shortcut_agrees_with_the_line_pattern(parts: list[tuple[str, str, str]]
                                                           ) -> None:  # fmt: skip
    lines = [name + colon + value for name, colon, value in parts]
    # empty lines are skipped and indented ones folded before either path is taken
    lines = [line for line in lines if line and line[0] not in WSP]
    expected = _outcome(lambda _: _lines_by_pattern(lines), "")
    got = _outcome(lambda _: _parse_header_lines(lines, DEFAULT_LIMITS), "")
    assert got == expected
    if got[0] == "ok":
        assert isinstance(got[1], Headers) and isinstance(expected[1], Headers)
        assert [(f.name, f.value) for f in got[1]] == [(f.name, f.value) for f in expected[1]]


@SETTINGS
@given(st.lists(st.tuples(st.sampled_from([*_NAMES[:-4], "x-custom", "ACCEPT"]),
                          st.sampled_from(_VALUES), st.booleans()), max_size=8))
def test_fields_built_from_pairs_or_fields_are_canonical(items: list[tuple[str, str, bool]]
                                                          ) -> None:  # fmt: skip
    given_fields = [HeaderField(n, v) if as_field else (n, v) for n, v, as_field in items]
    headers = Headers(given_fields)
    expected = tuple(HeaderField(canonical_name(n), v) for n, v, _ in items)
    assert headers.fields == expected
    assert all(type(f) is HeaderField for f in headers.fields)
    assert hash(headers) == hash(Headers(expected))
    for field in headers.fields:
        with pytest.raises(AttributeError):
            field.name = "changed"  # type: ignore[misc]
        assert headers.get(field.name) is not None


def test_a_malformed_line_past_the_header_limit_is_reported_as_malformed() -> None:
    limits = ParserLimits(max_headers=2)
    good = ["Via: SIP/2.0/UDP h", "To: <sip:a@b>"]
    with pytest.raises(SipParseError, match="is not 'name: value'") as malformed:
        _parse_header_lines([*good, "Bad line"], limits)
    assert malformed.value.status == 400
    with pytest.raises(SipParseError, match="more than 2 header fields") as too_many:
        _parse_header_lines([*good, "From: <sip:c@d>"], limits)
    assert too_many.value.status == 513
