"""RFC 4475 and RFC 5118 torture messages, checked against MANIFEST.tsv.

Each manifest row's ``expected`` text is turned into a check: "valid"/"parse
and process" must parse and pass validation; "reject (NNN)" must produce an
NNN response (from the parse error or from validate_request); "discard the
response" must fail parsing or validate_response. File-specific assertions
then check the fields each message exists to exercise.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Callable

import pytest
from sip_support import assert_round_trip

from sip.builders import response_for_parse_error
from sip.digest import DigestServer
from sip.errors import SipParseError
from sip.fields import parse_via
from sip.message import Request, Response
from sip.parser import parse_datagram
from sip.sdp import parse_sdp
from sip.serializer import serialize
from sip.transaction import Target
from sip.transaction_layer import TransactionLayer, transaction_key
from sip.uri import AbsoluteUri, SipUri, TelUri
from sip.validation import (
    RequestPolicy,
    rejection_response,
    validate_request,
    validate_response,
)
from tests.shared_data import TORTURE

MANIFEST = [
    row for row in csv.DictReader((TORTURE / "MANIFEST.tsv").open(encoding="utf-8"), delimiter="\t")
]
# The torture server accepts the body types the valid vectors carry; the
# invalid Content-Type vector (invut) uses a type outside this set.
POLICY = RequestPolicy(body_types=frozenset({"application/sdp", "multipart/mixed"}))


def load(name: str) -> bytes:
    return (TORTURE / "rfc4475" / f"{name}.dat").read_bytes()


def load_5118(name: str) -> bytes:
    # The RFC 5118 archive uses bare LF (see the README); SIP needs CRLF.
    return (TORTURE / "rfc5118" / name).read_bytes().replace(b"\n", b"\r\n")


def answer_status(data: bytes, policy: RequestPolicy = POLICY) -> int | None:
    """Status our server answers ``data`` with (None: processed), via a real response."""
    try:
        message = parse_datagram(data)
    except SipParseError as err:
        response = response_for_parse_error(err, to_tag="srv1")
        assert response is not None, f"cannot answer parse error: {err}"
        assert err.status == response.status
        reparsed = parse_datagram(serialize(response))
        assert isinstance(reparsed, Response)
        assert err.headers is not None
        assert reparsed.headers.get_all("Via") == err.headers.get_all("Via")
        return reparsed.status
    assert isinstance(message, Request)
    rejection = validate_request(message, policy)
    if rejection is None:
        return None
    response = rejection_response(message, rejection, to_tag="srv1")
    reparsed = parse_datagram(serialize(response))
    assert isinstance(reparsed, Response)
    for name, value in rejection.headers:
        assert reparsed.headers.get(name) == value
    return reparsed.status


def discarded(data: bytes) -> bool:
    try:
        message = parse_datagram(data)
    except SipParseError as err:
        assert not err.can_respond
        return True
    assert isinstance(message, Response)
    return validate_response(message) is not None


def request(data: bytes) -> Request:
    message = parse_datagram(data)
    assert isinstance(message, Request)
    assert validate_request(message, POLICY) is None
    return message


def sip_uri(uri: object) -> SipUri:
    assert isinstance(uri, SipUri)
    return uri


def check_wsinv(m: Request) -> None:
    assert m.method == "INVITE"
    assert sip_uri(m.uri).user == "vivekg" and "unknownparam" in sip_uri(m.uri).params
    assert m.to.tag == "1918181833n"
    assert m.from_.display_name == 'J Rosenberg \\"' and m.from_.tag == "98asjd8"
    assert m.max_forwards == 68 and (m.cseq.seq, m.cseq.method) == (9, "INVITE")
    assert [v.host for v in m.vias] == ["192.0.2.2", "spindle.example.com", "192.168.255.111"]
    assert m.vias[2].branch == "z9hG4bK30239"
    contact = m.contacts[0]
    assert contact.display_name == 'Quoted string ""' and contact.params.get("q") == "0.33"
    assert m.headers.get("Subject") == ""
    assert m.headers.get("newfangledheader") == "newfangled value continued newfangled value"
    assert sip_uri(m.routes[0].uri).loose_route and len(m.body) == 150


def check_intmeth(m: Request) -> None:
    assert m.method == "!interesting-Method0123456789_*+`.%indeed'~" == m.cseq.method
    uri = sip_uri(m.uri)
    assert uri.user == "1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*"
    assert uri.password == "&it+has=1,weird!*pas$wo~d_too.(doesn't-it)"
    assert m.to.display_name == "BEL:\x07 NUL:\x00 DEL:\x7f"
    assert m.from_.display_name == "token1~` token2'+_ token3*%!.-"
    assert m.from_.tag == "_token~1'+`*%!-."
    assert m.call_id == "intmeth.word%ZK-!.*_+'@word`~)(><:\\/\"][?}{"
    assert m.top_via.branch == "z9hG4bK-.!%66*_+`'~"


def check_esc01(m: Request) -> None:
    assert sip_uri(m.uri).user == "sips:user@example.com"
    assert sip_uri(m.to.uri).user == "user"
    assert sip_uri(m.from_.uri).user == "I have spaces"
    contact = sip_uri(m.contacts[0].uri)
    assert contact.user == "caller"
    assert "lr" in contact.params and contact.params.get("name") == "value%41"


def check_escnull(m: Request) -> None:
    assert sip_uri(m.to.uri).user == "null-\x00-null"
    assert [sip_uri(c.uri).user for c in m.contacts] == ["\x00", "\x00\x00"]


def check_esc02(m: Request) -> None:
    assert m.method == "RE%47IST%45R"
    assert m.to.display_name == "%Z%45"
    assert m.top_via.branch == "z9hG4bK209%fzsnel234"
    # "C%6Fntact" is a different header: header names are not %-decoded.
    assert len(m.contacts) == 2 and m.headers.get("C%6Fntact") is not None


def check_longreq(m: Request) -> None:
    assert len(m.vias) == 34 and m.top_via.host == "sip33.example.com"
    assert m.vias[-1].received == "192.0.2.5"
    assert m.to.display_name is not None and "extremeextreme" in m.to.display_name
    assert sip_uri(m.to.uri).port == 6000 and len(sip_uri(m.to.uri).params) == 3
    assert m.from_.tag is not None and len(m.from_.tag) > 150
    assert len(m.body) == 150


def check_dblreq(m: Request) -> None:
    assert m.method == "REGISTER" and m.body == b""
    assert m.call_id == "dblreq.0ha0isndaksdj99sdfafnl3lk233412"


def check_semiuri(m: Request) -> None:
    uri = sip_uri(m.uri)
    assert (uri.user, uri.host, len(uri.params)) == ("user;par=u@example.net", "example.com", 0)
    assert len(m.headers.values("Accept")) == 6


def check_transports(m: Request) -> None:
    assert [v.transport for v in m.vias] == ["UDP", "SCTP", "TLS", "UNKNOWN", "TCP"]


def check_mpart01(m: Request) -> None:
    assert len(m.body) == 553 and m.body.startswith(b"--7a9cbec02ceef655")
    assert (
        m.content_type is not None and m.content_type.params.get("boundary") == "7a9cbec02ceef655"
    )
    assert m.top_via.rport_requested and m.top_via.rport is None


def check_unreason(m: Response) -> None:
    assert m.status == 200 and m.reason.startswith("= 2**3 * 5**2 ")
    assert "\u043d\u043e" in m.reason  # UTF-8 Cyrillic decoded


def check_noreason(m: Response) -> None:
    assert (m.status, m.reason) == (100, "")


def check_badbranch(m: Request) -> None:
    assert m.top_via.branch == "z9hG4bK" and not m.top_via.is_rfc3261_branch
    assert transaction_key(m).startswith("2543|")


def check_unksm2(m: Request) -> None:
    assert isinstance(m.to.uri, AbsoluteUri) and m.to.uri.scheme == "isbn"
    assert isinstance(m.from_.uri, AbsoluteUri) and m.from_.uri.scheme == "http"
    assert isinstance(m.contacts[0].uri, AbsoluteUri)


def check_cparam01(m: Request) -> None:
    assert "unknownparam" in m.contacts[0].params
    assert len(sip_uri(m.contacts[0].uri).params) == 0


def check_cparam02(m: Request) -> None:
    assert "unknownparam" in sip_uri(m.contacts[0].uri).params
    assert len(m.contacts[0].params) == 0


def check_regescrt(m: Request) -> None:
    assert sip_uri(m.contacts[0].uri).headers == (("Route", "<sip:sip.example.com>"),)


def check_inv2543(m: Request) -> None:
    assert m.top_via.branch is None and m.max_forwards is None
    assert m.body.startswith(b"v=0") and len(m.body) == 105  # no Content-Length: to end
    assert transaction_key(m).startswith("2543|")


def check_bcast(m: Response) -> None:
    assert m.vias[1].host == "255.255.255.255"
    # No client transaction matches, so nothing at all is sent anywhere.
    layer = TransactionLayer()
    outputs = layer.receive(m, Target(transport="UDP", host="192.0.2.198", port=5060), now=0.0)
    assert all(type(o).__name__ != "SendMessage" for o in outputs)


def check_regaut01(m: Request) -> None:
    server = DigestServer(realm="example.com", secret=b"k" * 32)
    result = server.verify(m, now=1000.0, ha1_lookup=lambda user, realm, alg: None)
    assert result.status == 401 and not result.stale
    assert result.headers and result.headers[0][0] == "WWW-Authenticate"


def check_zeromf(m: Request) -> None:
    assert m.max_forwards == 0
    rejection = validate_request(m, RequestPolicy(proxy=True))
    assert rejection is not None and rejection.status == 483


def check_novelsc(m: Request) -> None:
    served = RequestPolicy(uri_schemes=frozenset({"sip", "soap.beep"}))
    assert validate_request(m, served) is None


def check_test(data: bytes) -> None:
    with pytest.raises(SipParseError) as info:
        parse_datagram(data)
    assert not info.value.can_respond


FIELD_CHECKS: dict[str, Callable[..., None]] = {
    "wsinv": check_wsinv, "intmeth": check_intmeth, "esc01": check_esc01,
    "escnull": check_escnull, "esc02": check_esc02, "longreq": check_longreq,
    "dblreq": check_dblreq, "semiuri": check_semiuri, "transports": check_transports,
    "mpart01": check_mpart01, "unreason": check_unreason, "noreason": check_noreason,
    "badbranch": check_badbranch, "unksm2": check_unksm2, "cparam01": check_cparam01,
    "cparam02": check_cparam02, "regescrt": check_regescrt, "inv2543": check_inv2543,
    "bcast": check_bcast, "regaut01": check_regaut01,
}  # fmt: skip


def test_manifest_covers_every_rfc4475_file() -> None:
    files = {p.stem for p in (TORTURE / "rfc4475").glob("*.dat")}
    assert files == {row["file"] for row in MANIFEST}


@pytest.mark.parametrize("row", MANIFEST, ids=[row["file"] for row in MANIFEST])
def test_manifest_row(row: dict[str, str]) -> None:
    name, expected = row["file"], row["expected"]
    data = load(name)
    codes = [int(c) for c in re.findall(r"\b([1-6]\d\d)\b", expected.split("reject", 1)[-1])]
    if expected == "none":
        check_test(data)
        return
    if "reject" in expected:
        status = answer_status(data)
        assert status in codes, f"{name}: answered {status}, manifest says {expected!r}"
        return
    if "discard the response" in expected:
        assert discarded(data)
        return
    if "proxy answers 483" in expected:
        check_zeromf(request(data))
        return
    if "answer per local policy" in expected:
        assert answer_status(data) == 416
        message = parse_datagram(data)
        assert isinstance(message, Request)
        check_novelsc(message)
        return
    assert "parse" in expected or "valid" in expected, expected
    message = parse_datagram(data)
    if isinstance(message, Request):
        assert validate_request(message, POLICY) is None
    else:
        assert validate_response(message) is None
    if name in FIELD_CHECKS:
        FIELD_CHECKS[name](message)
    # Everything valid survives a serialize/parse round trip unchanged.
    assert_round_trip(message)


def test_bext01_lists_the_require_tags_not_proxy_require() -> None:
    message = request_any(load("bext01"))
    rejection = validate_request(message, POLICY)
    assert rejection is not None and rejection.status == 420
    assert rejection.headers == (("Unsupported", "nothingSupportsThis, nothingSupportsThisEither"),)


def test_invut_415_lists_accepted_types() -> None:
    rejection = validate_request(request_any(load("invut")), POLICY)
    assert rejection is not None and rejection.status == 415
    assert dict(rejection.headers)["Accept"] == "application/sdp, multipart/mixed"


def request_any(data: bytes) -> Request:
    message = parse_datagram(data)
    assert isinstance(message, Request)
    return message


# RFC 5118 is not in the manifest; expectations from its §4 text.
RFC5118_VALID = [
    "ipv6-good", "port-ambiguous", "port-unambiguous", "via-received-param-with-delim",
    "via-received-param-no-delim", "mult-ip-in-header", "mult-ip-in-sdp", "ipv4-mapped-ipv6",
    "ipv6-correct-abnf-2-colons", "ipv6-bug-abnf-3-colons",
]  # fmt: skip


@pytest.mark.parametrize("name", RFC5118_VALID)
def test_rfc5118_valid(name: str) -> None:
    message = request_any(load_5118(name))
    assert validate_request(message, POLICY) is None
    assert_round_trip(message)


def test_rfc5118_ipv6_reference_fields() -> None:
    good = request_any(load_5118("ipv6-good"))
    assert (
        sip_uri(good.uri).host == "[2001:db8::10]" and sip_uri(good.uri).address == "2001:db8::10"
    )
    assert good.top_via.host == "[2001:db8::9:1]"
    ambiguous = sip_uri(request_any(load_5118("port-ambiguous")).uri)
    assert (ambiguous.host, ambiguous.port) == ("[2001:db8::10:5070]", None)
    unambiguous = sip_uri(request_any(load_5118("port-unambiguous")).uri)
    assert (unambiguous.host, unambiguous.port) == ("[2001:db8::10]", 5070)
    for name in ("via-received-param-with-delim", "via-received-param-no-delim"):
        assert request_any(load_5118(name)).top_via.received == "2001:db8::9:255"
    mixed = request_any(load_5118("mult-ip-in-header"))
    assert [v.host for v in mixed.vias] == ["[2001:db8::9:1]", "192.0.2.1", "[2001:db8::9:255]"]
    assert mixed.vias[0].port == 6050 and mixed.vias[2].received == "192.0.2.200"
    mapped = request_any(load_5118("ipv4-mapped-ipv6"))
    assert sip_uri(mapped.contacts[0].uri).host == "[::ffff:192.0.2.2]"


def test_rfc5118_ipv6_bad_is_rejected_with_400() -> None:
    assert answer_status(load_5118("ipv6-bad")) == 400


def test_rfc5118_ipv6_in_sdp_archive_has_short_body() -> None:
    # The archived message declares Content-Length 268 but carries 251 octets
    # after LF->CRLF conversion, so a UDP server must answer 400 (§18.3) ...
    assert answer_status(load_5118("ipv6-in-sdp")) == 400
    # ... while its SDP body itself is valid IPv6 SDP.
    data = load_5118("ipv6-in-sdp")
    sdp = parse_sdp(data[data.index(b"\r\n\r\n") + 4 :])
    assert sdp.connection is not None and sdp.connection.address == "2001:db8::20"
    assert sdp.connection.address_type == "IP6"


def test_rfc5118_mult_ip_in_sdp_media_connections() -> None:
    sdp = parse_sdp(request_any(load_5118("mult-ip-in-sdp")).body)
    assert [m.connection.address for m in sdp.media if m.connection] == ["192.0.2.1", "2001:db8::1"]


def test_via_received_both_forms_parse() -> None:
    assert parse_via("SIP/2.0/UDP [::1];received=[::2]").received == "::2"
    with pytest.raises(SipParseError):
        parse_via("SIP/2.0/UDP [::1];received=not-an-ip")


def test_tel_request_uri_is_416_unless_served() -> None:
    data = load("zeromf").replace(b"OPTIONS sip:user@example.com", b"OPTIONS tel:+1-201-555-0123")
    message = request_any(data)
    assert isinstance(message.uri, TelUri) and message.uri.digits == "+12015550123"
    assert answer_status(data) == 416
    assert validate_request(message, RequestPolicy(uri_schemes=frozenset({"tel"}))) is None
