"""STUN Binding keep-alives on the SIP port (RFC 5626 §4.4.2, RFC 5389), checked against the
XOR-MAPPED-ADDRESS values of RFC 5769 §2.2-2.3 and a decoder written here from RFC 5389."""

from __future__ import annotations

import ipaddress
import struct
import zlib

from hypothesis import given, settings
from hypothesis import strategies as st

from sip.stun import (
    BINDING_ERROR,
    BINDING_REQUEST,
    BINDING_SUCCESS,
    MAGIC_COOKIE,
    answer_binding,
    is_stun,
    xor_mapped_address,
)

# RFC 5769 §2.2 and §2.3: the sample responses' transaction ID, mapped address and the
# XOR-MAPPED-ADDRESS values they carry
TXID = bytes.fromhex("b7e7a701bc34d686fa87dfae")


def request(attributes: bytes = b"", *, kind: int = BINDING_REQUEST, txid: bytes = TXID,
            fingerprint: bool = False) -> bytes:
    if fingerprint:
        head = struct.pack("!HHI12s", kind, len(attributes) + 8, MAGIC_COOKIE, txid) + attributes
        crc = (zlib.crc32(head) & 0xFFFFFFFF) ^ 0x5354554E
        return head + struct.pack("!HHI", 0x8028, 4, crc)
    return struct.pack("!HHI12s", kind, len(attributes), MAGIC_COOKIE, txid) + attributes


def decode(message: bytes) -> tuple[int, bytes, dict[int, bytes]]:
    """Type, transaction ID and attributes of a STUN message; checks framing and FINGERPRINT."""
    kind, length, cookie, txid = struct.unpack_from("!HHI12s", message)
    assert cookie == MAGIC_COOKIE and len(message) == 20 + length and length % 4 == 0
    attributes: dict[int, bytes] = {}
    pos = 20
    while pos < len(message):
        attr, size = struct.unpack_from("!HH", message, pos)
        attributes[attr] = message[pos + 4 : pos + 4 + size]
        if attr == 0x8028:
            crc = (zlib.crc32(message[:pos]) & 0xFFFFFFFF) ^ 0x5354554E
            assert attributes[attr] == struct.pack("!I", crc)
            assert pos + 8 == len(message), "FINGERPRINT is last"
        pos += 4 + size + (-size % 4)
    return kind, txid, attributes


def mapped(value: bytes, txid: bytes) -> tuple[str, int]:
    family, x_port = struct.unpack_from("!xBH", value)
    key = struct.pack("!I", MAGIC_COOKIE) + txid
    raw = bytes(a ^ k for a, k in zip(value[4:], key, strict=False))
    assert family == (1 if len(raw) == 4 else 2)
    return str(ipaddress.ip_address(raw)), x_port ^ (MAGIC_COOKIE >> 16)


def test_xor_mapped_address_matches_rfc5769() -> None:
    assert xor_mapped_address("192.0.2.1", 32853, TXID) == bytes.fromhex("0001a147e112a643")
    assert xor_mapped_address("2001:db8:1234:5678:11:2233:4455:6677", 32853, TXID) == (
        bytes.fromhex("0002a1470113a9faa5d3f179bc25f4b5bed2b9d9"))


def test_binding_request_is_answered_with_the_source_address() -> None:
    for host in ("192.0.2.1", "2001:db8::10", "::1"):
        answer = answer_binding(request(), host, 5062)
        assert answer is not None and is_stun(answer)
        kind, txid, attributes = decode(answer)
        assert (kind, txid) == (BINDING_SUCCESS, TXID)
        assert mapped(attributes[0x0020], TXID) == (host, 5062)
        assert 0x8028 not in attributes  # the request had no FINGERPRINT


def test_fingerprint_is_checked_and_echoed() -> None:
    answer = answer_binding(request(fingerprint=True), "192.0.2.1", 5060)
    assert answer is not None
    kind, _, attributes = decode(answer)
    assert kind == BINDING_SUCCESS and 0x8028 in attributes
    tampered = bytearray(request(fingerprint=True))
    tampered[-1] ^= 0xFF
    assert answer_binding(bytes(tampered), "192.0.2.1", 5060) is None
    after_fingerprint = request(fingerprint=True) + struct.pack("!HH", 0x8022, 0)
    relabelled = bytearray(after_fingerprint)
    relabelled[2:4] = struct.pack("!H", len(after_fingerprint) - 20)
    assert answer_binding(bytes(relabelled), "192.0.2.1", 5060) is None


def test_unknown_comprehension_required_attributes_get_420() -> None:
    software = struct.pack("!HH", 0x8022, 3) + b"abc\x00"  # optional: ignored
    username = struct.pack("!HH", 0x0006, 4) + b"user"  # required, not understood here
    answer = answer_binding(request(software + username), "192.0.2.1", 5060)
    assert answer is not None
    kind, _, attributes = decode(answer)
    assert kind == BINDING_ERROR
    assert attributes[0x0009][2:4] == bytes([4, 20])  # class 4, number 20
    assert attributes[0x000A] == struct.pack("!H", 0x0006)
    ok = answer_binding(request(software), "192.0.2.1", 5060)
    assert ok is not None and decode(ok)[0] == BINDING_SUCCESS


def test_what_is_not_a_binding_request_is_dropped() -> None:
    assert answer_binding(request(kind=0x0011), "192.0.2.1", 5060) is None  # an indication
    assert answer_binding(b"OPTIONS sip:a@b SIP/2.0\r\n\r\n", "192.0.2.1", 5060) is None
    assert answer_binding(b"\r\n\r\n", "192.0.2.1", 5060) is None
    assert answer_binding(request()[:-1], "192.0.2.1", 5060) is None
    truncated = request(struct.pack("!HH", 0x8022, 8) + b"abcd")  # attribute overruns
    assert answer_binding(truncated, "192.0.2.1", 5060) is None
    wrong_cookie = bytearray(request())
    wrong_cookie[4] ^= 1
    assert not is_stun(bytes(wrong_cookie))
    assert answer_binding(bytes(wrong_cookie), "192.0.2.1", 5060) is None


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=64), st.integers(0, 0x3FFF))
def test_any_bytes_after_a_stun_header_answer_or_drop(body: bytes, kind: int) -> None:
    body = body + b"\x00" * (-len(body) % 4)
    data = struct.pack("!HHI12s", kind, len(body), MAGIC_COOKIE, TXID) + body
    answer = answer_binding(data, "2001:db8::1", 1)
    if answer is not None:
        answered_kind, txid, _ = decode(answer)
        assert kind == BINDING_REQUEST and txid == TXID
        assert answered_kind in (BINDING_SUCCESS, BINDING_ERROR)
