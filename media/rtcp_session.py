"""One leg's RTCP (RFC 3550 §6): what the peer reports about us, and the reports we send.

Sans-IO: compound packets in (``receive``), compound packets out (``report``, ``bye``);
``now`` is the worker's monotonic clock in seconds and ``wall_offset`` turns it into Unix
time for NTP timestamps. Timers are data: :attr:`RtcpSession.next_report`.

Reporting interval (§6.2, §6.3.1): a two-party session of 64 kbit/s audio would compute an
interval far below the 5 s minimum, so the minimum applies: each report is scheduled
``interval_s`` x U(0.5, 1.5) after the previous one, the first after half of that (§6.2
allows half the minimum "for the first RTCP packet"). The randomisation spreads the
reports of legs opened in the same instant over many ticks. The e - 3/2 compensation of
§6.3.1 is left out: it corrects for timer reconsideration, which a fixed minimum does not
run.

SR or RR (§6.4): an SR when our stream sent RTP since the report before last (the
``we_sent`` rule of §6.3.8), else an RR; either carries one report block about the stream
we receive, then an SDES CNAME (§6.5.1; a random CNAME per leg, RFC 7022).

Round-trip time (§6.4.1): a report block about our SSRC echoes the middle 32 bits of our
last SR's NTP timestamp (LSR) and how long the peer held it (DLSR); RTT = arrival - LSR -
DLSR.
"""

from __future__ import annotations

import random
import struct
from dataclasses import dataclass

from media.receive_stats import ReceiveStats
from media.rtcp import (
    SDES_CNAME,
    Bye,
    ReceiverReport,
    ReportBlock,
    RtcpError,
    RtcpPacket,
    SdesChunk,
    SdesItem,
    SenderReport,
    SourceDescription,
    build_rtcp,
    ntp_middle,
    ntp_timestamp,
    parse_compound,
    round_trip_time,
)

#: a round trip above this is a confused peer (or clock), not a measurement
MAX_PLAUSIBLE_RTT_S = 30.0


@dataclass(frozen=True, slots=True, kw_only=True)
class SenderState:
    """Our outgoing stream, for an SR's sender info."""

    ssrc: int
    packets: int
    octets: int
    rtp_timestamp: int  # the stream's timestamp for ``now``


class RtcpSession:
    __slots__ = (
        "_last_sr",
        "_rng",
        "_sdes",
        "_sent_marks",
        "cname",
        "interval_s",
        "malformed",
        "next_report",
        "peer",
        "peer_bye",
        "received",
        "reports_sent",
        "rtt_last",
        "rtt_max",
        "rtt_n",
        "rtt_sum",
        "wall_offset",
    )

    def __init__(self, *, cname: bytes, interval_s: float, rng: random.Random, now: float,
                 wall_offset: float) -> None:
        self.cname = cname
        self.interval_s = interval_s
        self.wall_offset = wall_offset
        self._rng = rng
        self.received = 0  # valid compound packets from the peer
        self.malformed = 0  # packets that did not parse (ignored)
        self.reports_sent = 0
        self.peer: ReportBlock | None = None  # the peer's latest report block about us
        self.peer_bye = False
        self.rtt_last: float | None = None  # seconds
        self.rtt_sum = 0.0
        self.rtt_n = 0
        self.rtt_max = 0.0
        self._last_sr: tuple[int, int, float] | None = None  # peer's (ssrc, LSR, arrival)
        self._sent_marks = (-1, -1)  # our packet count at the last two reports
        self._sdes: tuple[int | None, bytes] = (None, b"")  # (SSRC, its SDES CNAME packet)
        self.next_report = float("inf")
        self._schedule(now, first=True)

    def _schedule(self, now: float, *, first: bool = False) -> None:
        if self.interval_s <= 0:
            self.next_report = float("inf")
            return
        base = self.interval_s / 2 if first else self.interval_s
        self.next_report = now + base * self._rng.uniform(0.5, 1.5)

    def _ntp(self, now: float) -> int:
        return ntp_timestamp(now + self.wall_offset)

    # ------------------------------------------------------------------ receiving

    def receive(self, data: bytes, now: float, *, our_ssrc: int) -> bool:
        """Take one compound packet from the peer; False (and counted) when malformed."""
        try:
            packets = parse_compound(data, strict=False)  # reduced-size RTCP too (RFC 5506)
        except (RtcpError, struct.error):
            self.malformed += 1
            return False
        self.received += 1
        for packet in packets:
            if isinstance(packet, SenderReport):
                self._last_sr = (packet.ssrc, ntp_middle(packet.ntp_timestamp), now)
                self._blocks(packet.reports, now, our_ssrc)
            elif isinstance(packet, ReceiverReport):
                self._blocks(packet.reports, now, our_ssrc)
            elif isinstance(packet, Bye):
                self.peer_bye = True
        return True

    def _blocks(self, blocks: tuple[ReportBlock, ...], now: float, our_ssrc: int) -> None:
        for block in blocks:
            if block.ssrc != our_ssrc:
                continue  # about another source (e.g. a conference's other members)
            self.peer = block
            rtt = round_trip_time(block, arrival_ntp=self._ntp(now))
            if rtt is not None and rtt <= MAX_PLAUSIBLE_RTT_S:
                self.rtt_last = rtt
                self.rtt_sum += rtt
                self.rtt_n += 1
                self.rtt_max = max(self.rtt_max, rtt)

    @property
    def rtt_mean(self) -> float | None:
        return self.rtt_sum / self.rtt_n if self.rtt_n else None

    # ------------------------------------------------------------------ sending

    def report(self, now: float, *, sender: SenderState, stats: ReceiveStats) -> bytes:
        """The next scheduled report (SR or RR, then SDES); schedules the one after."""
        packet = self._report(now, sender, stats)
        self._schedule(now)
        self.reports_sent += 1
        return packet

    def postpone(self, now: float) -> None:
        """Skip the report now due (nowhere to send it yet); schedule the next."""
        self._schedule(now)

    def bye(self, now: float, *, sender: SenderState, stats: ReceiveStats,
            reason: bytes = b"") -> bytes:
        """The last compound packet of the leg: report, SDES, BYE (§6.6: a BYE travels in
        a compound packet that starts with a report)."""
        packet = self._report(now, sender, stats)
        self.next_report = float("inf")
        return packet + build_rtcp(Bye(ssrcs=(sender.ssrc,), reason=reason[:255]))

    def _report(self, now: float, sender: SenderState, stats: ReceiveStats) -> bytes:
        blocks = self._block(now, stats)
        before_last, last = self._sent_marks
        self._sent_marks = (last, sender.packets)
        report: RtcpPacket
        if sender.packets > max(before_last, 0):
            report = SenderReport(
                ssrc=sender.ssrc, ntp_timestamp=self._ntp(now),
                rtp_timestamp=sender.rtp_timestamp & 0xFFFFFFFF,
                packet_count=sender.packets & 0xFFFFFFFF,
                octet_count=sender.octets & 0xFFFFFFFF, reports=blocks,
            )
        else:
            report = ReceiverReport(ssrc=sender.ssrc, reports=blocks)
        if self._sdes[0] != sender.ssrc:  # built once: it never changes for an SSRC
            self._sdes = (sender.ssrc, build_rtcp(SourceDescription(chunks=(SdesChunk(
                ssrc=sender.ssrc, items=(SdesItem(kind=SDES_CNAME, value=self.cname),)),))))
        return build_rtcp(report) + self._sdes[1]

    def _block(self, now: float, stats: ReceiveStats) -> tuple[ReportBlock, ...]:
        figures = stats.take_report()
        if figures is None:
            return ()  # nothing received yet: a report without blocks (RC = 0)
        last_sr, delay = 0, 0
        if self._last_sr is not None and self._last_sr[0] == figures.ssrc:
            _, last_sr, arrival = self._last_sr
            delay = min(0xFFFFFFFF, int((now - arrival) * 65536))
        return (ReportBlock(
            ssrc=figures.ssrc, fraction_lost=figures.fraction_lost,
            cumulative_lost=figures.cumulative_lost,
            extended_highest_seq=figures.extended_highest_seq, jitter=figures.jitter,
            last_sr=last_sr, delay_since_last_sr=delay,
        ),)
