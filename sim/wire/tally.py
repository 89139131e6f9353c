"""What the simulated callers and phones saw: one record per call placed, live counts, peaks.

A call is *up* from the center's first answer to its INVITE (a provisional 18x or the 2xx of
its IVR) until it ends; the peak of calls up at once is the run's concurrency. Phase names:
``setup`` (INVITE sent), ``ivr`` (answered by the center, digits not sent yet), ``queued``
(digits sent, or ringing on a queue route), ``talking`` (an agent's phone answered).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Literal

Outcome = Literal["", "answered", "abandoned", "failed", "cut"]
Phase = Literal["setup", "ivr", "queued", "talking", "ended"]


@dataclass(slots=True, kw_only=True)
class CallRecord:
    index: int
    number: str  # the caller's number (From user): how the center's CDR is found
    route: str
    queue: str
    placed_at: float  # loop time of the INVITE
    sip_call_id: str = ""
    phase: Phase = "setup"
    up_at: float | None = None
    answered_at: float | None = None  # the center's 2xx (its IVR, or relayed from an agent)
    agent_at: float | None = None  # an agent's phone answered
    agent: str = ""
    ended_at: float | None = None
    outcome: Outcome = ""
    status: int = 0  # the INVITE's final status
    detail: str = ""
    dtmf: str = ""  # "info", "rfc4733" or "" (no digits sent)
    digits_sent: str = ""
    rtp_sent: int = 0
    rtp_received: int = 0


@dataclass(slots=True, kw_only=True)
class PhoneRecord:
    """One call as an agent's phone saw it."""

    login: str
    caller: str
    offered_at: float
    answered: bool = False
    ended_by: str = ""
    rtp_sent: int = 0
    rtp_received: int = 0


@dataclass
class Tally:
    calls: list[CallRecord] = field(default_factory=list)
    phone_calls: list[PhoneRecord] = field(default_factory=list)
    by_number: dict[str, CallRecord] = field(default_factory=dict)
    agent_answered: dict[str, asyncio.Event] = field(default_factory=dict)
    up: int = 0
    peak_up: int = 0
    peak_at: float = 0.0
    errors: list[str] = field(default_factory=list)

    def add(self, record: CallRecord) -> CallRecord:
        self.calls.append(record)
        self.by_number[record.number] = record
        self.agent_answered[record.number] = asyncio.Event()
        return record

    def mark_up(self, record: CallRecord, now: float) -> None:
        if record.up_at is not None or record.ended_at is not None:
            return
        record.up_at = now
        self.up += 1
        if self.up > self.peak_up:
            self.peak_up, self.peak_at = self.up, now

    def end(self, record: CallRecord, outcome: Outcome, now: float, detail: str = "") -> None:
        if record.ended_at is not None:
            return
        record.ended_at = now
        record.outcome = outcome
        record.phase = "ended"
        if detail:
            record.detail = detail
        if record.up_at is not None:
            self.up -= 1

    def answered_by_agent(self, number: str, login: str, now: float) -> None:
        """An agent's phone answered the call from ``number`` (phones tell callers directly)."""
        record = self.by_number.get(number)
        if record is None:
            self.errors.append(f"agent {login} answered {number!r}: not a call of this run")
            return
        record.agent, record.agent_at = login, now
        if record.ended_at is None:
            record.phase = "talking"
        self.agent_answered[number].set()

    def phases(self) -> dict[str, int]:
        counts = {"setup": 0, "ivr": 0, "queued": 0, "talking": 0}
        for r in self.calls:
            if r.phase in counts:
                counts[r.phase] += 1
        return counts

    def outcomes(self) -> dict[str, int]:
        counts = {"answered": 0, "abandoned": 0, "failed": 0, "cut": 0}
        for r in self.calls:
            if r.outcome:
                counts[r.outcome] += 1
        return counts
