"""Copy-on-write, two-level (shard -> key -> value) maps for the matcher's immutable state.

``decide`` must not mutate the state it was given, yet copying a 1,000-agent dict on every
message costs more than the decision itself. Splitting each map into 64 shards by a stable hash
means a change copies the 64-entry outer map and one ~16-entry shard. The shards are plain
``dict[str, dict[str, X]]``, so the codec persists them like any other record field.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator, Mapping
from typing import Generic, TypeVar

V = TypeVar("V")

SHARDS = 64
_NAMES = tuple(f"{i:02d}" for i in range(SHARDS))

Sharded = dict[str, dict[str, V]]


def shard_of(key: str) -> str:
    # crc32, not hash(): string hashing is salted per process and snapshots outlive processes
    return _NAMES[zlib.crc32(key.encode()) & (SHARDS - 1)]


def get(m: Mapping[str, Mapping[str, V]], key: str) -> V | None:
    inner = m.get(shard_of(key))
    return None if inner is None else inner.get(key)


def values(m: Mapping[str, Mapping[str, V]]) -> Iterator[V]:
    for inner in m.values():
        yield from inner.values()


def size(m: Mapping[str, Mapping[str, V]]) -> int:
    return sum(len(inner) for inner in m.values())


def sharded(items: Mapping[str, V]) -> Sharded[V]:
    out: Sharded[V] = {}
    for k, v in items.items():
        out.setdefault(shard_of(k), {})[k] = v
    return out


class CowMap(Generic[V]):
    """A writable view of a sharded map that copies only what it changes, once per decide."""

    __slots__ = ("_mine", "_own_outer", "outer")

    def __init__(self, outer: Sharded[V]) -> None:
        self.outer = outer
        self._own_outer = False
        self._mine: set[str] = set()

    def get(self, key: str) -> V | None:
        inner = self.outer.get(shard_of(key))
        return None if inner is None else inner.get(key)

    def __contains__(self, key: str) -> bool:
        return self.get(key) is not None

    def _shard(self, s: str) -> dict[str, V]:
        if not self._own_outer:
            self.outer = self.outer.copy()
            self._own_outer = True
        if s in self._mine:
            return self.outer[s]
        inner = self.outer.get(s)
        inner = {} if inner is None else inner.copy()
        self.outer[s] = inner
        self._mine.add(s)
        return inner

    def put(self, key: str, value: V) -> None:
        self._shard(shard_of(key))[key] = value

    def drop(self, key: str) -> None:
        s = shard_of(key)
        if key in self.outer.get(s, ()):
            inner = self._shard(s)
            del inner[key]
            if not inner:
                del self.outer[s]
                self._mine.discard(s)

    def values(self) -> Iterator[V]:
        return values(self.outer)

    def __len__(self) -> int:
        return size(self.outer)
