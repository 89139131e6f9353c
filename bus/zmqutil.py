"""Small typed helpers over pyzmq socket options used with asyncio readers."""

from __future__ import annotations

from typing import Any

import zmq


def fd_of(sock: zmq.Socket[Any]) -> int:
    return int(sock.getsockopt(zmq.FD))


def readable(sock: zmq.Socket[Any]) -> bool:
    return bool(int(sock.getsockopt(zmq.EVENTS)) & zmq.POLLIN)
