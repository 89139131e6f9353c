"""RTCP packets (RFC 3550 §6): SR, RR, SDES, BYE, APP and compound packets.

Sans-IO: bytes in, typed packets out. Report blocks are computed from sampled receive
statistics by ``media.rtcp_session`` (see ``media.receive_stats``).
"""

from __future__ import annotations

import struct
from collections.abc import Iterable
from dataclasses import dataclass

RTCP_VERSION = 2
PT_SR = 200
PT_RR = 201
PT_SDES = 202
PT_BYE = 203
PT_APP = 204

SDES_END = 0
SDES_CNAME = 1
SDES_NAME = 2
SDES_EMAIL = 3
SDES_PHONE = 4
SDES_LOC = 5
SDES_TOOL = 6
SDES_NOTE = 7
SDES_PRIV = 8

NTP_UNIX_OFFSET = 2_208_988_800  # seconds from 1900-01-01 to 1970-01-01
_MAX_COUNT = 31

_HEADER = struct.Struct("!BBH")
_SENDER_INFO = struct.Struct("!IQIII")  # SSRC, NTP, RTP timestamp, packets, octets
_REPORT_BLOCK = struct.Struct("!IIIIII")
_U32 = struct.Struct("!I")


class RtcpError(ValueError):
    """An RTCP packet that cannot be parsed or built; the message names packet and field."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ReportBlock:
    """Reception report about one source (RFC 3550 §6.4.1)."""

    ssrc: int
    fraction_lost: int  # 1/256 units
    cumulative_lost: int  # signed 24-bit
    extended_highest_seq: int
    jitter: int  # RTP timestamp units
    last_sr: int  # middle 32 bits of the last SR's NTP timestamp, 0 if none
    delay_since_last_sr: int  # 1/65536 s, 0 if no SR yet


@dataclass(frozen=True, slots=True, kw_only=True)
class SenderReport:
    ssrc: int
    ntp_timestamp: int  # 64-bit NTP format: seconds since 1900 << 32 | fraction
    rtp_timestamp: int
    packet_count: int
    octet_count: int
    reports: tuple[ReportBlock, ...] = ()
    extension: bytes = b""  # profile-specific, whole 32-bit words


@dataclass(frozen=True, slots=True, kw_only=True)
class ReceiverReport:
    ssrc: int
    reports: tuple[ReportBlock, ...] = ()
    extension: bytes = b""


@dataclass(frozen=True, slots=True, kw_only=True)
class SdesItem:
    kind: int  # SDES_CNAME, SDES_NAME, ...
    value: bytes


@dataclass(frozen=True, slots=True, kw_only=True)
class SdesChunk:
    ssrc: int
    items: tuple[SdesItem, ...]

    @property
    def cname(self) -> str | None:
        for item in self.items:
            if item.kind == SDES_CNAME:
                return item.value.decode("utf-8", "replace")
        return None


@dataclass(frozen=True, slots=True, kw_only=True)
class SourceDescription:
    chunks: tuple[SdesChunk, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class Bye:
    ssrcs: tuple[int, ...]
    reason: bytes = b""


@dataclass(frozen=True, slots=True, kw_only=True)
class App:
    subtype: int
    ssrc: int
    name: bytes  # four ASCII characters
    data: bytes = b""  # whole 32-bit words


@dataclass(frozen=True, slots=True, kw_only=True)
class UnknownRtcp:
    """A packet type this module does not interpret (e.g. RTPFB/PSFB), kept verbatim."""

    packet_type: int
    count: int
    body: bytes


RtcpPacket = SenderReport | ReceiverReport | SourceDescription | Bye | App | UnknownRtcp


# --- helpers --------------------------------------------------------------------------------


def ntp_timestamp(unix_time: float) -> int:
    """64-bit NTP timestamp for a wall-clock Unix time (wraps at the 2036 era boundary)."""
    seconds = int(unix_time // 1)
    fraction = int((unix_time - seconds) * (1 << 32)) & 0xFFFFFFFF
    return (((seconds + NTP_UNIX_OFFSET) & 0xFFFFFFFF) << 32) | fraction


def ntp_middle(ntp: int) -> int:
    """The middle 32 bits of a 64-bit NTP timestamp, as used in LSR."""
    return (ntp >> 16) & 0xFFFFFFFF


def round_trip_time(block: ReportBlock, *, arrival_ntp: int) -> float | None:
    """RTT in seconds from a report block about our stream (RFC 3550 §6.4.1), if it has LSR."""
    if block.last_sr == 0:
        return None
    rtt = (ntp_middle(arrival_ntp) - block.last_sr - block.delay_since_last_sr) & 0xFFFFFFFF
    return rtt / 65536.0


def looks_like_rtcp(data: bytes) -> bool:
    """RFC 5761 §4 demultiplexing: RTCP when the second octet is in 192..223."""
    return len(data) >= 2 and 192 <= data[1] <= 223


# --- building -------------------------------------------------------------------------------


def _header(count: int, packet_type: int, body_length: int) -> bytes:
    if not 0 <= count <= _MAX_COUNT:
        raise RtcpError(f"RTCP {packet_type}: count {count} exceeds {_MAX_COUNT}")
    if body_length % 4:
        raise RtcpError(f"RTCP {packet_type}: body of {body_length} bytes is not 32-bit aligned")
    return _HEADER.pack(0x80 | count, packet_type, body_length // 4)


def _pad4(data: bytes) -> bytes:
    return data + bytes(-len(data) % 4)


def _pack_blocks(blocks: tuple[ReportBlock, ...]) -> bytes:
    out = []
    for b in blocks:
        if not 0 <= b.fraction_lost <= 255:
            raise RtcpError(f"report block {b.ssrc:#x}: fraction_lost {b.fraction_lost} > 255")
        if not -0x800000 <= b.cumulative_lost <= 0x7FFFFF:
            raise RtcpError(f"report block {b.ssrc:#x}: cumulative_lost outside 24-bit range")
        lost_word = (b.fraction_lost << 24) | (b.cumulative_lost & 0xFFFFFF)
        out.append(
            _REPORT_BLOCK.pack(
                b.ssrc,
                lost_word,
                b.extended_highest_seq,
                b.jitter,
                b.last_sr,
                b.delay_since_last_sr,
            )
        )
    return b"".join(out)


def build_rtcp(packet: RtcpPacket) -> bytes:
    """Serialise one RTCP packet (without padding)."""
    try:
        return _build(packet)
    except struct.error as exc:
        raise RtcpError(f"RTCP {type(packet).__name__}: field out of range: {exc}") from exc


def _build(packet: RtcpPacket) -> bytes:
    if isinstance(packet, SenderReport):
        body = (
            _SENDER_INFO.pack(
                packet.ssrc,
                packet.ntp_timestamp,
                packet.rtp_timestamp,
                packet.packet_count,
                packet.octet_count,
            )
            + _pack_blocks(packet.reports)
            + packet.extension
        )
        return _header(len(packet.reports), PT_SR, len(body)) + body
    if isinstance(packet, ReceiverReport):
        body = _U32.pack(packet.ssrc) + _pack_blocks(packet.reports) + packet.extension
        return _header(len(packet.reports), PT_RR, len(body)) + body
    if isinstance(packet, SourceDescription):
        chunks = []
        for chunk in packet.chunks:
            items = []
            for item in chunk.items:
                if not SDES_CNAME <= item.kind <= 255 or len(item.value) > 255:
                    raise RtcpError(f"SDES item kind {item.kind}: kind or length out of range")
                items.append(bytes((item.kind, len(item.value))) + item.value)
            # At least one null octet ends the item list, then pad to a 32-bit boundary.
            chunks.append(_pad4(_U32.pack(chunk.ssrc) + b"".join(items) + b"\x00"))
        body = b"".join(chunks)
        return _header(len(packet.chunks), PT_SDES, len(body)) + body
    if isinstance(packet, Bye):
        body = b"".join(_U32.pack(s) for s in packet.ssrcs)
        if packet.reason:
            if len(packet.reason) > 255:
                raise RtcpError(f"BYE reason of {len(packet.reason)} bytes exceeds 255")
            body += _pad4(bytes((len(packet.reason),)) + packet.reason)
        return _header(len(packet.ssrcs), PT_BYE, len(body)) + body
    if isinstance(packet, App):
        if len(packet.name) != 4:
            raise RtcpError(f"APP name must be 4 bytes, got {packet.name!r}")
        body = _U32.pack(packet.ssrc) + packet.name + packet.data
        return _header(packet.subtype, PT_APP, len(body)) + body
    return _header(packet.count, packet.packet_type, len(packet.body)) + packet.body


def build_compound(packets: Iterable[RtcpPacket]) -> bytes:
    """Concatenate packets into one compound RTCP packet (first should be SR or RR)."""
    return b"".join(build_rtcp(p) for p in packets)


# --- parsing --------------------------------------------------------------------------------


def _parse_blocks(body: bytes, offset: int, count: int, where: str) -> tuple[ReportBlock, ...]:
    if len(body) < offset + 24 * count:
        raise RtcpError(f"{where}: {count} report blocks do not fit in {len(body)} bytes")
    blocks = []
    for i in range(count):
        ssrc, lost, highest, jitter, lsr, dlsr = _REPORT_BLOCK.unpack_from(body, offset + 24 * i)
        cumulative = lost & 0xFFFFFF
        if cumulative & 0x800000:
            cumulative -= 0x1000000
        blocks.append(
            ReportBlock(
                ssrc=ssrc,
                fraction_lost=lost >> 24,
                cumulative_lost=cumulative,
                extended_highest_seq=highest,
                jitter=jitter,
                last_sr=lsr,
                delay_since_last_sr=dlsr,
            )
        )
    return tuple(blocks)


def _parse_sdes(body: bytes, count: int, where: str) -> SourceDescription:
    chunks = []
    offset = 0
    for n in range(count):
        if len(body) < offset + 4:
            raise RtcpError(f"{where}: SDES chunk {n} truncated before its SSRC")
        (ssrc,) = _U32.unpack_from(body, offset)
        offset += 4
        items = []
        while True:
            if offset >= len(body):
                raise RtcpError(f"{where}: SDES chunk {n} has no terminating null item")
            kind = body[offset]
            if kind == SDES_END:
                offset += 1
                break
            if offset + 2 > len(body) or offset + 2 + body[offset + 1] > len(body):
                raise RtcpError(f"{where}: SDES chunk {n} item {kind} truncated")
            length = body[offset + 1]
            items.append(SdesItem(kind=kind, value=body[offset + 2 : offset + 2 + length]))
            offset += 2 + length
        offset += -offset % 4
        chunks.append(SdesChunk(ssrc=ssrc, items=tuple(items)))
    return SourceDescription(chunks=tuple(chunks))


def _parse_one(packet_type: int, count: int, body: bytes, where: str) -> RtcpPacket:
    if packet_type == PT_SR:
        if len(body) < _SENDER_INFO.size:
            raise RtcpError(f"{where}: SR sender info truncated ({len(body)} bytes)")
        ssrc, ntp, rtp_ts, packets, octets = _SENDER_INFO.unpack_from(body)
        end = _SENDER_INFO.size + 24 * count
        return SenderReport(
            ssrc=ssrc,
            ntp_timestamp=ntp,
            rtp_timestamp=rtp_ts,
            packet_count=packets,
            octet_count=octets,
            reports=_parse_blocks(body, _SENDER_INFO.size, count, where),
            extension=body[end:],
        )
    if packet_type == PT_RR:
        if len(body) < 4:
            raise RtcpError(f"{where}: RR truncated before its SSRC")
        return ReceiverReport(
            ssrc=_U32.unpack_from(body)[0],
            reports=_parse_blocks(body, 4, count, where),
            extension=body[4 + 24 * count :],
        )
    if packet_type == PT_SDES:
        return _parse_sdes(body, count, where)
    if packet_type == PT_BYE:
        if len(body) < 4 * count:
            raise RtcpError(f"{where}: BYE lists {count} sources but has {len(body)} bytes")
        ssrcs = struct.unpack_from(f"!{count}I", body)
        reason = b""
        if len(body) > 4 * count:
            length = body[4 * count]
            if 4 * count + 1 + length > len(body):
                raise RtcpError(f"{where}: BYE reason length {length} exceeds the packet")
            reason = body[4 * count + 1 : 4 * count + 1 + length]
        return Bye(ssrcs=ssrcs, reason=reason)
    if packet_type == PT_APP:
        if len(body) < 8:
            raise RtcpError(f"{where}: APP truncated before its name")
        return App(subtype=count, ssrc=_U32.unpack_from(body)[0], name=body[4:8], data=body[8:])
    return UnknownRtcp(packet_type=packet_type, count=count, body=body)


def parse_compound(data: bytes, *, strict: bool = True) -> list[RtcpPacket]:
    """Parse a compound RTCP packet with the RFC 3550 A.2 validity checks.

    ``strict`` also requires the first packet to be SR or RR and without padding; pass
    False to accept reduced-size RTCP (RFC 5506).
    """
    packets: list[RtcpPacket] = []
    offset = 0
    while offset < len(data):
        where = f"RTCP packet {len(packets)} at byte {offset}"
        if len(data) - offset < 4:
            raise RtcpError(f"{where}: truncated header ({len(data) - offset} bytes)")
        b0, packet_type, words = _HEADER.unpack_from(data, offset)
        if b0 >> 6 != RTCP_VERSION:
            raise RtcpError(f"{where}: version field is {b0 >> 6}, expected {RTCP_VERSION}")
        end = offset + 4 + 4 * words
        if end > len(data):
            raise RtcpError(f"{where}: length field {words} runs past the {len(data)} bytes")
        if strict and not packets and packet_type not in (PT_SR, PT_RR):
            raise RtcpError(f"{where}: compound packet must start with SR or RR, got {packet_type}")
        body_end = end
        if b0 & 0x20:
            if end != len(data) or (strict and not packets):
                raise RtcpError(f"{where}: only the last packet of a compound may be padded")
            padding = data[end - 1]
            if padding == 0 or padding > 4 * words:
                raise RtcpError(f"{where}: padding count {padding} invalid")
            body_end -= padding
        packets.append(_parse_one(packet_type, b0 & 0x1F, data[offset + 4 : body_end], where))
        offset = end
    if not packets:
        raise RtcpError("RTCP compound packet is empty")
    return packets
