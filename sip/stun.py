"""STUN Binding on the SIP port: the UDP keep-alive of RFC 5626 §4.4.2 (RFC 5389 §6-§7, §15).

A UA keeping a UDP flow open sends Binding requests to the SIP port and learns from the
XOR-MAPPED-ADDRESS of the answer whether its NAT binding changed. Only as much of STUN as
that needs: Binding requests answered with the source they came from, FINGERPRINT checked
and echoed, and 420 (Unknown Attribute) for any comprehension-required attribute, since
this server understands none (no authentication: RFC 5389 §10 does not ask it of a Binding
keep-alive). Bytes in, bytes out.
"""

from __future__ import annotations

import ipaddress
import struct
import zlib

MAGIC_COOKIE = 0x2112A442
HEADER_LENGTH = 20
BINDING_REQUEST = 0x0001
BINDING_SUCCESS = 0x0101
BINDING_ERROR = 0x0111
XOR_MAPPED_ADDRESS = 0x0020
ERROR_CODE = 0x0009
UNKNOWN_ATTRIBUTES = 0x000A
FINGERPRINT = 0x8028
_FINGERPRINT_XOR = 0x5354554E
_HEADER = struct.Struct("!HHI12s")
_ATTRIBUTE = struct.Struct("!HH")
_COMPREHENSION_OPTIONAL = 0x8000


def is_stun(data: bytes) -> bool:
    """Whether ``data`` is framed as a STUN message (RFC 5389 §6: two zero bits, the magic
    cookie, a length that fills the datagram in 4-byte words). A SIP message starts with a
    letter, so the two never meet."""
    if len(data) < HEADER_LENGTH or data[0] > 0x01:
        return False
    header: tuple[int, int, int, bytes] = _HEADER.unpack_from(data)
    _type, length, cookie, _txid = header
    return cookie == MAGIC_COOKIE and length % 4 == 0 and len(data) == HEADER_LENGTH + length


def _fingerprint(message: bytes) -> int:
    return (zlib.crc32(message) & 0xFFFFFFFF) ^ _FINGERPRINT_XOR


def _attribute(kind: int, value: bytes) -> bytes:
    padding = b"\x00" * (-len(value) % 4)
    return _ATTRIBUTE.pack(kind, len(value)) + value + padding


def xor_mapped_address(host: str, port: int, txid: bytes) -> bytes:
    """The XOR-MAPPED-ADDRESS value for ``host``:``port`` (RFC 5389 §15.2)."""
    address = ipaddress.ip_address(host.partition("%")[0])  # a scope id is not on the wire
    x_port = port ^ (MAGIC_COOKIE >> 16)
    key = struct.pack("!I", MAGIC_COOKIE) + txid
    x_address = bytes(a ^ k for a, k in zip(address.packed, key, strict=False))
    family = 0x01 if address.version == 4 else 0x02
    return struct.pack("!BBH", 0, family, x_port) + x_address


def _message(kind: int, txid: bytes, attributes: list[bytes], fingerprint: bool) -> bytes:
    body = b"".join(attributes)
    if not fingerprint:
        return _HEADER.pack(kind, len(body), MAGIC_COOKIE, txid) + body
    # FINGERPRINT covers the message up to itself, with the length already counting it
    head = _HEADER.pack(kind, len(body) + 8, MAGIC_COOKIE, txid) + body
    return head + _attribute(FINGERPRINT, struct.pack("!I", _fingerprint(head)))


def answer_binding(data: bytes, host: str, port: int) -> bytes | None:
    """The answer to a STUN Binding request that came from ``host``:``port``, or None for
    anything to drop silently: not STUN, not a Binding request (an indication is a keep-alive
    needing no answer), a malformed attribute list, or a FINGERPRINT that does not match."""
    if not is_stun(data):
        return None
    kind, length, _cookie, txid = _HEADER.unpack_from(data)
    if kind != BINDING_REQUEST:
        return None
    unknown: list[int] = []
    fingerprinted = False
    pos = HEADER_LENGTH
    end = HEADER_LENGTH + length
    while pos < end:
        if pos + 4 > end or fingerprinted:  # FINGERPRINT must be the last attribute
            return None
        attr, size = _ATTRIBUTE.unpack_from(data, pos)
        value_at = pos + 4
        pos = value_at + size + (-size % 4)
        if pos > end:
            return None
        if attr == FINGERPRINT:
            if size != 4:
                return None
            (claimed,) = struct.unpack_from("!I", data, value_at)
            if claimed != _fingerprint(data[: value_at - 4]):
                return None
            fingerprinted = True
        elif attr < _COMPREHENSION_OPTIONAL:
            unknown.append(attr)
    if unknown:
        reason = b"Unknown Attribute"
        error = struct.pack("!HBB", 0, 4, 20) + reason  # class 4, number 20: 420
        listed = b"".join(struct.pack("!H", a) for a in unknown[:16])
        return _message(BINDING_ERROR, txid, [_attribute(ERROR_CODE, error),
                                              _attribute(UNKNOWN_ATTRIBUTES, listed)],
                        fingerprinted)
    mapped = _attribute(XOR_MAPPED_ADDRESS, xor_mapped_address(host, port, txid))
    return _message(BINDING_SUCCESS, txid, [mapped], fingerprinted)
