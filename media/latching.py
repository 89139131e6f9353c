"""Symmetric RTP (RFC 4961) for phones behind NAT: send to where a leg's packets come from.

A phone behind NAT puts its private address in SDP; its packets reach us from the NAT's
public address and port. Once the remote is set (from SDP), the endpoint reads its first
RTP packet with ``recvfrom``; if the packet came from elsewhere, the endpoint "latches":
from then on it sends to that source. Then it goes back to the plain ``recv`` the fast path
calls, so latching costs nothing per packet afterwards.

A re-INVITE that announces a new address latches afresh on the next packet; one that
announces the same address again (hold, resume, codec change) keeps the latched address:
the NAT mapping has not changed, and re-announcing the private address must not send audio
back into the void until the next packet comes.

Known limit (as with every "comedia" latching): whoever sends the first packet to the port
after the remote is set is believed. Legs whose SDP is trustworthy (trunks on a private
network) can turn latching off per endpoint.
"""

from __future__ import annotations

import socket
from collections.abc import Callable

from media.rtcp import looks_like_rtcp
from media.session import Endpoint

Address = tuple[str, int]


class Latch:
    """The latching state of one endpoint; installs and removes its ``recvfrom`` reader."""

    __slots__ = ("_endpoint", "_recv", "_recvfrom", "announced", "enabled", "latched",
                 "on_latch")

    def __init__(self, endpoint: Endpoint, sock: socket.socket, *, enabled: bool,
                 on_latch: Callable[[Endpoint, Address], None] | None = None) -> None:
        self._endpoint = endpoint
        self._recv = sock.recv
        self._recvfrom = sock.recvfrom
        self.enabled = enabled
        self.on_latch = on_latch
        self.announced: Address | None = None  # from SDP
        self.latched: Address | None = None  # where the packets actually come from

    def remote_set(self) -> None:
        """Call after the endpoint's remote changed from SDP (``Endpoint.set_remote``)."""
        endpoint = self._endpoint
        announced = endpoint.remote
        if announced is not None and announced == self.announced and self.latched is not None:
            endpoint.remote = self.latched  # same SDP address: the NAT mapping still holds
            return
        self.announced = announced
        self.latched = None
        listen = self.enabled and announced is not None and announced[1] != 0
        endpoint.recv = self._recv_and_latch if listen else self._recv

    def _recv_and_latch(self, size: int) -> bytes:
        data, source = self._recvfrom(size)
        endpoint = self._endpoint
        # Only RTP latches: not STUN, not stray garbage, not RTCP sent to the RTP port.
        if len(data) >= 12 and data[0] >> 6 == 2 and not looks_like_rtcp(data):
            address: Address = (source[0], source[1])
            self.latched = address
            endpoint.recv = self._recv
            if address != endpoint.remote:
                endpoint.remote = address
                if self.on_latch is not None:
                    self.on_latch(endpoint, address)
        return data
