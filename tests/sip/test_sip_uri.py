"""URIs and structured header values."""

from __future__ import annotations

import pytest

from sip.errors import SipParseError
from sip.fields import parse_cseq, parse_media_type, parse_name_addr, parse_via, validate_date
from sip.uri import AbsoluteUri, SipUri, TelUri, parse_sip_uri, parse_uri, uri_equal


def test_full_sip_uri_components() -> None:
    uri = parse_sip_uri("sips:alice:secret@[2001:db8::1]:5061;transport=tls;lr?subject=hi&x=%20y")
    assert (uri.scheme, uri.user, uri.password) == ("sips", "alice", "secret")
    assert (uri.host, uri.address, uri.port) == ("[2001:db8::1]", "2001:db8::1", 5061)
    assert uri.transport == "tls" and uri.loose_route
    assert uri.headers == (("subject", "hi"), ("x", " y"))
    assert parse_uri(str(uri)) == uri


def test_escapes_decode_and_reencode() -> None:
    uri = parse_sip_uri("sip:%61lice%20b@example.com;m%61ddr=10.0.0.1")
    assert uri.user == "alice b" and uri.params.get("maddr") == "10.0.0.1"
    assert str(uri) == "sip:alice%20b@example.com;maddr=10.0.0.1"
    assert str(SipUri(user="a@b:c", host="h.example")) == "sip:a%40b%3Ac@h.example"
    raw = parse_sip_uri("sip:%ff%00@h.example")
    assert parse_uri(str(raw)) == raw  # non-UTF-8 octets survive via surrogateescape


@pytest.mark.parametrize(
    "text",
    [
        "sip:", "sip:@h.example", "sip:a@", "sip:a@b@c", "sip:h.example:", "sip:h.example:70000",
        "sip:[::1", "sip:[zz::1]", "sip:-bad-.example", "sip:h.123", "sip:a b@h.example",
        "sip:h.example;=x", "sip:h.example?x", "sip:%4@h.example", "1sip:h", "tel:", "tel:12g",
        "tel:;x", "mailto:a b", "sip:h.example;x=",
    ],
)  # fmt: skip
def test_invalid_uris(text: str) -> None:
    with pytest.raises(SipParseError):
        parse_uri(text)


def test_tel_and_other_schemes() -> None:
    tel = parse_uri("tel:+1-201-555-0123;ext=12")
    assert (
        isinstance(tel, TelUri) and tel.digits == "+12015550123" and tel.params.get("ext") == "12"
    )
    assert str(tel) == "tel:+1-201-555-0123;ext=12"
    other = parse_uri("urn:service:sos")
    assert isinstance(other, AbsoluteUri) and str(other) == "urn:service:sos"


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("sip:%61lice@atlanta.com;transport=TCP", "sip:alice@AtLanTa.CoM;Transport=tcp"),
        ("sip:carol@chicago.com", "sip:carol@chicago.com;newparam=5"),
        ("sip:carol@chicago.com", "sip:carol@chicago.com;security=on"),
        ("sip:carol@chicago.com;newparam=5", "sip:carol@chicago.com;security=on"),
        (
            "sip:biloxi.com;transport=tcp;method=REGISTER?to=sip:bob%40biloxi.com",
            "sip:biloxi.com;method=REGISTER;transport=tcp?to=sip:bob%40biloxi.com",
        ),
        (
            "sip:alice@atlanta.com?subject=project%20x&priority=urgent",
            "sip:alice@atlanta.com?priority=urgent&subject=project%20x",
        ),
        ("tel:+1-201-555-0123", "tel:+1.201.555.0123"),
    ],
)
def test_rfc3261_equivalent_uris(a: str, b: str) -> None:
    assert uri_equal(parse_uri(a), parse_uri(b)) and uri_equal(parse_uri(b), parse_uri(a))


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("SIP:ALICE@AtLanTa.CoM;Transport=udp", "sip:alice@AtLanTa.CoM;Transport=UDP"),
        ("sip:bob@biloxi.com", "sip:bob@biloxi.com:5060"),
        ("sip:bob@biloxi.com", "sip:bob@biloxi.com;transport=udp"),
        ("sip:bob@biloxi.com", "sip:bob@biloxi.com:6000;transport=tcp"),
        ("sip:carol@chicago.com", "sip:carol@chicago.com?Subject=next%20meeting"),
        ("sip:bob@phone21.boxesbybob.com", "sip:bob@192.0.2.4"),
        ("sip:bob@biloxi.com", "sips:bob@biloxi.com"),
        ("sip:bob@biloxi.com", "tel:+1"),
    ],
)
def test_rfc3261_different_uris(a: str, b: str) -> None:
    assert not uri_equal(parse_uri(a), parse_uri(b))


def test_via_with_whitespace_and_params() -> None:
    via = parse_via("SIP / 2.0 / udp  host.example : 5070 ; branch = z9hG4bKabc ; rport ; ttl=5")
    assert (via.transport, via.host, via.port, via.branch) == (
        "UDP",
        "host.example",
        5070,
        "z9hG4bKabc",
    )
    assert via.rport_requested and via.rport is None and via.sent_by == "host.example:5070"
    assert parse_via(str(via)) == via
    annotated = via.with_param("received", "192.0.2.9").with_param("rport", "4000")
    assert (annotated.received, annotated.rport) == ("192.0.2.9", 4000)


@pytest.mark.parametrize(
    "text",
    [
        "SIP/2.0 host.example", "SIP/2.0/UDP", "SIP/2.0/UDPhost", "SIP/2.0/UDP host;branch",
        "SIP/2.0/UDP host;;", "SIP/2.0/UDP host;rport=x", "SIP/2.0/UDP host;ttl=300",
        "SIP/2.0/UDP host extra", "SIP/2.0/UDP host;branch=",
    ],
)  # fmt: skip
def test_invalid_vias(text: str) -> None:
    with pytest.raises(SipParseError):
        parse_via(text)


def test_name_addr_forms() -> None:
    quoted = parse_name_addr('"A \\"B\\"" <sip:a@h.example;lr>;tag=x;q=0.5')
    assert quoted.display_name == 'A "B"' and quoted.tag == "x"
    assert isinstance(quoted.uri, SipUri) and quoted.uri.loose_route
    assert parse_name_addr(str(quoted)) == quoted
    tokens = parse_name_addr("Alice  Smith <sip:a@h.example>")
    assert tokens.display_name == "Alice Smith"
    spec = parse_name_addr("sip:a@h.example;tag=1")
    assert spec.tag == "1" and isinstance(spec.uri, SipUri) and not spec.uri.params
    assert parse_name_addr("<sip:a@h.example>").display_name is None
    assert parse_name_addr('"" <sip:a@h.example>').display_name == ""
    assert (
        parse_name_addr('"x" <sip:a@h.example>;p="quoted;value"').params.get("p")
        == '"quoted;value"'
    )


@pytest.mark.parametrize(
    "text",
    [
        "<sip:a@h.example", "< sip:a@h.example>", '"x <sip:a@h.example>', "a,b <sip:a@h.example>",
        "sip:a@h.example?x=y", "<sip:a@h.example> junk", '"x" sip:a@h.example', "",
    ],
)  # fmt: skip
def test_invalid_name_addrs(text: str) -> None:
    with pytest.raises(SipParseError):
        parse_name_addr(text)


def test_cseq_media_type_and_date() -> None:
    assert parse_cseq("  42\tBYE ").seq == 42
    for bad in ("42", "BYE", "4294967296 INVITE", "1 IN VITE", "-1 BYE"):
        with pytest.raises(SipParseError):
            parse_cseq(bad)
    media = parse_media_type('multipart/mixed ; boundary="b1"')
    assert media.mime == "multipart/mixed" and media.params.get("boundary") == '"b1"'
    assert parse_media_type("*/*", allow_wildcard=True).mime == "*/*"
    with pytest.raises(SipParseError):
        parse_media_type("text")
    validate_date("Sat, 13 Nov 2010 23:29:00 GMT")
    with pytest.raises(SipParseError):
        validate_date("Sat, 13 Nov 2010 23:29:00 EST")
