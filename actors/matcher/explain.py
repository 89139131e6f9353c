"""``contactor explain CALL_ID``: the story of one call, told from its journal events.

Pure: the CLI fetches the journal rows that mention the call (any actor) and passes the decoded
events here. Unknown event types are skipped, so newer journals still explain.
"""

from __future__ import annotations

from collections.abc import Iterable

from actors.agent.messages import AgentTransition
from actors.matcher.index import render_requirements
from actors.matcher.messages import Decision, OfferResult
from actors.queue.messages import (
    CallAbandoned,
    CallAnswered,
    CallbackRequested,
    CallOverflowed,
    CallQueued,
    RequirementsRelaxed,
)
from bus.message import Message

_OUTCOME = {
    "answered": "answered",
    "rejected": "rejected the offer",
    "no_answer": "did not answer in time",
    "not_available": "was no longer available",
    "withdrawn": "was released (the call went elsewhere)",
    "timeout": "never answered the offer; the matcher stopped waiting",
}

#: agent steps worth telling in a call's story (the rest is in the agent's own history)
_AGENT_STEPS = {"ringing", "talking", "on_hold", "wrap_up"}


def _line(e: Message) -> str | None:
    if isinstance(e, CallQueued):
        return (
            f"queued in {e.queue} at position {e.position} (priority {e.priority}"
            + (f", caller {e.caller}" if e.caller else "")
            + ")"
        )
    if isinstance(e, Decision):
        who = ", ".join(e.agents)
        how = "an agent became free" if e.trigger == "agent" else f"strategy {e.strategy}"
        return f"offered to {who} after {e.waited_s:.0f} s ({how}): {e.reason}"
    if isinstance(e, OfferResult):
        return f"agent {e.agent} {_OUTCOME.get(e.outcome, e.outcome)}"
    if isinstance(e, AgentTransition):
        if e.to_state not in _AGENT_STEPS or e.from_state == e.to_state:
            return None
        return f"agent {e.agent}: {e.from_state} -> {e.to_state} ({e.reason})"
    if isinstance(e, CallAnswered):
        return f"answered by {e.agent} after {e.waited_s:.0f} s in {e.queue}"
    if isinstance(e, CallAbandoned):
        return f"caller hung up after {e.waited_s:.0f} s in {e.queue} at position {e.position}"
    if isinstance(e, CallOverflowed):
        target = f" {e.target}" if e.target else ""
        return (
            f"overflowed from {e.queue} ({e.reason.replace('_', ' ')}) to {e.kind}{target} "
            f"after {e.waited_s:.0f} s"
        )
    if isinstance(e, CallbackRequested):
        return f"caller asked for a callback to {e.number}, keeping position {e.position}"
    if isinstance(e, RequirementsRelaxed):
        return f"requirements relaxed to {render_requirements(e.skills)} after {e.waited_s:.0f} s"
    return None


def explain(call_id: str, events: Iterable[Message]) -> str:
    """A line per step of ``call_id``, timed from its first event."""
    mine = [e for e in events if getattr(e, "call_id", None) == call_id and hasattr(e, "at")]
    if not mine:
        return f"call {call_id}: no journal events"
    mine.sort(key=lambda e: float(getattr(e, "at", 0.0)))  # stable: same-instant order kept
    t0 = float(getattr(mine[0], "at", 0.0))
    lines = [f"call {call_id}:"]
    for e in mine:
        text = _line(e)
        if text is not None:
            lines.append(f"  +{float(getattr(e, 'at', 0.0)) - t0:7.1f} s  {text}")
    return "\n".join(lines)
