"""RTP packets (RFC 3550 §5), one at a time or in batches; the sequence constants of RFC 3550
Appendix A that ``media.receive_stats`` uses.

Sans-IO: bytes in, values out; arrival times are passed in as ``now`` (seconds).
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import numpy.typing as npt

RTP_VERSION = 2
RTP_HEADER_SIZE = 12
RTP_SEQ_MOD = 1 << 16
_TS_MOD = 1 << 32

# RFC 3550 A.1 constants.
MAX_DROPOUT = 3000
MAX_MISORDER = 100

_FIXED_HEADER = struct.Struct("!BBHII")
_EXTENSION_HEADER = struct.Struct("!HH")


class RtpError(ValueError):
    """An RTP packet that cannot be parsed or built; the message names the field."""


class RtpExtension(NamedTuple):
    """RFC 3550 §5.3.1 header extension: 16-bit profile value and 32-bit-aligned data."""

    profile: int
    data: bytes


class RtpPacket(NamedTuple):
    """One RTP packet.

    A NamedTuple rather than a frozen dataclass: it is built once per received packet and a
    frozen dataclass costs twice as much to construct (measured), for no gain in immutability.
    ``padding`` is the number of padding octets (including the count octet); 0 means P=0.
    """

    payload_type: int
    sequence: int
    timestamp: int
    ssrc: int
    payload: bytes = b""
    marker: bool = False
    csrcs: tuple[int, ...] = ()
    extension: RtpExtension | None = None
    padding: int = 0

    def build(self) -> bytes:
        return build_rtp(self)


_tuple_new = tuple.__new__


def parse_rtp(data: bytes) -> RtpPacket:
    """Parse one RTP packet; raises RtpError naming the offending field."""
    if len(data) < RTP_HEADER_SIZE:
        raise RtpError(f"RTP packet too short: {len(data)} bytes, header needs {RTP_HEADER_SIZE}")
    b0, b1, seq, ts, ssrc = _FIXED_HEADER.unpack_from(data)
    if b0 == 0x80:  # fast path: V=2, no padding, no extension, no CSRC
        # tuple.__new__ skips the NamedTuple's Python-level __new__ (about a third faster).
        return _tuple_new(RtpPacket, (b1 & 0x7F, seq, ts, ssrc, data[12:], b1 > 0x7F, (), None, 0))
    if b0 >> 6 != RTP_VERSION:
        raise RtpError(f"RTP version field is {b0 >> 6}, expected {RTP_VERSION}")
    end = len(data)
    offset = RTP_HEADER_SIZE
    csrc_count = b0 & 0x0F
    csrcs: tuple[int, ...] = ()
    if csrc_count:
        if end < offset + 4 * csrc_count:
            raise RtpError(f"RTP CSRC list truncated: CC={csrc_count}, packet is {end} bytes")
        csrcs = struct.unpack_from(f"!{csrc_count}I", data, offset)
        offset += 4 * csrc_count
    extension = None
    if b0 & 0x10:
        if end < offset + 4:
            raise RtpError("RTP header extension truncated: no room for its 4-byte header")
        profile, words = _EXTENSION_HEADER.unpack_from(data, offset)
        offset += 4
        if end < offset + 4 * words:
            raise RtpError(f"RTP header extension length {words} words exceeds the packet")
        extension = RtpExtension(profile, bytes(data[offset : offset + 4 * words]))
        offset += 4 * words
    padding = 0
    if b0 & 0x20:
        padding = data[-1]
        if padding == 0:
            raise RtpError("RTP padding count is 0 although the P bit is set")
        if padding > end - offset:
            raise RtpError(f"RTP padding count {padding} exceeds the {end - offset} bytes left")
        end -= padding
    return RtpPacket(
        b1 & 0x7F, seq, ts, ssrc, bytes(data[offset:end]), b1 > 0x7F, csrcs, extension, padding
    )


def build_rtp(packet: RtpPacket) -> bytes:
    """Serialise a packet; raises RtpError for a field out of range."""
    pt, seq, ts, ssrc, payload, marker, csrcs, extension, padding = packet
    if not 0 <= pt <= 0x7F:
        raise RtpError(f"RTP payload type {pt} out of range 0..127")
    if not 0 <= seq < RTP_SEQ_MOD:
        raise RtpError(f"RTP sequence number {seq} out of range 0..65535")
    if not 0 <= ts < _TS_MOD:
        raise RtpError(f"RTP timestamp {ts} out of range 0..2**32-1")
    if not 0 <= ssrc < _TS_MOD:
        raise RtpError(f"RTP SSRC {ssrc} out of range 0..2**32-1")
    if len(csrcs) > 15:
        raise RtpError(f"RTP CSRC list has {len(csrcs)} entries, at most 15 fit")
    if not 0 <= padding <= 255:
        raise RtpError(f"RTP padding {padding} out of range 0..255")
    b0 = 0x80 | len(csrcs) | (0x20 if padding else 0) | (0x10 if extension is not None else 0)
    parts = [_FIXED_HEADER.pack(b0, pt | (0x80 if marker else 0), seq, ts, ssrc)]
    if csrcs:
        if not all(0 <= c < _TS_MOD for c in csrcs):
            raise RtpError("RTP CSRC value out of range 0..2**32-1")
        parts.append(struct.pack(f"!{len(csrcs)}I", *csrcs))
    if extension is not None:
        profile, data = extension
        if not 0 <= profile <= 0xFFFF:
            raise RtpError(f"RTP extension profile {profile:#x} out of range 0..0xffff")
        if len(data) % 4 or len(data) > 4 * 0xFFFF:
            raise RtpError(f"RTP extension data of {len(data)} bytes is not whole 32-bit words")
        parts.append(_EXTENSION_HEADER.pack(profile, len(data) // 4))
        parts.append(data)
    parts.append(payload)
    if padding:
        parts.append(bytes(padding - 1) + bytes((padding,)))
    return b"".join(parts)


# --- batch parsing ------------------------------------------------------------------------

_BATCH_HEADER = np.dtype(
    [("b0", "u1"), ("b1", "u1"), ("seq", ">u2"), ("ts", ">u4"), ("ssrc", ">u4")]
)
_HEADER_COLUMNS = np.arange(RTP_HEADER_SIZE)
# Guard bytes after the joined buffer so header gathers of short packets stay in bounds:
# 12 fixed + 60 CSRC + 4 extension header.
_GUARD = bytes(RTP_HEADER_SIZE + 60 + 4)

U8Array = npt.NDArray[np.uint8]
I64Array = npt.NDArray[np.int64]


@dataclass(frozen=True, slots=True, kw_only=True)
class RtpBatch:
    """Header fields of many packets as parallel arrays; ``valid`` marks parseable packets.

    Fields of invalid packets are unspecified. ``buffer`` holds all packets back to back;
    a packet's payload is ``buffer[payload_offset : payload_offset + payload_length]``.
    """

    buffer: U8Array
    valid: npt.NDArray[np.bool_]
    marker: npt.NDArray[np.bool_]
    payload_type: U8Array
    sequence: npt.NDArray[np.uint16]
    timestamp: npt.NDArray[np.uint32]
    ssrc: npt.NDArray[np.uint32]
    payload_offset: I64Array
    payload_length: I64Array

    def payload_block(self, width: int, *, fill: int) -> U8Array:
        """Payloads as an (n, width) array, cut or filled with ``fill`` (e.g. 0xFF = µ-law 0)."""
        offsets, lengths = self.payload_offset, self.payload_length
        n = len(offsets)
        stride = int(offsets[1] - offsets[0]) if n > 1 else 0
        if (
            n
            and self.valid.all()
            and (lengths == lengths[0]).all()
            and (offsets == offsets[0] + stride * np.arange(n)).all()
        ):
            # Equal packets back to back (the usual case): a strided view, no gather.
            take = min(width, int(lengths[0]))
            view = np.lib.stride_tricks.as_strided(
                self.buffer[int(offsets[0]) :], shape=(n, take), strides=(stride, 1)
            )
            block = np.full((n, width), fill, dtype=np.uint8)
            block[:, :take] = view
            return block
        columns = np.arange(width)
        index = offsets[:, None] + columns
        present = columns < np.where(self.valid, lengths, 0)[:, None]
        gathered = self.buffer[np.minimum(index, self.buffer.size - 1)]
        return np.where(present, gathered, np.uint8(fill))


def parse_rtp_batch(packets: Sequence[bytes]) -> RtpBatch:
    """Parse the headers of many packets at once with numpy (no per-packet Python work)."""
    lengths = np.fromiter(map(len, packets), dtype=np.int64, count=len(packets))
    starts = np.cumsum(lengths) - lengths
    buffer = np.frombuffer(b"".join([*packets, _GUARD]), dtype=np.uint8)
    header = buffer[starts[:, None] + _HEADER_COLUMNS].view(_BATCH_HEADER)[:, 0]
    b0 = header["b0"]
    b1 = header["b1"]
    header_length = RTP_HEADER_SIZE + 4 * (b0 & 0x0F).astype(np.int64)
    has_extension = (b0 & 0x10) != 0
    ext_at = starts + header_length
    ext_words = (buffer[ext_at + 2].astype(np.int64) << 8) | buffer[ext_at + 3]
    header_length += np.where(has_extension, 4 + 4 * ext_words, 0)
    has_padding = (b0 & 0x20) != 0
    last_byte = buffer[np.maximum(starts + lengths - 1, 0)].astype(np.int64)
    padding = np.where(has_padding, last_byte, 0)
    payload_length = lengths - header_length - padding
    valid = (
        (lengths >= RTP_HEADER_SIZE)
        & ((b0 >> 6) == RTP_VERSION)
        & (payload_length >= 0)
        & ~(has_padding & (padding == 0))
    )
    return RtpBatch(
        buffer=buffer,
        valid=valid,
        marker=b1 >= 0x80,
        payload_type=b1 & 0x7F,
        sequence=header["seq"].astype(np.uint16),
        timestamp=header["ts"].astype(np.uint32),
        ssrc=header["ssrc"].astype(np.uint32),
        payload_offset=starts + header_length,
        payload_length=np.maximum(payload_length, 0),
    )
