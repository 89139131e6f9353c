"""IPv6 in SIP and SDP: bracketed references in URIs and Via (RFC 3261 §19.1.1, §25), bare
addresses in received= (§18.2.1 grammar; RFC 5118 §4.5 accepts both), URI comparison by
address (RFC 5954 §4), c=IN IP6 (RFC 4566), and the routing of responses to IPv6 sources."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sip_support import assert_round_trip

from sip.builders import make_response, make_via
from sip.errors import SipParseError
from sip.fields import Via, parse_via, parse_via_general
from sip.grammar import Params
from sip.headers import Headers
from sip.message import Request
from sip.offer_answer import PCMU, build_offer
from sip.parser import parse_datagram
from sip.sdp import Connection, Origin, SessionDescription, connection_address, parse_sdp
from sip.sdp import serialize_sdp as sdp_bytes
from sip.serializer import serialize
from sip.transaction import Target
from sip.transaction_layer import annotate_via, response_target
from sip.uri import (
    SipUri,
    host_reference,
    ipv6_value,
    parse_uri,
    parse_uri_general,
    uri_equal,
)

SETTINGS = settings(max_examples=200, deadline=None)


def sip_uri(text: str) -> SipUri:
    uri = parse_uri(text)
    assert isinstance(uri, SipUri)
    return uri


def test_bracketed_host_with_port_and_transport() -> None:
    uri = sip_uri("sip:[2001:db8::10]:5070;transport=tcp")
    assert (uri.host, uri.address, uri.port, uri.transport) == (
        "[2001:db8::10]", "2001:db8::10", 5070, "tcp")
    assert str(uri) == "sip:[2001:db8::10]:5070;transport=tcp"
    user = sip_uri("sips:alice@[::ffff:192.0.2.1];maddr=[2001:db8::1]")
    assert user.user == "alice" and user.params.get("maddr") == "[2001:db8::1]"
    assert str(user) == "sips:alice@[::ffff:192.0.2.1];maddr=[2001:db8::1]"


@pytest.mark.parametrize("text", [
    "sip:[2001:db8::10]", "sip:[2001:db8::10]:5070;transport=tcp", "sip:bob@[::1]:5060;lr",
    "sips:[::ffff:192.0.2.1]", "sip:[2001:DB8::A];maddr=[::1]", "sip:[2001:db8:::192.0.2.1]",
    "sip:[::1]junk", "sip:[::1", "sip:[1::2::3]", "sip:[::1]:99999", "sip:[]", "sip:[::1]:",
])  # fmt: skip
def test_ipv6_uris_read_the_same_by_both_parsers(text: str) -> None:
    def outcome(fn: Callable[[str], object]) -> tuple[str, object]:
        try:
            return ("ok", fn(text))
        except SipParseError as exc:
            return ("error", str(exc))

    assert outcome(parse_uri) == outcome(parse_uri_general)


def test_unbracketed_ipv6_is_refused_naming_the_problem() -> None:
    with pytest.raises(SipParseError, match="must be enclosed in brackets"):
        parse_uri("sip:2001:db8::10")
    with pytest.raises(SipParseError, match="must be enclosed in brackets"):
        parse_uri("sip:user@::1:5060")
    with pytest.raises(SipParseError, match="Via sent-by '::1'.*brackets"):
        parse_via("SIP/2.0/UDP ::1;branch=z9hG4bK1")
    data = (b"OPTIONS sip:2001:db8::10 SIP/2.0\r\nVia: SIP/2.0/UDP [::1];branch=z9hG4bK1\r\n"
            b"From: <sip:a@example.com>;tag=1\r\nTo: <sip:b@example.com>\r\nCall-ID: x\r\n"
            b"CSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n")
    with pytest.raises(SipParseError, match="Request-URI.*brackets") as info:
        parse_datagram(data)
    assert info.value.status == 400 and info.value.can_respond


def test_via_sent_by_received_and_rport_with_ipv6() -> None:
    text = "SIP/2.0/TCP [2001:db8::9:1]:6050;branch=z9hG4bK1;received=2001:db8::9:255;rport=7"
    via = parse_via(text)
    assert (via.host, via.port, via.received, via.rport) == (
        "[2001:db8::9:1]", 6050, "2001:db8::9:255", 7)
    assert via.sent_by == "[2001:db8::9:1]:6050" and str(via) == text
    assert parse_via_general(text) == via
    bracketed = parse_via("SIP/2.0/UDP [::1];received=[::2]")
    assert bracketed.received == "::2" and str(bracketed) == "SIP/2.0/UDP [::1];received=[::2]"
    with pytest.raises(SipParseError, match="not an IP address"):
        parse_via("SIP/2.0/UDP [::1];received=[not:an:address:at:all]")


def test_our_via_brackets_a_bare_ipv6_listener_address() -> None:
    assert make_via("udp", "::1", 5060, branch="z9hG4bKa").sent_by == "[::1]:5060"
    assert str(make_via("tcp", "2001:db8::1", None, branch="z9hG4bKa", rport=False)) == (
        "SIP/2.0/TCP [2001:db8::1];branch=z9hG4bKa")
    assert make_via("udp", "[::1]", 5060).host == "[::1]"  # already bracketed: kept
    assert make_via("udp", "192.0.2.1", 5060).host == "192.0.2.1"
    assert make_via("udp", "pbx.example.com", 5060).host == "pbx.example.com"
    assert host_reference("::1") == "[::1]" and host_reference("example.com") == "example.com"
    # a URI built from a socket's bare address is written bracketed (our Contact, a trunk's)
    contact = SipUri(user="contactor", host="2001:db8::1", port=5060,
                     params=Params((("transport", "tcp"),)))
    assert str(contact) == "sip:contactor@[2001:db8::1]:5060;transport=tcp"
    assert sip_uri(str(contact)).address == "2001:db8::1"


def test_ipv6_references_compare_by_address() -> None:
    # RFC 5954 §4: the textual form of an IPv6 reference does not matter...
    assert uri_equal(parse_uri("sip:bob@[2001:db8::a]"), parse_uri("sip:bob@[2001:0DB8:0:0::A]"))
    assert uri_equal(parse_uri("sip:[::ffff:192.0.2.1]"), parse_uri("sip:[::ffff:c000:201]"))
    # ... but an IPv4-mapped IPv6 address is not the IPv4 address, nor another address.
    assert not uri_equal(parse_uri("sip:bob@[::ffff:192.0.2.1]"), parse_uri("sip:bob@192.0.2.1"))
    assert not uri_equal(parse_uri("sip:[2001:db8::a]"), parse_uri("sip:[2001:db8::b]"))
    assert ipv6_value("[2001:db8:::192.0.2.1]") == ipaddress.IPv6Address("2001:db8::c000:201")
    assert ipv6_value("example.com") is None


def test_responses_to_ipv6_sources_follow_received_and_rport() -> None:
    source = Target(transport="UDP", host="2001:db8::9", port=40000)
    via = annotate_via(parse_via("SIP/2.0/UDP [2001:db8::9]:5060;branch=z9hG4bK1;rport"), source)
    # received is written bare, as RFC 3261's grammar has it (IPv6address, no brackets)
    assert str(via) == ("SIP/2.0/UDP [2001:db8::9]:5060;branch=z9hG4bK1;rport=40000;"
                        "received=2001:db8::9")
    assert response_target(via, source) == source
    # no rport: the sent-by port, at the address without its brackets
    plain = parse_via("SIP/2.0/UDP [2001:db8::9]:5062;branch=z9hG4bK1")
    assert response_target(annotate_via(plain, source), source) == Target(
        transport="UDP", host="2001:db8::9", port=5062)
    # a response carries the annotated Via back, and it parses again
    request = Request(method="OPTIONS", uri=parse_uri("sip:[::1]"), headers=Headers([
        ("Via", str(via)), ("From", "<sip:a@[::1]>;tag=1"), ("To", "<sip:[::1]>"),
        ("Call-ID", "c@[::1]"), ("CSeq", "1 OPTIONS")]))
    response = parse_datagram(serialize(make_response(request, 200, to_tag="t")))
    assert response.top_via.received == "2001:db8::9" and response.top_via.rport == 40000


def test_sdp_ip6_connection_lines() -> None:
    assert connection_address("[2001:db8::1]") == ("IP6", "2001:db8::1")
    assert connection_address("2001:db8::1") == ("IP6", "2001:db8::1")
    assert connection_address("192.0.2.1") == ("IP4", "192.0.2.1")
    for address in ("::1", "[::1]"):  # a listener's host may come bracketed: SDP drops them
        offer = build_offer(address=address, port=4000, session_id=1, session_version=1,
                            codecs=(PCMU,))
        wire = sdp_bytes(offer)
        assert b"o=contactor 1 1 IN IP6 ::1\r\n" in wire
        assert b"c=IN IP6 ::1\r\n" in wire and b"[" not in wire
        assert parse_sdp(wire) == offer


ipv6_texts = st.ip_addresses(v=6).flatmap(lambda a: st.sampled_from([
    str(a), a.exploded, str(a).upper(), a.exploded.upper(),
]))  # fmt: skip


@SETTINGS
@given(ipv6_texts, st.none() | st.integers(1, 65535), st.sampled_from(["udp", "tcp", "tls"]))
def test_ipv6_uris_round_trip_in_any_textual_form(text: str, port: int | None,
                                                  transport: str) -> None:
    uri = SipUri(host=f"[{text}]", port=port, params=Params((("transport", transport),)))
    again = sip_uri(str(uri))
    assert again == uri and parse_uri_general(str(uri)) == again
    assert again.address == text
    canonical = SipUri(host=f"[{ipaddress.IPv6Address(text)}]", port=port, params=uri.params)
    assert uri_equal(again, canonical)


@SETTINGS
@given(st.ip_addresses(v=6), st.none() | st.integers(1, 65535), st.ip_addresses(),
       st.booleans(), st.none() | st.integers(1, 65535))
def test_vias_with_ipv6_round_trip_in_messages(sent_by: ipaddress.IPv6Address, port: int | None,
                                               received: ipaddress.IPv4Address
                                               | ipaddress.IPv6Address,
                                               brackets: bool, rport: int | None) -> None:
    received_text = f"[{received}]" if brackets and received.version == 6 else str(received)
    params = Params((("branch", "z9hG4bKx"), ("received", received_text),
                     ("rport", None if rport is None else str(rport))))
    via = Via(transport="TCP", host=f"[{sent_by}]", port=port, params=params)
    assert parse_via(str(via)) == via == parse_via_general(str(via))
    assert via.received == str(received) and via.rport == rport
    request = Request(method="OPTIONS", uri=parse_uri(f"sip:[{sent_by}]"), headers=Headers([
        ("Via", str(via)), ("Via", "SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKy"),
        ("From", f"<sip:a@[{sent_by}]>;tag=1"), ("To", "<sip:b@example.com>"),
        ("Call-ID", f"id@[{sent_by}]"), ("CSeq", "1 OPTIONS"), ("Max-Forwards", "70")]))
    assert_round_trip(request)
    again = parse_datagram(serialize(request))
    assert again.vias[0] == via


@SETTINGS
@given(st.lists(st.ip_addresses(), min_size=1, max_size=3), st.integers(1, 65535))
def test_sdp_with_ip4_and_ip6_connections_round_trips(addresses: list[ipaddress.IPv4Address
                                                                      | ipaddress.IPv6Address],
                                                      port: int) -> None:
    kind, address = connection_address(str(addresses[0]))
    offer = build_offer(address=address, port=port, session_id=7, session_version=1,
                        codecs=(PCMU,))
    media = tuple(
        m.__class__(media="audio", port=port, proto="RTP/AVP", formats=("0",),
                    connection=Connection(address_type=connection_address(str(a))[0],
                                          address=str(a)))
        for m, a in zip(offer.media * len(addresses), addresses, strict=True)
    )
    sdp = SessionDescription(origin=Origin(session_id="7", session_version=1,
                                           address_type=kind, address=address),
                             connection=Connection(address_type=kind, address=address),
                             media=media)
    again = parse_sdp(sdp_bytes(sdp))
    assert again == sdp
    assert [m.connection.address_type for m in again.media if m.connection] == [
        "IP6" if a.version == 6 else "IP4" for a in addresses]
