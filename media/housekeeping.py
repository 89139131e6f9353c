"""What a media worker watches about each leg besides relaying it: receive statistics,
RTCP on the odd port, symmetric RTP, silent legs and the quality summary at the end.

None of it touches the fast path (``MediaWorker._readable``). Each tick the worker hands
one fiftieth of its legs to :meth:`Housekeeper.tick` (every leg once a second, the work
spread evenly over the ticks), which

* arms a statistics probe: the leg's next two packets take the general receive path
  (``relay_pt`` set to -1 makes the fast path's test fail), which feeds them to
  :meth:`Housekeeper.probed` (``media.receive_stats`` says why two a second suffice);
* checks for silence: a leg that should be sending (remote set, its SDP direction
  sendrecv) whose packet counters (RTP and RTCP) have not moved for ``media_timeout_s``
  is reported once with :class:`MediaTimeout`. Hold (sendonly, inactive, recvonly from the
  phone) stops the check; every new remote restarts the clock.

and sends the RTCP reports that are due (a heap by due time; at most
``MAX_REPORTS_PER_TICK`` a tick). RTCP sockets sit in the worker's epoll; the worker hands
their readiness to :meth:`Housekeeper.rtcp_readable`. Reports go to where the peer's RTCP
comes from once some came (symmetric RTCP, RFC 4961), before that to the ``a=rtcp`` port
or the RTP port + 1 at the (latched) RTP address.
"""

from __future__ import annotations

import base64
import heapq
import random
import select
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass

from bus.message import Message
from media.latching import Address, Latch
from media.messages import Direction, MediaQuality, MediaTimeout
from media.quality import mos_from_r, one_way_delay_ms, r_factor
from media.receive_stats import ReceiveStats
from media.rtcp_session import RtcpSession, SenderState
from media.session import CLOCK_RATE, G711_TYPES, Endpoint

PROBE_EVERY_TICKS = 50  # each leg once a second
PROBE_PACKETS = 2  # a pair of consecutive arrivals: one jitter difference
MAX_REPORTS_PER_TICK = 20
DEFAULT_MEDIA_TIMEOUT_S = 30.0
DEFAULT_RTCP_INTERVAL_S = 5.0

EventSink = Callable[[str, Message], None]


@dataclass(slots=True)
class HousekeepingCounters:
    rtcp_received: int = 0
    rtcp_malformed: int = 0
    rtcp_sent: int = 0
    rtcp_send_errors: int = 0
    latched: int = 0
    media_timeouts: int = 0


class LegMonitor:
    """Per endpoint: its RTCP socket and session, receive statistics, latch, silence clock."""

    __slots__ = ("closed", "expects", "heard", "last_heard", "latch", "opened_at",
                 "remote_seen", "rtcp", "rtcp_fd", "rtcp_peer", "rtcp_port", "rtcp_sock",
                 "rx", "timed_out")

    def __init__(self, *, rtcp_sock: socket.socket, rtcp: RtcpSession, latch: Latch,
                 now: float) -> None:
        self.rtcp_sock = rtcp_sock
        self.rtcp_fd = rtcp_sock.fileno()
        self.rtcp = rtcp
        self.latch = latch
        self.rx = ReceiveStats(clock_rate=CLOCK_RATE)
        self.opened_at = now
        self.rtcp_peer: Address | None = None  # where the peer's RTCP comes from
        self.rtcp_port = 0  # from a=rtcp; 0: RTP port + 1
        self.expects = False  # the peer should be sending (silence is news)
        self.heard = 0  # RTP + RTCP packets counted at the last check
        self.last_heard = now
        self.timed_out = False
        self.remote_seen = False
        self.closed = False


def monitor_of(endpoint: Endpoint) -> LegMonitor:
    monitor = endpoint.monitor
    assert isinstance(monitor, LegMonitor), f"endpoint {endpoint.id} has no monitor"
    return monitor


class Housekeeper:
    def __init__(self, *, epoll: select.epoll, on_event: EventSink, rng: random.Random,
                 media_timeout_s: float = DEFAULT_MEDIA_TIMEOUT_S,
                 rtcp_interval_s: float = DEFAULT_RTCP_INTERVAL_S, latching: bool = True,
                 wall_offset: float | None = None) -> None:
        self.epoll = epoll
        self.on_event = on_event
        self.rng = rng
        self.media_timeout_s = media_timeout_s  # 0: never report silence
        self.rtcp_interval_s = rtcp_interval_s  # 0: send no RTCP (still read it)
        self.latching = latching
        self.wall_offset = time.time() - time.monotonic() if wall_offset is None \
            else wall_offset
        self.counters = HousekeepingCounters()
        self._by_fd: dict[int, Endpoint] = {}  # RTCP socket -> its endpoint
        self._reports: list[tuple[float, int, Endpoint]] = []  # (due, n, endpoint) heap
        self._pushed = 0
        self._last_tick: int | None = None

    # ------------------------------------------------------------------ endpoint lifecycle

    def open(self, endpoint: Endpoint, rtp_sock: socket.socket, rtcp_sock: socket.socket,
             now: float, *, latching: bool | None = None) -> None:
        cname = base64.b64encode(self.rng.getrandbits(96).to_bytes(12, "big"))  # RFC 7022
        rtcp = RtcpSession(cname=cname, interval_s=self.rtcp_interval_s, rng=self.rng,
                           now=now, wall_offset=self.wall_offset)
        latch = Latch(endpoint, rtp_sock, enabled=self.latching if latching is None
                      else latching, on_latch=self._latched)
        monitor = endpoint.monitor = LegMonitor(rtcp_sock=rtcp_sock, rtcp=rtcp, latch=latch,
                                                now=now)
        self._by_fd[monitor.rtcp_fd] = endpoint
        self.epoll.register(monitor.rtcp_fd, select.EPOLLIN)
        self._push(endpoint, rtcp.next_report)

    def remote_set(self, endpoint: Endpoint, *, direction: Direction, rtcp_port: int,
                   now: float) -> None:
        """After ``Endpoint.set_remote``: latch afresh, restart the silence clock."""
        monitor = monitor_of(endpoint)
        monitor.latch.remote_set()
        monitor.rtcp_port = rtcp_port
        remote = endpoint.remote
        monitor.remote_seen = True
        monitor.expects = direction == "sendrecv" and remote is not None and remote[1] != 0
        monitor.last_heard = now
        monitor.timed_out = False
        if remote is not None:  # the first packets start the statistics' observed span
            endpoint.probe = PROBE_PACKETS
            endpoint.relay_pt = -1

    def close(self, endpoint: Endpoint, now: float) -> None:
        """Send RTCP BYE, report the leg's quality, close the RTCP socket."""
        monitor = monitor_of(endpoint)
        if monitor.closed:
            return
        monitor.closed = True
        if self.rtcp_interval_s > 0:
            self._send(endpoint, monitor, monitor.rtcp.bye(
                now, sender=self._sender(endpoint, now), stats=monitor.rx))
        if monitor.remote_seen:
            self.on_event(endpoint.call_id, self.quality(endpoint, now))
        self._by_fd.pop(monitor.rtcp_fd, None)
        try:
            self.epoll.unregister(monitor.rtcp_fd)
        except (OSError, ValueError):
            pass
        monitor.rtcp_sock.close()

    def _latched(self, endpoint: Endpoint, address: Address) -> None:
        self.counters.latched += 1

    # ------------------------------------------------------------------ receiving

    def probed(self, endpoint: Endpoint, *, ssrc: int, seq: int, timestamp: int, pt: int,
               now: float) -> None:
        """One probe packet (the worker's general receive path, ``endpoint.probe`` set)."""
        endpoint.probe -= 1
        follows = endpoint.probe == 0
        if follows:
            endpoint.relay_pt = endpoint.payload_type  # back to the fast path
        monitor_of(endpoint).rx.sample(
            ssrc=ssrc, seq=seq, timestamp=timestamp, audio=pt in G711_TYPES, arrival=now,
            received=endpoint.received, follows=follows)

    def rtcp_readable(self, fd: int, now: float) -> None:
        endpoint = self._by_fd.get(fd)
        if endpoint is None:
            return
        try:
            data, source = monitor_of(endpoint).rtcp_sock.recvfrom(2048)
        except OSError:
            return
        self.rtcp_received(endpoint, data, now, source=(source[0], source[1]))

    def rtcp_received(self, endpoint: Endpoint, data: bytes, now: float, *,
                      source: Address | None = None) -> None:
        """A compound RTCP packet for ``endpoint`` (its RTCP port, or muxed on RTP, RFC 5761,
        then ``source`` is None: replies still go to the RTCP port)."""
        monitor = monitor_of(endpoint)
        if monitor.rtcp.receive(data, now, our_ssrc=endpoint.out.ssrc):
            self.counters.rtcp_received += 1
            if source is not None:
                monitor.rtcp_peer = source
        else:
            self.counters.rtcp_malformed += 1

    # ------------------------------------------------------------------ the tick

    def tick(self, slots: list[Endpoint | None], tick: int, now: float) -> None:
        """Probe and check this tick's share of the legs; send the reports now due."""
        timeout = self.media_timeout_s
        # Ticks the worker skipped (overload) hand their share to this one.
        last = tick - 1 if self._last_tick is None else self._last_tick
        first = max(last + 1, tick - PROBE_EVERY_TICKS + 1)
        self._last_tick = tick
        for share in range(first, tick + 1):
            for endpoint in slots[share % PROBE_EVERY_TICKS :: PROBE_EVERY_TICKS]:
                if endpoint is None:
                    continue
                if endpoint.remote is not None:
                    endpoint.probe = PROBE_PACKETS
                    endpoint.relay_pt = -1
                if timeout > 0:
                    self._check_silence(endpoint, now, timeout)
        heap = self._reports
        sent = 0
        while heap and heap[0][0] <= now and sent < MAX_REPORTS_PER_TICK:
            due, _, endpoint = heapq.heappop(heap)
            monitor = monitor_of(endpoint)
            if monitor.closed or monitor.rtcp.next_report != due:
                continue  # closed since, or rescheduled
            sent += 1
            if endpoint.remote is None or endpoint.remote[1] == 0:
                monitor.rtcp.postpone(now)  # nowhere to send yet
            else:
                self._send(endpoint, monitor, monitor.rtcp.report(
                    now, sender=self._sender(endpoint, now), stats=monitor.rx))
            self._push(endpoint, monitor.rtcp.next_report)

    def _check_silence(self, endpoint: Endpoint, now: float, timeout: float) -> None:
        monitor = monitor_of(endpoint)
        heard = endpoint.received + monitor.rtcp.received
        if heard != monitor.heard or not monitor.expects:
            monitor.heard = heard
            monitor.last_heard = now
            monitor.timed_out = False
            return
        silent = now - monitor.last_heard
        if silent >= timeout and not monitor.timed_out:
            monitor.timed_out = True
            self.counters.media_timeouts += 1
            self.on_event(endpoint.call_id, MediaTimeout(
                call_id=endpoint.call_id, endpoint=endpoint.id, leg=endpoint.leg,
                silent_s=round(silent, 1)))

    def _push(self, endpoint: Endpoint, due: float) -> None:
        if due != float("inf"):
            self._pushed += 1
            heapq.heappush(self._reports, (due, self._pushed, endpoint))

    # ------------------------------------------------------------------ sending

    @staticmethod
    def _sender(endpoint: Endpoint, now: float) -> SenderState:
        out = endpoint.out
        return SenderState(ssrc=out.ssrc, packets=out.sent, octets=out.octets,
                           rtp_timestamp=out.timestamp_at(now))

    def _send(self, endpoint: Endpoint, monitor: LegMonitor, packet: bytes) -> None:
        to = rtcp_destination(endpoint, monitor)
        if to is None:
            return
        try:
            monitor.rtcp_sock.sendto(packet, to)
            self.counters.rtcp_sent += 1
        except OSError:
            self.counters.rtcp_send_errors += 1

    # ------------------------------------------------------------------ the summary

    def quality(self, endpoint: Endpoint, now: float) -> MediaQuality:
        """The leg's receive quality so far (sent as it closes)."""
        monitor = monitor_of(endpoint)
        rx = monitor.rx.summary(endpoint.received)
        rtcp = monitor.rtcp
        rtt = rtcp.rtt_mean
        rtt_ms = None if rtt is None else round(rtt * 1000, 1)
        r = r_factor(loss_pct=rx.loss_pct,
                     one_way_ms=one_way_delay_ms(rtt_ms=rtt_ms, jitter_ms=rx.jitter_mean_ms))
        peer = rtcp.peer
        remote = endpoint.remote
        return MediaQuality(
            call_id=endpoint.call_id, endpoint=endpoint.id, leg=endpoint.leg,
            duration_s=round(now - monitor.opened_at, 1),
            packets_received=rx.received, packets_expected=rx.expected,
            packets_lost=rx.lost, loss_pct=round(rx.loss_pct, 2),
            jitter_mean_ms=round(rx.jitter_mean_ms, 2),
            jitter_max_ms=round(rx.jitter_max_ms, 2), packets_sent=endpoint.out.sent,
            rtt_ms=rtt_ms,
            peer_loss_pct=None if peer is None else round(peer.fraction_lost * 100 / 256, 2),
            peer_cumulative_lost=None if peer is None else peer.cumulative_lost,
            peer_jitter_ms=None if peer is None else round(peer.jitter * 1000 / CLOCK_RATE, 2),
            r_factor=round(r, 1), mos=round(mos_from_r(r), 2),
            remote="" if remote is None else f"{remote[0]}:{remote[1]}",
        )

    def stats(self) -> dict[str, int]:
        c = self.counters
        return {"rtcp_received": c.rtcp_received, "rtcp_malformed": c.rtcp_malformed,
                "rtcp_sent": c.rtcp_sent, "rtcp_send_errors": c.rtcp_send_errors,
                "latched": c.latched, "media_timeouts": c.media_timeouts}


def rtcp_destination(endpoint: Endpoint, monitor: LegMonitor) -> Address | None:
    """Where this leg's RTCP goes: where the peer's comes from, else by its RTP address."""
    if monitor.rtcp_peer is not None:
        return monitor.rtcp_peer
    remote = endpoint.remote
    if remote is None or remote[1] == 0:
        return None
    return remote[0], monitor.rtcp_port or remote[1] + 1
