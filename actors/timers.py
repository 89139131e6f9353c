"""Actor timers as data: a heap of deadlines keyed by (address, key); replacing is O(1)."""

from __future__ import annotations

import heapq
from collections.abc import Iterator

from bus.message import Message


class TimerWheel:
    def __init__(self) -> None:
        self._heap: list[tuple[float, int, str, str]] = []
        # (address, key) -> (generation, message); an older heap entry with a stale generation
        # is skipped when popped, so cancel/replace never search the heap.
        self._live: dict[tuple[str, str], tuple[int, Message]] = {}
        # address -> its live keys, so stopping an actor does not scan every timer
        self._keys: dict[str, set[str]] = {}
        self._gen = 0

    def __len__(self) -> int:
        return len(self._live)

    def start(self, address: str, key: str, deadline: float, msg: Message) -> None:
        self._gen += 1
        self._live[(address, key)] = (self._gen, msg)
        self._keys.setdefault(address, set()).add(key)
        heapq.heappush(self._heap, (deadline, self._gen, address, key))

    def cancel(self, address: str, key: str) -> None:
        if self._live.pop((address, key), None) is not None:
            self._forget(address, key)

    def cancel_all(self, address: str) -> None:
        for key in self._keys.pop(address, ()):
            self._live.pop((address, key), None)

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
        heap = self._heap
        while heap and heap[0][0] <= now:
            _deadline, gen, address, key = heapq.heappop(heap)
            live = self._live.get((address, key))
            if live is not None and live[0] == gen:
                del self._live[(address, key)]
                self._forget(address, key)
                yield address, live[1]
