"""An in-memory message pump for pure behaviours: tests, simulations and the ACD benchmark.

No sockets, no asyncio, no clock: mail is delivered FIFO (so per-sender order holds, as on the
bus), timers fire when the caller moves fake time forward, and every effect is recorded.
Messages to a kind with no behaviour (``call/...`` in most tests) land in :attr:`outbox` for
the test to read and answer.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from time import perf_counter_ns
from typing import Any

from actors.behaviour import Behaviour, kind_of
from actors.effects import (
    CancelTimer,
    Effect,
    Fail,
    Journal,
    Publish,
    Reply,
    Send,
    StartTimer,
    Stop,
)
from actors.timers import TimerWheel
from bus.message import Message


@dataclass(frozen=True, slots=True)
class Step:
    """One ``decide`` as the pump saw it (for observers)."""

    address: str
    msg: Message
    before: Message
    after: Message
    effects: Sequence[Effect]
    now: float
    #: perf_counter_ns when the outside event that led to this step entered the pump
    root_ns: int


Observer = Callable[[Step], None]


class Pump:
    def __init__(
        self,
        behaviours: Iterable[Behaviour[Any]],
        *,
        now: float = 0.0,
        observers: Iterable[Observer] = (),
        record: bool = True,
    ) -> None:
        self.behaviours: dict[str, Behaviour[Any]] = {b.kind: b for b in behaviours}
        self.now = now
        self.states: dict[str, Message] = {}
        self.timers = TimerWheel()
        self.observers: list[Observer] = list(observers)
        #: keep journal/publish/outbox/fail records (a long benchmark turns this off)
        self.record = record
        self.journal: list[tuple[str, Message]] = []
        self.published: list[tuple[str, Message]] = []
        self.outbox: list[tuple[str, Message]] = []
        self.fails: list[tuple[str, Message, Fail]] = []
        self.steps = 0
        self._mail: deque[tuple[str, Message, int]] = deque()
        # timer keys each actor started: Stop cancels these instead of scanning every timer
        self._timer_keys: dict[str, set[str]] = {}

    # ------------------------------------------------------------- driving

    def state(self, address: str) -> Any:
        got = self.states.get(address)
        if got is None:
            got = self.behaviours[kind_of(address)].initial(address)
            self.states[address] = got
        return got

    def tell(self, to: str, msg: Message) -> None:
        """Queue ``msg`` for ``to``; it is delivered by the next :meth:`run`."""
        self._mail.append((to, msg, perf_counter_ns()))

    def ask(self, to: str, msg: Message) -> Message | Fail | None:
        """Deliver ``msg`` now, run everything it causes, return its Reply or Fail."""
        answer = self._deliver(to, msg, perf_counter_ns())
        self.run()
        return answer

    def run(self, limit: int = 10_000_000) -> int:
        """Deliver mail until there is none (or ``limit`` deliveries); returns how many."""
        mail = self._mail
        n = 0
        while mail and n < limit:
            to, msg, root = mail.popleft()
            self._deliver(to, msg, root)
            n += 1
        return n

    def advance(self, seconds: float) -> int:
        """Move fake time forward, firing due timers in deadline order; returns timers fired."""
        return self.advance_to(self.now + seconds)

    def advance_to(self, t: float) -> int:
        fired = 0
        self.run()
        while True:
            due = self.timers.next_deadline()
            if due is None or due > t:
                break
            self.now = max(self.now, due)
            for address, msg in list(self.timers.pop_due(due)):
                self._mail.append((address, msg, perf_counter_ns()))
                fired += 1
            self.run()
        self.now = max(self.now, t)
        return fired

    def next_timer(self) -> float | None:
        return self.timers.next_deadline()

    # ------------------------------------------------------------- internals

    def _deliver(self, to: str, msg: Message, root: int) -> Message | Fail | None:
        behaviour = self.behaviours.get(to.partition("/")[0])
        if behaviour is None:
            if self.record:
                self.outbox.append((to, msg))
            return None
        before = self.states.get(to)
        if before is None:
            before = behaviour.initial(to)
        after, effects = behaviour.decide(before, msg, self.now)
        self.states[to] = after
        self.steps += 1
        answer: Message | Fail | None = None
        mail = self._mail
        for e in effects:
            t = type(e)
            if t is Send:
                mail.append((e.to, e.msg, root))  # type: ignore[union-attr]
            elif t is Reply:
                answer = e.msg  # type: ignore[union-attr]
            elif t is Fail:
                answer = e  # type: ignore[assignment]
                if self.record:
                    self.fails.append((to, msg, e))  # type: ignore[arg-type]
            elif t is StartTimer:
                self.timers.start(to, e.key, self.now + e.after_s, e.msg)  # type: ignore[union-attr]
                self._timer_keys.setdefault(to, set()).add(e.key)  # type: ignore[union-attr]
            elif t is CancelTimer:
                self.timers.cancel(to, e.key)  # type: ignore[union-attr]
                keys = self._timer_keys.get(to)
                if keys is not None:
                    keys.discard(e.key)  # type: ignore[union-attr]
            elif t is Journal:
                if self.record:
                    self.journal.append((to, e.event))  # type: ignore[union-attr]
            elif t is Publish:
                if self.record:
                    self.published.append((e.topic, e.msg))  # type: ignore[union-attr]
            elif t is Stop:
                self.states.pop(to, None)
                for key in self._timer_keys.pop(to, ()):
                    self.timers.cancel(to, key)
        if self.observers:
            step = Step(to, msg, before, after, effects, self.now, root)
            for observe in self.observers:
                observe(step)
        return answer

    # ------------------------------------------------------------- reading records

    def events(self, cls: type[Message] | None = None) -> list[Message]:
        return [e for _a, e in self.journal if cls is None or type(e) is cls]

    def sent_to(self, kind: str, cls: type[Message] | None = None) -> list[tuple[str, Message]]:
        """Outbox entries for ``kind`` (``call``), optionally only of class ``cls``."""
        return [
            (to, m)
            for to, m in self.outbox
            if to.partition("/")[0] == kind and (cls is None or type(m) is cls)
        ]
