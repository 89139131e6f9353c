"""From journal records to reporting facts: ONE derivation for the projector and the live service.

:func:`derive` turns one journal record into row operations (:data:`Op`); the projector applies
them to the reporting tables (SQL), :class:`MemoryFacts` applies them to today's facts in
memory.  Timestamps are the journal's wall-clock ``ts``; waits are the queue's own
``waited_s`` (the events' ``at`` fields come from each process's monotonic clock and are
only compared within one actor).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from typing import Any

from stats.definitions import Interval, Visit
from store.journal import JournalRecord

_HANDLING_COLUMN = {"talking": "talk_s", "on_hold": "hold_s", "wrap_up": "wrap_s"}


@dataclass(frozen=True, slots=True, kw_only=True)
class OpenVisit:
    call_id: str
    queue: str
    queued_at: float
    seq: int


@dataclass(frozen=True, slots=True, kw_only=True)
class CloseVisit:
    """Close the call's open visit of ``queue`` (a no-op if there is none)."""

    call_id: str
    queue: str
    ended_at: float
    result: str
    wait_s: float
    agent: str | None = None
    overflow_reason: str | None = None
    overflow_target: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class VisitCallback:
    call_id: str
    queue: str
    number: str


@dataclass(frozen=True, slots=True, kw_only=True)
class AgentState:
    """Close the agent's open interval at ``at`` and open one in ``state``."""

    agent: str
    seq: int
    state: str
    reason: str
    call_id: str | None
    queue: str | None
    at: float


@dataclass(frozen=True, slots=True, kw_only=True)
class CallUpdate:
    """Changes to one call detail record: ``first`` sets columns still NULL, ``last`` overwrites,
    ``add`` adds seconds, ``append`` appends to a JSON list column, ``least`` keeps the lowest."""

    call_id: str
    first: dict[str, Any] = field(default_factory=dict)
    last: dict[str, Any] = field(default_factory=dict)
    add: dict[str, float] = field(default_factory=dict)
    append: dict[str, Any] = field(default_factory=dict)
    least: dict[str, float] = field(default_factory=dict)


#: what the CDR keeps of each leg's ``call.media_quality``
QUALITY_FIELDS = ("leg", "agent", "packets_received", "packets_lost", "loss_pct",
                  "jitter_max_ms", "rtt_ms", "peer_loss_pct", "mos")

Op = OpenVisit | CloseVisit | VisitCallback | AgentState | CallUpdate
#: the agent's open interval: ``(state, call_id, started_at)`` or None
OpenLookup = Callable[[str], tuple[str, str | None, float] | None]


def derive(r: JournalRecord, open_interval: OpenLookup) -> list[Op]:
    """The operations one journal record implies; unknown kinds imply none."""
    p = r.payload
    kind = r.kind
    call_id = str(p.get("call_id") or "")
    if kind == "queue.call_queued":
        return [
            OpenVisit(call_id=call_id, queue=p["queue"], queued_at=r.ts, seq=r.seq),
            CallUpdate(call_id=call_id,
                       first={"enqueued_at": r.ts, "caller": p.get("caller") or None},
                       last={"queue": p["queue"]}, append={"queues": p["queue"]}),
        ]
    if kind == "queue.call_answered":
        return [
            CloseVisit(call_id=call_id, queue=p["queue"], ended_at=r.ts, result="answered",
                       wait_s=float(p["waited_s"]), agent=p["agent"]),
            CallUpdate(call_id=call_id, first={"answered_at": r.ts},
                       last={"agent": p["agent"], "result": "answered", "queue": p["queue"]},
                       add={"wait_s": float(p["waited_s"])}),
        ]
    if kind == "queue.call_abandoned":
        return [
            CloseVisit(call_id=call_id, queue=p["queue"], ended_at=r.ts, result="abandoned",
                       wait_s=float(p["waited_s"])),
            CallUpdate(call_id=call_id, last={"result": "abandoned", "ended_at": r.ts},
                       add={"wait_s": float(p["waited_s"])}),
        ]
    if kind == "queue.call_overflowed":
        return [
            CloseVisit(call_id=call_id, queue=p["queue"], ended_at=r.ts, result="overflowed",
                       wait_s=float(p["waited_s"]), overflow_reason=p.get("reason"),
                       overflow_target=f"{p.get('kind')}:{p.get('target')}"),
            CallUpdate(call_id=call_id, last={"result": "overflowed"},
                       add={"wait_s": float(p["waited_s"])}),
        ]
    if kind == "queue.callback_requested":
        return [VisitCallback(call_id=call_id, queue=p["queue"], number=p["number"])]
    if kind == "agent.transition":
        return _agent_transition(r, open_interval)
    if kind.startswith("call."):
        return _call_event(r)
    if call_id and kind.startswith("ivr.") and p.get("node"):
        return [CallUpdate(call_id=call_id, append={"ivr_path": p["node"]})]
    if call_id and p.get("recording_id"):
        return [CallUpdate(call_id=call_id, last={"recording_id": p["recording_id"]})]
    return []


def _agent_transition(r: JournalRecord, open_interval: OpenLookup) -> list[Op]:
    p = r.payload
    agent = p["agent"]
    ops: list[Op] = []
    before = open_interval(agent)
    if before is not None:
        state, call, since = before
        column = _HANDLING_COLUMN.get(state)
        if call and column:
            ops.append(CallUpdate(call_id=call, add={column: max(0.0, r.ts - since)}))
    ops.append(AgentState(agent=agent, seq=r.seq, state=p["to_state"], reason=p.get("reason", ""),
                          call_id=p.get("call_id"), queue=p.get("queue"), at=r.ts))
    call_id = p.get("call_id")
    if call_id:
        to = p["to_state"]
        if to == "reserved":
            ops.append(CallUpdate(call_id=call_id, first={"offered_at": r.ts}))
        elif to == "talking" and p.get("from_state") in ("reserved", "ringing"):
            ops.append(CallUpdate(call_id=call_id, first={"answered_at": r.ts},
                                  last={"agent": agent}))
        elif to == "wrap_up" and p.get("from_state") != "wrap_up":
            ops.append(CallUpdate(call_id=call_id, first={"ended_at": r.ts}))
    return ops


def _call_event(r: JournalRecord) -> list[Op]:
    p = r.payload
    call_id = p.get("call_id")
    if not call_id:
        return []
    if r.kind == "call.created":
        return [CallUpdate(call_id=call_id, first={
            "started_at": r.ts, "caller": p.get("caller") or None,
            "dialled": p.get("dialled") or None, "route": p.get("route") or None})]
    if r.kind == "call.ringing":
        leg = {"leg": p.get("leg"), "agent": p.get("agent"), "at": r.ts}
        return [CallUpdate(call_id=call_id, append={"legs": leg})]
    if r.kind == "call.answered":
        return [CallUpdate(call_id=call_id, first={"answered_at": r.ts})]
    if r.kind == "call.media_quality":
        leg = {k: p.get(k) for k in QUALITY_FIELDS}
        if not p.get("packets_received"):  # nothing heard from that leg: nothing to score
            leg["mos"] = None
            return [CallUpdate(call_id=call_id, append={"quality": leg})]
        return [CallUpdate(call_id=call_id, append={"quality": leg}, least={"mos": p["mos"]})]
    if r.kind == "call.ended":
        return [CallUpdate(call_id=call_id, last={"ended_at": r.ts, "end_cause": p.get("cause")},
                           first={"result": "answered" if p.get("talk_s") else "unanswered"})]
    return []


class MemoryFacts:
    """Visits and intervals in memory (the live service's "today"), fed by :func:`derive`."""

    def __init__(self) -> None:
        self.visits: dict[tuple[str, str, int], Visit] = {}
        self._open_visit: dict[tuple[str, str], tuple[str, str, int]] = {}
        self.intervals: dict[tuple[str, int], Interval] = {}
        self._open_interval: dict[str, tuple[str, int]] = {}

    def load(self, visits: Iterable[Visit], intervals: Iterable[Interval]) -> None:
        """Add facts read back from the reporting tables (keys below any journal seq)."""
        for i, v in enumerate(visits, start=1):
            key = (v.call_id, v.queue, -i)
            self.visits[key] = v
            if v.result is None:
                self._open_visit[(v.call_id, v.queue)] = key
        for i, iv in enumerate(intervals, start=1):
            ikey = (iv.agent, -i)
            self.intervals[ikey] = iv
            if iv.ended_at is None:
                self._open_interval[iv.agent] = ikey

    def open_interval(self, agent: str) -> tuple[str, str | None, float] | None:
        key = self._open_interval.get(agent)
        if key is None:
            return None
        iv = self.intervals[key]
        return iv.state, iv.call_id, iv.started_at

    def current(self, agent: str) -> Interval | None:
        key = self._open_interval.get(agent)
        return None if key is None else self.intervals[key]

    def apply(self, record: JournalRecord) -> list[Op]:
        ops = derive(record, self.open_interval)
        for op in ops:
            self._apply(op)
        return ops

    def _apply(self, op: Op) -> None:
        if isinstance(op, OpenVisit):
            key = (op.call_id, op.queue, op.seq)
            self.visits[key] = Visit(call_id=op.call_id, queue=op.queue, queued_at=op.queued_at)
            self._open_visit[(op.call_id, op.queue)] = key
        elif isinstance(op, CloseVisit):
            vkey = self._open_visit.pop((op.call_id, op.queue), None)
            if vkey is not None:
                self.visits[vkey] = replace(self.visits[vkey], ended_at=op.ended_at,
                                            result=op.result, wait_s=op.wait_s, agent=op.agent)
        elif isinstance(op, AgentState):
            ikey = self._open_interval.get(op.agent)
            if ikey is not None:
                self.intervals[ikey] = replace(self.intervals[ikey], ended_at=op.at)
            ikey = (op.agent, op.seq)
            self.intervals[ikey] = Interval(agent=op.agent, state=op.state, started_at=op.at,
                                            reason=op.reason, call_id=op.call_id, queue=op.queue)
            self._open_interval[op.agent] = ikey

    def waiting(self) -> list[Visit]:
        return [self.visits[k] for k in self._open_visit.values()]

    def forget_before(self, t: float) -> None:
        """Drop closed facts that ended before ``t`` (yesterday's, for the live service)."""
        self.visits = {k: v for k, v in self.visits.items()
                       if v.result is None or v.queued_at >= t}
        self.intervals = {k: iv for k, iv in self.intervals.items()
                          if iv.ended_at is None or iv.ended_at >= t}


def fold(records: Iterable[JournalRecord]) -> MemoryFacts:
    facts = MemoryFacts()
    for r in records:
        facts.apply(r)
    return facts
