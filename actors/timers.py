"""Actor timers as data: a heap of deadlines keyed by (address, key); replacing is O(1)."""

from __future__ import annotations

import heapq
from collections.abc import Iterator

from bus.message import Message

#: one pending timer of an actor: (key, deadline on the host's clock, message)
Pending = tuple[str, float, Message]


class TimerWheel:
    def __init__(self) -> None:
        self._heap: list[tuple[float, int, str, str]] = []
        # (address, key) -> (generation, deadline, message); an older heap entry with a stale
        # generation is skipped when popped, so cancel/replace never search the heap.
        self._live: dict[tuple[str, str], tuple[int, float, Message]] = {}
        # address -> its live keys, so stopping an actor does not scan every timer
        self._keys: dict[str, set[str]] = {}
        self._gen = 0

    def __len__(self) -> int:
        return len(self._live)

    def start(self, address: str, key: str, deadline: float, msg: Message) -> None:
        self._gen += 1
        self._live[(address, key)] = (self._gen, deadline, msg)
        self._keys.setdefault(address, set()).add(key)
        heapq.heappush(self._heap, (deadline, self._gen, address, key))

    def cancel(self, address: str, key: str) -> None:
        if self._live.pop((address, key), None) is not None:
            self._forget(address, key)

    def cancel_all(self, address: str) -> None:
        for key in self._keys.pop(address, ()):
            self._live.pop((address, key), None)

    def of(self, address: str) -> list[Pending]:
        """The actor's pending timers (what its snapshot must carry), in deadline order."""
        live = self._live
        out = [(key, live[(address, key)][1], live[(address, key)][2])
               for key in self._keys.get(address, ())]
        out.sort(key=lambda p: p[1])
        return out

    def _forget(self, address: str, key: str) -> None:
        keys = self._keys.get(address)
        if keys is not None:
            keys.discard(key)
            if not keys:
                del self._keys[address]

    def next_deadline(self) -> float | None:
        heap = self._heap
        while heap:
            deadline, gen, address, key = heap[0]
            live = self._live.get((address, key))
            if live is not None and live[0] == gen:
                return deadline
            heapq.heappop(heap)
        return None

    def pop_due(self, now: float) -> Iterator[tuple[str, Message]]:
        for address, _key, _deadline, msg in self.pop_due_timers(now):
            yield address, msg

    def pop_due_timers(self, now: float) -> Iterator[tuple[str, str, float, Message]]:
        """Every timer due at ``now``, in deadline order: (address, key, deadline, message)."""
        heap = self._heap
        while heap and heap[0][0] <= now:
            deadline, gen, address, key = heapq.heappop(heap)
            live = self._live.get((address, key))
            if live is not None and live[0] == gen:
                del self._live[(address, key)]
                self._forget(address, key)
                yield address, key, deadline, live[2]
