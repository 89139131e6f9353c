"""RTP port ranges: each media worker owns a disjoint slice of ``[media] rtp_port_min..max``.

Workers never coordinate: worker ``k`` of ``n`` takes the ``k``-th contiguous slice of even
ports, so two workers can never try to bind the same port. RTP uses the even port; the odd
one above it is left for RTCP (RFC 3550 §11).
"""

from __future__ import annotations

import errno
import socket
from collections import deque


class PortRangeError(ValueError):
    """The configured range cannot be split as asked; the message names the numbers."""


class PortsExhausted(RuntimeError):
    """Every port of this worker's slice is in use (or held by another program)."""


def worker_ports(low: int, high: int, *, worker: int, workers: int) -> range:
    """The even RTP ports of worker ``worker`` (0-based) among ``workers``."""
    if workers < 1 or not 0 <= worker < workers:
        raise PortRangeError(f"media worker index {worker} outside 0..{workers - 1}")
    first = low + (low & 1)
    pairs = (high - first + 1) // 2  # the odd RTCP port above each even one must fit too
    if pairs < workers:
        raise PortRangeError(
            f"RTP range {low}..{high} has {pairs} port pairs, fewer than {workers} workers"
        )
    share, extra = divmod(pairs, workers)
    start = worker * share + min(worker, extra)
    count = share + (1 if worker < extra else 0)
    return range(first + 2 * start, first + 2 * (start + count), 2)


class PortPool:
    """Binds non-blocking UDP sockets on this worker's ports, least recently used first.

    Reusing the least recently freed port last keeps late packets of a finished call from
    landing in a new one.
    """

    def __init__(self, host: str, ports: range) -> None:
        self.host = host
        self.ports = ports
        self._free: deque[int] = deque(ports)
        self.in_use: set[int] = set()

    def __len__(self) -> int:
        return len(self._free)

    def bind(self) -> tuple[socket.socket, int]:
        """A socket on a free even port (RTP only)."""
        socks, port = self._bind(1)
        return socks[0], port

    def bind_pair(self) -> tuple[socket.socket, socket.socket, int]:
        """Sockets on a free even port and the odd one above it (RTP and RTCP, RFC 3550
        §11); a pair whose either half another program holds is skipped."""
        socks, port = self._bind(2)
        return socks[0], socks[1], port

    def _bind(self, width: int) -> tuple[list[socket.socket], int]:
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        for _ in range(len(self._free)):
            port = self._free.popleft()
            socks: list[socket.socket] = []
            try:
                for offset in range(width):
                    sock = socket.socket(family, socket.SOCK_DGRAM)
                    socks.append(sock)
                    sock.bind((self.host, port + offset))
            except OSError as exc:
                for sock in socks:
                    sock.close()
                self._free.append(port)
                if exc.errno != errno.EADDRINUSE:
                    raise
                continue  # another program holds it: try the next one
            for sock in socks:
                sock.setblocking(False)
            # A few hundred ms of audio: a late tick must not drop a burst on the floor.
            socks[0].setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 16)
            self.in_use.add(port)
            return socks, port
        raise PortsExhausted(
            f"no free RTP port in {self.ports.start}..{self.ports.stop - 1} on {self.host}"
        )

    def release(self, port: int) -> None:
        if port in self.in_use:
            self.in_use.discard(port)
            self._free.append(port)
