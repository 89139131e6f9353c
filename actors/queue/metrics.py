"""Contact-centre figures from journal events alone (the proof that the events are enough).

* per queue: offered, answered, abandoned, overflowed, service level, ASA, abandon rate;
* per agent: calls handled, AHT (talk + hold + wrap-up per call), occupancy.

Definitions (stated because every vendor differs): service level = calls answered within
``sl_threshold_s`` / (answered + abandoned after the threshold) - short abandons do not count
against it; ASA = mean wait of answered calls in that queue; occupancy = time on calls
(reserved, ringing, talking, on hold, wrap-up) / (that + ready time).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from actors.agent.messages import AgentTransition
from actors.queue.messages import CallAbandoned, CallAnswered, CallOverflowed, CallQueued
from bus.message import Message

_HANDLING = ("talking", "on_hold", "wrap_up")
_BUSY = ("reserved", "ringing", *_HANDLING)


@dataclass(frozen=True, slots=True)
class QueueFigures:
    queue: str
    offered: int
    answered: int
    abandoned: int
    overflowed: int
    service_level: float | None
    asa_s: float | None
    abandon_rate: float | None


@dataclass(frozen=True, slots=True)
class AgentFigures:
    agent: str
    handled: int
    aht_s: float | None
    occupancy: float | None
    seconds_in: dict[str, float]


def queue_figures(
    events: Iterable[Message], sl_threshold_s: float = 20.0
) -> dict[str, QueueFigures]:
    counts: dict[str, dict[str, int]] = {}
    waits: dict[str, list[float]] = {}
    for e in events:
        if isinstance(e, CallQueued | CallAnswered | CallAbandoned | CallOverflowed):
            c = counts.setdefault(e.queue, dict.fromkeys(
                ("offered", "answered", "abandoned", "overflowed", "in_sl", "late_abandon"), 0
            ))  # fmt: skip
            if isinstance(e, CallQueued):
                c["offered"] += 1
            elif isinstance(e, CallAnswered):
                c["answered"] += 1
                c["in_sl"] += e.waited_s <= sl_threshold_s
                waits.setdefault(e.queue, []).append(e.waited_s)
            elif isinstance(e, CallAbandoned):
                c["abandoned"] += 1
                c["late_abandon"] += e.waited_s > sl_threshold_s
            else:
                c["overflowed"] += 1
    out: dict[str, QueueFigures] = {}
    for q, c in counts.items():
        sl_base = c["answered"] + c["late_abandon"]
        w = waits.get(q, [])
        out[q] = QueueFigures(
            queue=q,
            offered=c["offered"],
            answered=c["answered"],
            abandoned=c["abandoned"],
            overflowed=c["overflowed"],
            service_level=c["in_sl"] / sl_base if sl_base else None,
            asa_s=sum(w) / len(w) if w else None,
            abandon_rate=c["abandoned"] / c["offered"] if c["offered"] else None,
        )
    return out


def agent_figures(events: Iterable[Message], until: float) -> dict[str, AgentFigures]:
    """State intervals from consecutive transitions; the open one is closed at ``until``."""
    last: dict[str, AgentTransition] = {}
    spent: dict[str, dict[str, float]] = {}
    handled: dict[str, int] = {}
    for e in events:
        if not isinstance(e, AgentTransition):
            continue
        prev = last.get(e.agent)
        if prev is not None:
            s = spent.setdefault(e.agent, {})
            s[prev.to_state] = s.get(prev.to_state, 0.0) + (e.at - prev.at)
        if e.to_state == "wrap_up" and e.from_state != "wrap_up":
            handled[e.agent] = handled.get(e.agent, 0) + 1
        last[e.agent] = e
    for agent, prev in last.items():
        s = spent.setdefault(agent, {})
        s[prev.to_state] = s.get(prev.to_state, 0.0) + max(0.0, until - prev.at)
    out: dict[str, AgentFigures] = {}
    for agent, s in spent.items():
        n = handled.get(agent, 0)
        handling = sum(s.get(k, 0.0) for k in _HANDLING)
        busy = sum(s.get(k, 0.0) for k in _BUSY)
        staffed = busy + s.get("ready", 0.0)
        out[agent] = AgentFigures(
            agent=agent,
            handled=n,
            aht_s=handling / n if n else None,
            occupancy=busy / staffed if staffed else None,
            seconds_in=dict(s),
        )
    return out
