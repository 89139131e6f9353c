"""Which host process owns an address. Deterministic, so every process agrees without asking.

Each actor kind is served by one or more hosts; an address maps to one of them by a stable hash
(crc32) of the address. ``host/<id>`` addresses (the reply inbox of a process) map to ``<id>``.
The directory service broadcasts the table; a process starts from the table in its config.
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping

from bus.errors import NoRoute


class Placement:
    def __init__(self, kinds: Mapping[str, tuple[str, ...]]) -> None:
        for kind, hosts in kinds.items():
            if not hosts:
                raise ValueError(f"placement: kind {kind!r} has no host")
        self.kinds = dict(kinds)

    def host_of(self, address: str) -> str:
        kind, sep, rest = address.partition("/")
        if not sep or not rest:
            raise ValueError(f"actor address must be 'kind/id', got {address!r}")
        if kind == "host":
            return rest
        hosts = self.kinds.get(kind)
        if hosts is None:
            raise NoRoute(f"no host serves actors of kind {kind!r} (address {address!r})")
        if len(hosts) == 1:
            return hosts[0]
        return hosts[zlib.crc32(address.encode()) % len(hosts)]

    @classmethod
    def single(cls, host_id: str, kinds: tuple[str, ...]) -> Placement:
        return cls({k: (host_id,) for k in kinds})
