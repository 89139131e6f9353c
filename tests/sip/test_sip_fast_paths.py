"""The parsers' shortcuts for common input agree with the general code they bypass.

URIs, Vias, header lists, header lines, IPv4 literals and token checks each have a fast
path for what nearly every peer sends (a regular expression, a split); anything it does not
match takes the general path. These tests feed both the same text, generated to sit on the
boundary (almost plain input with the occasional odd character), and demand the same
result or the same error.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from hypothesis import given, settings
from hypothesis import strategies as st

from sip.builders import make_response
from sip.errors import SipParseError
from sip.fields import parse_via, parse_via_general
from sip.grammar import TOKEN_CHARS, WORD_CHARS, WSP, is_token, is_word, read_quoted, split_list
from sip.headers import Headers
from sip.message import Request, Response
from sip.parser import ParserLimits, _split_lines, parse_datagram
from sip.serializer import serialize
from sip.uri import parse_uri, parse_uri_general, valid_ipv4

T = TypeVar("T")
SETTINGS = settings(max_examples=300, deadline=None)

_PIECES = ["sip", "sips", "SIP", ":", "@", ";", "=", ".", "-", "?", "&", "%41", "[", "]", "::1",
           "a", "bob", "127.0.0.1", "1.2.3.999", "example.com", "5060", "99999", "lr",
           "transport", "udp", "tag", "x", " ", "+33", "$", ",", "/", "'", "~", "*", "!"]
_VIA_PIECES = ["SIP", "/", "2.0", "UDP", "tcp", " ", "\t", "host", "127.0.0.2", ":", "5070",
               "99999", ";", "branch", "=", "z9hG4bK-1", "rport", "received", "1.2.3.4",
               "ttl", "300", "maddr", "[", "]", "::1", ",", '"q"', "x", ""]


def _outcome(fn: Callable[[T], object], text: T) -> tuple[str, object]:
    try:
        return ("ok", fn(text))
    except SipParseError as exc:
        return ("error", str(exc))


@SETTINGS
@given(st.lists(st.sampled_from(_PIECES), max_size=12).map("".join))
def test_plain_uri_shortcut_agrees_with_the_general_parser(text: str) -> None:
    assert _outcome(parse_uri, "sip:" + text) == _outcome(parse_uri_general, "sip:" + text)
    assert _outcome(parse_uri, text) == _outcome(parse_uri_general, text)


def test_plain_uris_take_the_shortcut_and_read_the_same() -> None:
    for text in ("sip:0612345678@127.0.0.1:5060", "sips:a@b.example.com;transport=tls;lr",
                 "sip:+33140000001@h;user=phone", "sip:127.0.0.2:5080"):
        assert parse_uri(text) == parse_uri_general(text)
        assert str(parse_uri(text)) == text


@SETTINGS
@given(st.lists(st.sampled_from(_VIA_PIECES), max_size=14).map("".join))
def test_plain_via_shortcut_agrees_with_the_general_parser(tail: str) -> None:
    for text in (tail, "SIP/2.0/UDP " + tail):
        assert _outcome(parse_via, text) == _outcome(parse_via_general, text)


def _split_list_by_characters(value: str) -> list[str]:
    """The general loop of ``split_list``, the reference for its shortcuts."""
    parts: list[str] = []
    start = i = 0
    in_angle = False
    while i < len(value):
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


@SETTINGS
@given(st.lists(st.sampled_from(["a", " ", "\t", ",", "<", ">", '"', "sip:x", ";p=1", "\\"]),
                max_size=12).map("".join))
def test_list_splitting_shortcuts_agree_with_the_character_loop(value: str) -> None:
    assert _outcome(split_list, value) == _outcome(_split_list_by_characters, value)


def _ipv4_by_parts(text: str) -> bool:
    parts = text.split(".")
    return len(parts) == 4 and all(
        p.isascii() and p.isdigit() and len(p) <= 3 and int(p) <= 255 for p in parts)


@SETTINGS
@given(st.lists(st.sampled_from(["0", "00", "001", "9", "25", "255", "256", "199", "200", "249",
                                 "250", "0255", "", "x", "1"]), min_size=1, max_size=6)
       .map(".".join))
def test_ipv4_expression_agrees_with_reading_the_numbers(text: str) -> None:
    assert valid_ipv4(text) == _ipv4_by_parts(text)


def test_token_and_word_expressions_match_their_character_sets() -> None:
    for code in range(0x3000):
        ch = chr(code)
        assert is_token(ch) == (ch in TOKEN_CHARS)
        assert is_word(ch) == (ch in WORD_CHARS)
    assert not is_token("") and not is_word("") and not is_token("ab\n")


def _lines_one_by_one(head: bytes, limits: ParserLimits) -> list[str]:
    """The line-by-line checks of ``_split_lines``, the reference for its shortcut."""
    lines = head.decode("utf-8", "surrogateescape").split("\n")
    for i, line in enumerate(lines):
        if line.endswith("\r"):
            line = lines[i] = line[:-1]
        if "\r" in line:
            raise SipParseError(f"bare CR in line {i + 1}")
        if len(line) > limits.max_line_length:
            raise SipParseError(
                f"line {i + 1} longer than {limits.max_line_length} characters", status=513)
    return lines


@SETTINGS
@given(st.lists(st.sampled_from(["Via: x", "a", " ", "\t", ":", "\r", "\n", "\r\n", "\r\n ",
                                 "é", "x" * 9]), max_size=16).map("".join))
def test_header_section_splits_into_the_same_lines(text: str) -> None:
    limits = ParserLimits(max_line_length=20)
    head = text.encode()

    def fast(h: bytes) -> list[str]:
        return _split_lines(h, limits)

    def slow(h: bytes) -> list[str]:
        return _lines_one_by_one(h, limits)

    assert _outcome(fast, head) == _outcome(slow, head)


INVITE = (b"INVITE sip:bob@example.com SIP/2.0\r\n"
          b"Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKa, SIP/2.0/UDP p.example.com\r\n"
          b"From: \"Alice\" <sip:alice@example.com>;tag=1\r\nTo: <sip:bob@example.com>\r\n"
          b"Call-ID: c1@h\r\nCSeq: 7 INVITE\r\nContact: <sip:alice@192.0.2.1>\r\n"
          b"Record-Route: <sip:p.example.com;lr>\r\nContent-Length: 0\r\n\r\n")


def _views(message: Request | Response) -> tuple[object, ...]:
    return (message.vias, message.from_, message.to, message.call_id,
            message.cseq, message.contacts, message.record_routes)


def test_a_response_shares_only_the_views_of_headers_it_copied_unchanged() -> None:
    request = parse_datagram(INVITE)
    assert isinstance(request, Request)
    _views(request)  # parsed and cached on the request
    for status, tag in ((100, None), (180, "t9"), (486, "t9")):
        response = make_response(request, status, to_tag=tag,
                                 headers=[("Contact", "<sip:bob@192.0.2.2>")])
        fresh = parse_datagram(serialize(response))
        assert _views(response) == _views(fresh)
        assert response.to.tag == (tag if status > 100 else None)


def test_derived_headers_drop_the_view_of_the_header_they_change() -> None:
    request = parse_datagram(INVITE)
    assert isinstance(request, Request)
    _views(request)
    changed = request.with_headers(request.headers.replaced("To", "<sip:carol@example.com>"))
    assert str(changed.to.uri) == "sip:carol@example.com"
    assert changed.from_ == request.from_
    again = Headers(request.headers).sharing_views(request.headers.removed("Contact"))
    assert again.values("Via") == request.headers.values("Via")
