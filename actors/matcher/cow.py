"""Copy-on-write, two-level (shard -> key -> value) maps for the matcher's immutable state.

``decide`` must not mutate the state it was given, yet copying a 1,000-agent dict on every
message costs more than the decision itself. Splitting each map into 64 shards by a stable hash
means a change copies the 64-entry outer map and the ~16-entry shards it touches. The shards are
plain ``dict[str, dict[str, X]]``, so the codec persists them like any other record field.

The matcher works on flat mirrors of these maps (see :mod:`actors.matcher.behaviour`) and notes
what it changed; :func:`with_changes` folds those notes into a new sharded map once per decide.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator, Mapping
from typing import TypeVar

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


def flat(m: Mapping[str, Mapping[str, V]]) -> dict[str, V]:
    """One plain dict of every entry (the matcher's working mirror of a sharded map)."""
    out: dict[str, V] = {}
    for inner in m.values():
        out.update(inner)
    return out


def with_changes(m: Sharded[V], changes: Mapping[str, V | None]) -> Sharded[V]:
    """``m`` with each ``key -> value`` of ``changes`` applied (``None`` deletes), sharing every
    shard it does not touch; ``m`` itself is left as it was. No shard is ever left empty."""
    if not changes:
        return m
    out = m.copy()
    crc32, names = zlib.crc32, _NAMES
    if len(changes) == 1:  # most messages change one agent and one call
        for key, value in changes.items():
            s = names[crc32(key.encode()) & (SHARDS - 1)]
            was = out.get(s)
            if value is not None:
                one = {} if was is None else was.copy()
                one[key] = value
                out[s] = one
            elif was is not None and key in was:
                if len(was) == 1:
                    del out[s]
                else:
                    one = was.copy()
                    del one[key]
                    out[s] = one
        return out
    mine: dict[str, dict[str, V]] = {}
    for key, value in changes.items():
        s = names[crc32(key.encode()) & (SHARDS - 1)]
        got = mine.get(s)
        if got is None:
            was = out.get(s)
            inner = {} if was is None else was.copy()
            mine[s] = out[s] = inner
        else:
            inner = got
        if value is None:
            inner.pop(key, None)
        else:
            inner[key] = value
    for s, inner in mine.items():
        if not inner:
            del out[s]
    return out
