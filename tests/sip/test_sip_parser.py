"""Parsing and serializing messages: start lines, headers, framing, limits."""

from __future__ import annotations

import pytest
from sip_support import assert_round_trip

from sip.builders import make_response, response_for_parse_error
from sip.errors import SipFramingError, SipParseError
from sip.grammar import split_list
from sip.headers import Headers, canonical_name
from sip.message import Request, Response
from sip.parser import KeepAlive, ParserLimits, StreamFramer, is_keepalive, parse_datagram
from sip.serializer import serialize
from sip.uri import SipUri

INVITE = (
    b"INVITE sip:bob@biloxi.example.com SIP/2.0\r\n"
    b"Via: SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bK776asdhds;rport\r\n"
    b"Max-Forwards: 70\r\n"
    b'To: "Bob" <sip:bob@biloxi.example.com>\r\n'
    b"From: Alice <sip:alice@atlanta.example.com>;tag=1928301774\r\n"
    b"Call-ID: a84b4c76e66710@pc33.atlanta.example.com\r\n"
    b"CSeq: 314159 INVITE\r\n"
    b"Contact: <sip:alice@pc33.atlanta.example.com>\r\n"
    b"Content-Type: application/sdp\r\n"
    b"Content-Length: 4\r\n"
    b"\r\n"
    b"v=0\n"
)


def request_of(data: bytes) -> Request:
    message = parse_datagram(data)
    assert isinstance(message, Request)
    return message


def test_invite_fields() -> None:
    req = request_of(INVITE)
    assert req.method == "INVITE" and isinstance(req.uri, SipUri) and req.uri.user == "bob"
    assert req.top_via.branch == "z9hG4bK776asdhds" and req.top_via.rport_requested
    assert req.to.display_name == "Bob" and req.to.tag is None
    assert req.from_.display_name == "Alice" and req.from_.tag == "1928301774"
    assert (req.cseq.seq, req.cseq.method, req.max_forwards) == (314159, "INVITE", 70)
    assert req.content_type is not None and req.content_type.mime == "application/sdp"
    assert req.body == b"v=0\n"
    assert_round_trip(req)


def test_structured_views_are_cached() -> None:
    req = request_of(INVITE)
    assert req.vias is req.vias and req.to is req.to


def test_compact_forms_expand_and_lookups_ignore_case() -> None:
    data = (
        b"OPTIONS sip:a@b.example SIP/2.0\r\nv: SIP/2.0/UDP h.example;branch=z9hG4bKx\r\n"
        b"f: <sip:c@d.example>;tag=1\r\nt: sip:a@b.example\r\ni: cid\r\n"
        b"CSEQ: 1 OPTIONS\r\nm: <sip:c@h.example>\r\nk: timer, 100rel\r\nl: 0\r\n\r\n"
    )
    req = request_of(data)
    assert [f.name for f in req.headers] == [
        "Via", "From", "To", "Call-ID", "CSeq", "Contact", "Supported", "Content-Length",
    ]  # fmt: skip
    assert req.call_id == "cid" and req.supported == ("timer", "100rel")
    assert canonical_name("I") == "Call-ID" and canonical_name("x-custom") == "x-custom"
    assert req.headers.get("call-id") == req.headers.get("I") == "cid"


def test_folded_header_lines_unfold_to_single_space() -> None:
    data = INVITE.replace(b"Subject", b"").replace(
        b"Max-Forwards: 70\r\n", b"Max-Forwards: 70\r\nSubject: one\r\n \t two\r\n\tthree\r\n"
    )
    assert request_of(data).headers.get("Subject") == "one two three"


def test_comma_lists_respect_quotes_and_angle_brackets() -> None:
    value = '"Doe, John" <sip:j@x.example;a=b,c>, <sip:k@y.example>;q=0.5, sip:z@z.example'
    assert split_list(value) == [
        '"Doe, John" <sip:j@x.example;a=b,c>',
        "<sip:k@y.example>;q=0.5",
        "sip:z@z.example",
    ]
    headers = Headers([("Contact", value), ("Date", "Sat, 13 Nov 2010 23:29:00 GMT")])
    assert len(headers.values("Contact")) == 3
    assert headers.values("Date") == ["Sat, 13 Nov 2010 23:29:00 GMT"]  # not a list header


def test_multiple_via_fields_and_values_keep_order() -> None:
    data = INVITE.replace(
        b"Max-Forwards",
        b"Via: SIP/2.0/TCP p1.example:5070;branch=z9hG4bKa, SIP/2.0/TLS [2001:db8::1]:5061"
        b";branch=z9hG4bKb;received=192.0.2.1\r\nMax-Forwards",
    )
    vias = request_of(data).vias
    assert [(v.transport, v.host, v.port) for v in vias] == [
        ("UDP", "pc33.atlanta.example.com", None),
        ("TCP", "p1.example", 5070),
        ("TLS", "[2001:db8::1]", 5061),
    ]
    assert vias[2].received == "192.0.2.1" and vias[2].reliable


def test_quoted_display_name_escapes() -> None:
    data = INVITE.replace(b'"Bob"', rb'"B\"o\\b \x41"')
    assert request_of(data).to.display_name == 'B"o\\b x41'


@pytest.mark.parametrize(
    ("line", "status"),
    [
        (b"INVITE sip:bob@b.example SIP/2.0 ", 400),
        (b"INVITE  sip:bob@b.example SIP/2.0", 400),
        (b"INVITE <sip:bob@b.example> SIP/2.0", 400),
        (b"INV(ITE sip:bob@b.example SIP/2.0", 400),
        (b"INVITE sip:bob@b.example SIP/3.0", 505),
        (b"INVITE sip:bob@b.example HTTP/1.1", 400),
        (b"INVITE sip:bob@@b.example SIP/2.0", 400),
        (b"INVITE sip:bob@b.example:99999 SIP/2.0", 400),
        (b"INVITE sip:bob@b%zz.example SIP/2.0", 400),
    ],
)
def test_bad_request_lines_are_typed_errors_that_can_be_answered(line: bytes, status: int) -> None:
    data = INVITE.replace(b"INVITE sip:bob@biloxi.example.com SIP/2.0", line, 1)
    with pytest.raises(SipParseError) as info:
        parse_datagram(data)
    err = info.value
    assert err.status == status and err.can_respond
    response = response_for_parse_error(err, to_tag="t1")
    assert response is not None and response.status == status
    assert response.to.tag == "t1" and response.call_id == "a84b4c76e66710@pc33.atlanta.example.com"
    assert response.headers.get("Warning") is not None


@pytest.mark.parametrize(
    "line",
    [b"SIP/2.0 20 OK", b"SIP/2.0 1000 OK", b"SIP/2.0 099 Odd", b"SIP/2.0", b"SIP/2.0 abc OK"],
)
def test_bad_status_lines_cannot_be_answered(line: bytes) -> None:
    data = line + b"\r\nVia: SIP/2.0/UDP h.example;branch=z9hG4bKx\r\nContent-Length: 0\r\n\r\n"
    with pytest.raises(SipParseError) as info:
        parse_datagram(data)
    assert not info.value.can_respond and response_for_parse_error(info.value) is None


def test_response_parse_and_reason_phrase() -> None:
    data = b"SIP/2.0 180 Ringing now\r\nVia: SIP/2.0/UDP h.example;branch=z9hG4bKx\r\n\r\n"
    message = parse_datagram(data)
    assert isinstance(message, Response)
    assert (message.status, message.reason, message.is_provisional) == (180, "Ringing now", True)


def test_header_errors_name_the_header() -> None:
    req = request_of(INVITE.replace(b"CSeq: 314159 INVITE", b"CSeq: x INVITE"))
    with pytest.raises(SipParseError) as info:
        _ = req.cseq
    assert info.value.header == "CSeq" and "CSeq" in str(info.value)
    line_error = INVITE.replace(b"Max-Forwards: 70", b"Max Forwards 70")
    with pytest.raises(SipParseError, match="line 3"):
        parse_datagram(line_error)


def test_content_length_framing_for_datagrams() -> None:
    trailing = INVITE + b"garbage after the body"
    assert request_of(trailing).body == b"v=0\n"
    without_length = INVITE.replace(b"Content-Length: 4\r\n", b"")
    assert request_of(without_length + b"more").body == b"v=0\nmore"
    short = INVITE.replace(b"Content-Length: 4", b"Content-Length: 40")
    with pytest.raises(SipParseError, match="Content-Length") as info:
        parse_datagram(short)
    assert info.value.can_respond
    for bad in (b"-1", b"4, 4", b"four", b"99999999999999999999"):
        with pytest.raises(SipParseError, match="Content-Length"):
            parse_datagram(INVITE.replace(b"Content-Length: 4", b"Content-Length: " + bad))


def test_bare_lf_line_ends_are_tolerated_in_datagrams() -> None:
    req = request_of(INVITE.replace(b"\r\n", b"\n"))
    assert req.call_id == "a84b4c76e66710@pc33.atlanta.example.com" and req.body == b"v=0\n"


def test_limits_bound_hostile_input() -> None:
    limits = ParserLimits(max_headers=5, max_line_length=100, max_content_length=10)
    with pytest.raises(SipParseError, match="header fields") as info:
        parse_datagram(INVITE, limits)
    assert info.value.status == 513
    long_line = INVITE.replace(b"Max-Forwards: 70", b"X-Long: " + b"a" * 200)
    with pytest.raises(SipParseError, match="longer than"):
        parse_datagram(long_line, ParserLimits(max_line_length=100))
    huge = INVITE.replace(b"Content-Length: 4", b"Content-Length: 11")
    with pytest.raises(SipParseError) as big:
        parse_datagram(huge, ParserLimits(max_content_length=10))
    assert big.value.status == 413
    with pytest.raises(SipParseError, match="datagram larger"):
        parse_datagram(b"x" * 70_000)


def test_empty_and_keepalive_datagrams() -> None:
    assert is_keepalive(b"\r\n\r\n") and not is_keepalive(INVITE) and not is_keepalive(b"")
    with pytest.raises(SipParseError, match="empty"):
        parse_datagram(b"\r\n\r\n")


def test_serializer_rewrites_content_length_and_refuses_injection() -> None:
    req = request_of(INVITE)
    wire = serialize(Request(method="MESSAGE", uri=req.uri, headers=req.headers, body=b"hello"))
    assert b"Content-Length: 5\r\n" in wire and wire.endswith(b"\r\n\r\nhello")
    assert wire.count(b"Content-Length") == 1
    injected = req.with_headers(req.headers.appended("Subject", "x\r\nVia: evil"))
    with pytest.raises(ValueError, match="CR or LF"):
        serialize(injected)


def test_make_response_copies_dialog_headers() -> None:
    req = request_of(INVITE.replace(b"Contact:", b"Record-Route: <sip:p1.example;lr>\r\nContact:"))
    ringing = make_response(req, 180, to_tag="abc")
    assert ringing.reason == "Ringing" and ringing.to.tag == "abc"
    assert ringing.headers.get_all("Via") == req.headers.get_all("Via")
    assert ringing.headers.get("Record-Route") == "<sip:p1.example;lr>"
    trying = make_response(req, 100, to_tag="abc")
    assert trying.to.tag is None and "Record-Route" not in trying.headers
    in_dialog = request_of(INVITE.replace(b"example.com>\r\nFrom", b"example.com>;tag=abc\r\nFrom"))
    assert make_response(in_dialog, 200, to_tag="other").to.tag == "abc"  # never replaced


def test_stream_framer_byte_by_byte_and_pipelined() -> None:
    second = INVITE.replace(b"CSeq: 314159", b"CSeq: 314160")
    stream = b"\r\n\r\n" + INVITE + b"\r\n" + second
    framer = StreamFramer()
    items = [item for byte in stream for item in framer.feed(bytes([byte]))]
    assert isinstance(items[0], KeepAlive)
    messages = [i for i in items if isinstance(i, Request)]
    assert [m.cseq.seq for m in messages] == [314159, 314160]
    assert StreamFramer().feed(INVITE + second)[1] == messages[1]
    assert framer.buffered == 0


def test_stream_framer_recovers_from_bad_start_line_but_not_bad_length() -> None:
    bad_line = INVITE.replace(b"SIP/2.0\r\n", b"SIP/2.0 \r\n", 1)
    framer = StreamFramer()
    items = framer.feed(bad_line + INVITE)
    assert isinstance(items[0], SipParseError) and not isinstance(items[0], SipFramingError)
    assert isinstance(items[1], Request) and not framer.broken
    broken = StreamFramer()
    items = broken.feed(INVITE.replace(b"Content-Length: 4", b"Content-Length: -4") + INVITE)
    assert len(items) == 1 and isinstance(items[0], SipFramingError) and items[0].can_respond
    assert broken.broken and broken.feed(INVITE) == []


def test_stream_framer_bounds_unterminated_headers() -> None:
    framer = StreamFramer(ParserLimits(max_header_bytes=1000))
    assert framer.feed(b"INVITE sip:a@b SIP/2.0\r\n" + b"X: y\r\n" * 100) == []
    items = framer.feed(b"X: y\r\n" * 100)
    assert len(items) == 1 and isinstance(items[0], SipFramingError)


def test_stream_framer_without_content_length_assumes_empty_body() -> None:
    data = INVITE.replace(b"Content-Length: 4\r\n", b"").replace(b"v=0\n", b"")
    (message,) = StreamFramer().feed(data)
    assert isinstance(message, Request) and message.body == b""
