"""After a wire-level run: is every call placed in the center's CDRs?

A simulated caller's number (its From user) is unique to the run; the center journals it as
``call.created``'s ``caller``. A call is *accounted for* when the journal holds its
``call.created`` and its ``call.ended`` (the CDR's first and last lines, what
``store.journal``'s ``read_call`` returns) and the reporting table ``report_call`` that the
``stats`` projector fills (what ``contactor report calls`` shows) has its row, ended. The
projector runs behind the journal, so :func:`account` polls for a bounded time.

The outcome the caller saw is compared with the CDR too (an answered call must show an agent,
an abandoned one none): disagreements are listed, races included (a caller hanging up as the
agent answers), but only a missing call fails the run.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import psycopg

from sim.wire.tally import CallRecord

POLL_S = 0.5


@dataclass(frozen=True, slots=True, kw_only=True)
class Cdr:
    """What the center recorded about one call."""

    call_id: str
    caller: str
    ended: bool = False
    cause: str = ""
    agent: str = ""
    report_row: bool = False
    report_ended: bool = False
    report_result: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class Accounting:
    placed: int
    in_journal: int
    in_reports: int
    #: "<number>: why" for each call not fully in the CDRs
    missing: tuple[str, ...]
    #: "<number>: we saw X, the CDR says Y"
    mismatched: tuple[str, ...]
    waited_s: float
    cdrs: dict[str, Cdr] = field(default_factory=dict, repr=False)

    @property
    def complete(self) -> bool:
        return not self.missing


def fetch_cdrs(conn: psycopg.Connection[Any], since: float, numbers: set[str]) -> dict[str, Cdr]:
    """The CDRs of calls created since ``since`` (epoch s) by callers in ``numbers``."""
    rows = conn.execute(
        "SELECT payload->>'call_id', payload->>'caller' FROM journal WHERE kind = 'call.created'"
        " AND ts >= to_timestamp(%s) ORDER BY seq", (since,)).fetchall()
    created = {str(cid): str(caller) for cid, caller in rows if caller in numbers}
    if not created:
        return {}
    ids = list(created)
    ended: dict[str, str] = {}
    agents: dict[str, str] = {}
    for cid, kind, cause, agent in conn.execute(
            "SELECT payload->>'call_id', kind, payload->>'cause', payload->>'agent' FROM journal"
            " WHERE kind IN ('call.ended', 'call.answered') AND payload->>'call_id' = ANY(%s)",
            (ids,)).fetchall():  # fmt: skip
        if kind == "call.ended":
            ended[cid] = cause or ""
        elif agent:
            agents[cid] = agent
    report = {
        str(cid): (bool(done), str(result or ""))
        for cid, done, result in conn.execute(
            "SELECT call_id, ended_at IS NOT NULL, result FROM report_call"
            " WHERE call_id = ANY(%s)", (ids,)).fetchall()
    }  # fmt: skip
    out: dict[str, Cdr] = {}
    for cid, caller in created.items():
        rep = report.get(cid)
        out[caller] = Cdr(call_id=cid, caller=caller, ended=cid in ended,
                          cause=ended.get(cid, ""), agent=agents.get(cid, ""),
                          report_row=rep is not None, report_ended=bool(rep and rep[0]),
                          report_result=rep[1] if rep else "")  # fmt: skip
    return out


def compare(calls: Sequence[CallRecord], cdrs: dict[str, Cdr]) -> tuple[list[str], list[str]]:
    """(missing, mismatched) lines for the calls placed, given the CDRs found."""
    missing: list[str] = []
    mismatched: list[str] = []
    for r in calls:
        cdr = cdrs.get(r.number)
        if cdr is None:
            missing.append(f"{r.number} (#{r.index}, {r.outcome or 'unfinished'}): "
                           "no call.created in the journal")
            continue
        if not cdr.ended:
            missing.append(f"{r.number} ({cdr.call_id}): no call.ended in the journal")
        elif not cdr.report_row:
            missing.append(f"{r.number} ({cdr.call_id}): no report_call row")
        elif not cdr.report_ended:
            missing.append(f"{r.number} ({cdr.call_id}): report_call row not ended")
        if r.outcome == "answered" and cdr.agent != r.agent:
            mismatched.append(f"{r.number} ({cdr.call_id}): answered by {r.agent}, the CDR "
                              f"says agent {cdr.agent or 'none'}")
        elif r.outcome == "abandoned" and cdr.agent:
            mismatched.append(f"{r.number} ({cdr.call_id}): abandoned, the CDR says answered "
                              f"by {cdr.agent} (cause {cdr.cause})")
    return missing, mismatched


def account(url: str, calls: Sequence[CallRecord], since: float,
            timeout_s: float = 20.0) -> Accounting:  # fmt: skip
    """Poll the center's database until every call is accounted for or ``timeout_s``."""
    numbers = {r.number for r in calls}
    started = time.monotonic()
    with psycopg.connect(url, autocommit=True) as conn:
        while True:
            cdrs = fetch_cdrs(conn, since, numbers)
            missing, mismatched = compare(calls, cdrs)
            if not missing or time.monotonic() - started >= timeout_s:
                break
            time.sleep(POLL_S)
    return Accounting(
        placed=len(calls),
        in_journal=sum(1 for c in cdrs.values() if c.ended),
        in_reports=sum(1 for c in cdrs.values() if c.report_ended),
        missing=tuple(missing), mismatched=tuple(mismatched),
        waited_s=round(time.monotonic() - started, 2), cdrs=cdrs,
    )  # fmt: skip
