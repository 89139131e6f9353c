"""The real actor host, driven by simulated time: discrete-event, no asyncio.

:class:`SimHost` is :class:`actors.host.Host` with its two asyncio hooks (scheduling a drain,
arming the timer) turned into no-ops: the simulation loop itself moves a :class:`FakeClock` to
the next arrival or timer deadline, calls ``fire_timers(now)`` and drains until quiet. Everything
else - mailboxes, activation, effects, timers, Stop - is the production code path.

Taps wrap behaviours to observe a run without changing it: journal events (the KPIs are
computed from them, as in production), the matcher's CPU time and decision latency, and every
error reply the simulated people receive (a protocol error is a bug the run exposes).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from actors.agent.messages import AgentTransition
from actors.behaviour import Behaviour
from actors.effects import Effect, Journal
from actors.host import Host
from actors.matcher.messages import Decision
from actors.queue.messages import CallAbandoned, CallAnswered, CallOverflowed, CallQueued
from bus.envelope import Envelope
from bus.message import Message
from bus.system import ErrorReply


class FakeClock:
    """Simulated seconds; the host reads it through ``__call__``."""

    def __init__(self, now: float = 0.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class SimHost(Host):
    """A host the simulation loop drives: it drains and fires timers when told to."""

    def _schedule_drain(self) -> None:
        self._drain_scheduled = True

    def _arm_timer(self) -> None:
        return None

    def run_until_quiet(self, now: float) -> int:
        """Fire the timers due at ``now`` and run every message they (and earlier tells) cause,
        including zero-delay timers started on the way."""
        done = 0
        while True:
            self.fire_timers(now)
            while (n := self.drain()) > 0:
                done += n
            due = self.timers.next_deadline()
            if due is None or due > now:
                return done


class Recorder:
    """What the taps saw: journal events, running counts, matcher time and decision latency."""

    def __init__(self) -> None:
        self.events: list[Message] = []
        self.offered = 0
        self.answered = 0
        self.abandoned = 0
        #: overflowed out of the ACD (voicemail, callback, external); queue-to-queue is a move
        self.left = 0
        self.decisions = 0
        self.matcher_cpu_ns = 0
        self.latencies_us: list[float] = []
        #: perf_counter_ns when the current simulated instant's outside events went in
        self.root_ns = 0
        self.errors: list[str] = []
        self.first_queued: set[str] = set()

    @property
    def resolved(self) -> int:
        return self.answered + self.abandoned + self.left

    def journal(self, effects: Sequence[Effect]) -> None:
        for e in effects:
            if type(e) is not Journal:
                continue
            ev = e.event
            t = type(ev)
            if t is AgentTransition:
                self.events.append(ev)
            elif t is CallQueued:
                self.events.append(ev)
                if ev.call_id not in self.first_queued:  # type: ignore[attr-defined]
                    self.first_queued.add(ev.call_id)  # type: ignore[attr-defined]
                    self.offered += 1
            elif t is CallAnswered:
                self.events.append(ev)
                self.answered += 1
            elif t is CallAbandoned:
                self.events.append(ev)
                self.abandoned += 1
            elif t is CallOverflowed:
                self.events.append(ev)
                if ev.kind != "queue":  # type: ignore[attr-defined]
                    self.left += 1


class JournalTap:
    """A behaviour whose journal events go to the recorder."""

    def __init__(self, inner: Behaviour[Any], recorder: Recorder) -> None:
        self.inner = inner
        self.kind = inner.kind
        self.recorder = recorder

    def initial(self, address: str) -> Any:
        return self.inner.initial(address)

    def decide(self, state: Any, msg: Message, now: float) -> tuple[Any, Sequence[Effect]]:
        new, effects = self.inner.decide(state, msg, now)
        if effects:
            self.recorder.journal(effects)
        return new, effects


class MatcherTap(JournalTap):
    """Also times the matcher: thread CPU inside ``decide``, and for each decision the wall
    time since the outside events of this simulated instant went into the host."""

    def decide(self, state: Any, msg: Message, now: float) -> tuple[Any, Sequence[Effect]]:
        t0 = time.thread_time_ns()
        new, effects = self.inner.decide(state, msg, now)
        self.recorder.matcher_cpu_ns += time.thread_time_ns() - t0
        rec = self.recorder
        for e in effects:
            if type(e) is Journal and type(e.event) is Decision:
                rec.decisions += 1
                rec.latencies_us.append((time.perf_counter_ns() - rec.root_ns) / 1000.0)
        return new, effects


class ErrorTap(JournalTap):
    """A simulated person: every error reply it receives is recorded (and then ignored)."""

    def decide(self, state: Any, msg: Message, now: float) -> tuple[Any, Sequence[Effect]]:
        if type(msg) is ErrorReply:
            self.recorder.errors.append(f"{self.kind}: {msg.code}: {msg.text}")
        return self.inner.decide(state, msg, now)


_OFFERED = ("reserved", "ringing")


def desk_wants(ev: AgentTransition) -> bool:
    """The transitions a desk acts on (a subscription filter: the rest would be mail for
    nothing): leaving wrap-up or an unanswered offer, entering wrap-up or not-ready."""
    to, frm = ev.to_state, ev.from_state
    return (
        to in ("wrap_up", "not_ready")
        or frm == "wrap_up"
        or (frm in _OFFERED and to not in _OFFERED and to != "talking")
    )


class DeskFeed:
    """The ``agents`` topic as a desktop sees it: each agent's transitions go to its desk."""

    def __init__(self) -> None:
        self.host: Host | None = None

    def publish(self, topic: str, msg: Message) -> None:
        if self.host is not None and type(msg) is AgentTransition and desk_wants(msg):
            self.host.tell(f"desk/{msg.agent}", msg)


class SetupReplies:
    """The port ``sim/setup``: answers to configuration tells; failures are kept."""

    def __init__(self) -> None:
        self.failures: list[str] = []

    def __call__(self, env: Envelope) -> None:
        if isinstance(env.msg, ErrorReply):
            self.failures.append(f"{env.msg.code}: {env.msg.text}")
