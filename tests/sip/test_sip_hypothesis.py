"""Property tests: generated messages round-trip; random and mutated bytes only
ever raise SipParseError (bounded in size and time)."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sip_support import assert_round_trip

from sip.errors import SipParseError
from sip.fields import CSeq, NameAddr, Via
from sip.grammar import TOKEN_CHARS, WORD_CHARS, Params
from sip.headers import Headers
from sip.message import Request, Response
from sip.parser import StreamFramer, parse_datagram
from sip.serializer import serialize
from sip.uri import SipUri, parse_uri
from sip.validation import validate_request, validate_response
from tests.shared_data import TORTURE

FAST = settings(max_examples=100, deadline=1000, suppress_health_check=[HealthCheck.too_slow])
FUZZ = settings(max_examples=300, deadline=1000, suppress_health_check=[HealthCheck.too_slow])
TORTURE_FILES = sorted((TORTURE / "rfc4475").glob("*.dat"))
assert TORTURE_FILES, f"no torture vectors in {TORTURE}"
SEEDS = [p.read_bytes() for p in TORTURE_FILES]
SEPARATORS = [b";", b",", b'"', b"<", b">", b"\r\n", b"\r\n ", b":", b"%", b"\\", b"\r\n\r\n"]

tokens = st.text(alphabet=sorted(TOKEN_CHARS), min_size=1, max_size=12)
# Any text except lone surrogates (not encodable) and CR/LF (not representable).
free_text = st.text(
    alphabet=st.characters(codec="utf-8", exclude_characters="\r\n"),
    max_size=16,
)
labels = st.from_regex(r"[a-z][a-z0-9]{0,8}", fullmatch=True)
hosts = st.one_of(
    st.lists(labels, min_size=1, max_size=3).map(".".join),
    st.ip_addresses(v=4).map(str),
    st.ip_addresses(v=6).map(lambda a: f"[{a}]"),
)
ports = st.none() | st.integers(min_value=1, max_value=65535)
uri_params = st.lists(
    st.tuples(free_text.filter(bool), st.none() | free_text.filter(bool)), max_size=3
).map(lambda items: Params(tuple(items)))
sip_uris = st.builds(
    SipUri,
    scheme=st.sampled_from(["sip", "sips"]),
    user=st.none() | free_text.filter(bool),
    host=hosts,
    port=ports,
    params=uri_params,
    headers=st.lists(st.tuples(free_text.filter(bool), free_text), max_size=2).map(tuple),
)
header_params = st.lists(st.tuples(tokens, st.none() | tokens), max_size=3).map(
    lambda items: Params(tuple(items))
)
name_addrs = st.builds(
    NameAddr, uri=sip_uris, display_name=st.none() | free_text, params=header_params
)
vias = st.builds(
    Via,
    transport=st.sampled_from(["UDP", "TCP", "TLS", "SCTP"]),
    host=hosts,
    port=ports,
    params=tokens.map(lambda b: Params((("branch", "z9hG4bK" + b),))),
)
call_ids = st.text(alphabet=sorted(WORD_CHARS), min_size=1, max_size=20)
extension_values = st.text(
    alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x2FF),
    max_size=30,
).map(lambda s: s.strip(" \t"))


@st.composite
def requests(draw: st.DrawFn) -> Request:
    method = draw(tokens)
    fields = [("Via", str(v)) for v in draw(st.lists(vias, min_size=1, max_size=3))]
    fields += [
        ("From", str(draw(name_addrs))),
        ("To", str(draw(name_addrs))),
        ("Call-ID", draw(call_ids)),
        ("CSeq", str(CSeq(seq=draw(st.integers(0, 2**32 - 1)), method=method))),
        ("Max-Forwards", str(draw(st.integers(0, 255)))),
    ]
    for _ in range(draw(st.integers(0, 3))):
        fields.append(("X-" + draw(tokens), draw(extension_values)))
    body = draw(st.binary(max_size=64))
    if body:
        fields.append(("Content-Type", "application/sdp"))
    order = draw(st.permutations(fields))
    uri = draw(sip_uris).without_headers()  # headers are not allowed in a Request-URI
    return Request(method=method, uri=uri, headers=Headers(order), body=body)


@FAST
@given(sip_uris)
def test_uri_round_trip(uri: SipUri) -> None:
    assert parse_uri(str(uri)) == uri


@FAST
@given(requests())
def test_generated_requests_round_trip(request: Request) -> None:
    assert_round_trip(request)
    again = parse_datagram(serialize(request))
    assert isinstance(again, Request)
    assert again.uri == request.uri
    assert again.vias == request.vias and again.cseq == request.cseq
    assert again.from_ == request.from_ and again.to == request.to
    assert again.call_id == request.call_id
    assert validate_request(again) is None


@settings(FAST, max_examples=50)
@given(st.lists(requests(), min_size=1, max_size=3), st.data())
def test_stream_framer_reassembles_any_chunking(batch: list[Request], data: st.DataObject) -> None:
    stream = b"".join(serialize(r) for r in batch)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=8)))
    framer = StreamFramer()
    items = []
    for start, end in zip([0, *cuts], [*cuts, len(stream)], strict=True):
        items.extend(framer.feed(stream[start:end]))
    assert [serialize(i) for i in items if isinstance(i, Request)] == [serialize(r) for r in batch]


def _exercise(data: bytes) -> None:
    """Parse and touch every view; only SipParseError may escape, never anything else."""
    try:
        message = parse_datagram(data)
    except SipParseError:
        return
    for view in ("vias", "from_", "to", "call_id", "cseq", "contacts", "routes",
                 "record_routes", "max_forwards", "content_type", "expires", "require",
                 "supported"):  # fmt: skip
        try:
            getattr(message, view)
        except SipParseError:
            pass
    if isinstance(message, Request):
        validate_request(message)
    else:
        assert isinstance(message, Response)
        validate_response(message)
    serialize(message)


@FUZZ
@given(st.binary(max_size=2048))
def test_random_bytes_only_raise_parse_errors(data: bytes) -> None:
    _exercise(data)
    _exercise(b"INVITE sip:a@b.example SIP/2.0\r\n" + data)


@st.composite
def mutated_seeds(draw: st.DrawFn) -> bytes:
    data = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(1, 6))):
        op = draw(st.sampled_from(["flip", "delete", "insert", "duplicate", "truncate"]))
        pos = draw(st.integers(0, max(0, len(data) - 1)))
        if op == "flip" and data:
            data[pos] = draw(st.integers(0, 255))
        elif op == "delete":
            del data[pos : pos + draw(st.integers(1, 16))]
        elif op == "insert":
            data[pos:pos] = draw(
                st.sampled_from(
                    [b";", b",", b'"', b"<", b">", b"\r\n", b"\r\n ", b":", b"%", b"\\"]
                )
                | st.binary(min_size=1, max_size=8)
            )
        elif op == "duplicate":
            data[pos:pos] = data[pos : pos + draw(st.integers(1, 64))]
        else:
            del data[pos:]
    return bytes(data)


@FUZZ
@given(mutated_seeds())
def test_mutated_torture_messages_only_raise_parse_errors(data: bytes) -> None:
    _exercise(data)


@FAST
@given(st.lists(mutated_seeds(), min_size=1, max_size=3), st.integers(1, 97))
def test_framer_never_raises(chunks: list[bytes], size: int) -> None:
    framer = StreamFramer()
    stream = b"".join(chunks)
    for start in range(0, len(stream), size):
        for item in framer.feed(stream[start : start + size]):
            assert (
                isinstance(item, Request | Response | SipParseError)
                or type(item).__name__ == "KeepAlive"
            )
