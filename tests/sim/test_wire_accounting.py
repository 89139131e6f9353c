"""Accounting of a wire-level run: calls placed against the CDRs found, and what is listed."""

from __future__ import annotations

import os
from pathlib import Path

from conf.load import load_config
from sim.scenario import load_scenario
from sim.wire.accounting import Accounting, Cdr, compare
from sim.wire.runner import caller_number, pick_agents, sip_target
from sim.wire.system import CenterSampler, cpu_and_rss, process_ids
from sim.wire.tally import CallRecord, Tally

REPO = Path(__file__).resolve().parents[2]


def record(i: int, outcome: str = "answered", agent: str = "") -> CallRecord:
    r = CallRecord(index=i, number=f"+99{i:03d}", route="r", queue="q", placed_at=0.0)
    r.outcome = outcome  # type: ignore[assignment]
    r.agent = agent
    return r


def cdr(i: int, **kw: object) -> Cdr:
    base: dict[str, object] = dict(call_id=f"c{i}", caller=f"+99{i:03d}", ended=True,
                                   report_row=True, report_ended=True)
    base.update(kw)
    return Cdr(**base)  # type: ignore[arg-type]


def test_every_call_found_is_accounted_for_and_each_gap_is_named() -> None:
    calls = [record(1, agent="w01"), record(2, "abandoned"), record(3, agent="w03"), record(4),
             record(5)]
    cdrs = {c.caller: c for c in (cdr(1, agent="w01"), cdr(2), cdr(3, ended=False),
                                  cdr(4, report_row=False, report_ended=False))}
    missing, mismatched = compare(calls, cdrs)
    assert missing == [
        "+99003 (c3): no call.ended in the journal",
        "+99004 (c4): no report_call row",
        "+99005 (#5, answered): no call.created in the journal",
    ]
    assert mismatched == ["+99003 (c3): answered by w03, the CDR says agent none"]
    assert not Accounting(placed=5, in_journal=2, in_reports=2, missing=tuple(missing),
                          mismatched=(), waited_s=0.0).complete


def test_an_abandoned_call_the_center_says_was_answered_is_a_mismatch() -> None:
    missing, mismatched = compare([record(7, "abandoned")], {"+99007": cdr(7, agent="w02",
                                                                             cause="callee")})
    assert missing == [] and mismatched == [
        "+99007 (c7): abandoned, the CDR says answered by w02 (cause callee)"]


def test_the_peak_counts_calls_up_at_once() -> None:
    tally = Tally()
    calls = [tally.add(record(i, "")) for i in range(3)]
    for i, r in enumerate(calls):
        r.outcome = ""
        tally.mark_up(r, float(i))
    tally.end(calls[0], "answered", 3.0)
    tally.mark_up(calls[0], 4.0)  # ended: not up again
    tally.end(calls[0], "failed", 5.0)  # the first end stands
    assert (tally.up, tally.peak_up, tally.peak_at) == (2, 3, 2.0)
    assert calls[0].outcome == "answered"
    assert tally.outcomes() == {"answered": 1, "abandoned": 0, "failed": 0, "cut": 0}


def test_agents_come_from_the_center_config_by_skills() -> None:
    config = load_config(REPO / "tests" / "e2e" / "scenarios" / "wire_center.toml")
    scenario = load_scenario(REPO / "sim" / "scenarios" / "wire_100.toml")
    agents = pick_agents(scenario, config)
    assert len(agents) == 50 and len({a.login for a in agents}) == 50
    assert agents[0].extension == "3001" and agents[0].phone_uri == "sip:3001@127.0.0.1"
    assert sip_target(scenario.wire, config).port == 5060  # type: ignore[arg-type]


def test_caller_numbers_are_unique_and_e164_shaped() -> None:
    numbers = {caller_number(1_795_645_326, i) for i in range(1000)}
    assert len(numbers) == 1000
    assert all(n.startswith("+99") and n[1:].isdigit() for n in numbers)


def test_the_simulator_reads_cpu_and_memory_of_processes() -> None:
    got = cpu_and_rss(os.getpid())
    assert got is not None and got[0] > 0 and got[1] > 10
    assert cpu_and_rss(2**22 + 12345) is None
    pids = process_ids({"supervisor": {"pid": os.getpid()},
                        "processes": [{"name": "telephony", "pid": os.getppid()}]})
    assert pids == {"supervisor": os.getpid(), "telephony": os.getppid()}
    sampler = CenterSampler()
    sampler.start(pids)
    sum(i * i for i in range(300_000))  # burn a little CPU in this process
    sampler.sample()
    rows = {p.name: p for p in sampler.figures()}
    assert rows["supervisor"].cpu_s >= 0 and rows["supervisor"].peak_rss_mib > 10
