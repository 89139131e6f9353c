"""A wire-level run's report: progress lines, the table and the JSON."""

from __future__ import annotations

import json

from sim.kpi import summarize_records
from sim.wire.accounting import Accounting, Cdr
from sim.wire.report import progress_line, render
from sim.wire.result import CallFigures, WireProgress, WireResult, as_json
from sim.wire.system import ProcessFigures
from store.journal import JournalRecord


def result(missing: tuple[str, ...] = (), errors: tuple[str, ...] = ()) -> WireResult:
    journal = [
        JournalRecord(seq=1, ts=10.0, actor="queue/q", actor_seq=1, kind="queue.call_queued",
                      payload={"call_id": "c1", "queue": "q", "caller": "+99001"}),
        JournalRecord(seq=2, ts=12.0, actor="queue/q", actor_seq=2, kind="queue.call_answered",
                      payload={"call_id": "c1", "queue": "q", "agent": "w01", "waited_s": 2.0}),
    ]  # fmt: skip
    kpis = summarize_records(journal, sl_threshold_s=20, short_abandon_s=2, start=0.0, end=60.0,
                             now=60.0, group_of={"w01": "desk"}, queues=["q"])
    calls = CallFigures(
        placed=1, answered=1, abandoned=0, failed=0, cut=0, peak_concurrent=1, peak_at_s=0.5,
        invite_answer_p50_ms=12.0, invite_answer_p99_ms=30.0, to_agent_p50_s=2.1, dtmf_info=1,
        dtmf_rfc4733=0, rtp_sent=900, rtp_received=880, talking_with_media=1, phone_calls=1,
        phone_missed=0)  # fmt: skip
    accounting = Accounting(placed=1, in_journal=0 if missing else 1,
                            in_reports=0 if missing else 1, missing=missing, mismatched=(),
                            waited_s=0.3, cdrs={"+99001": Cdr(call_id="c1", caller="+99001")})
    return WireResult(
        scenario="s", seed=1, agents=1, run_s=9.0, calls=calls, kpis=kpis, erlang=None,
        accounting=accounting, center=(ProcessFigures(name="telephony", pid=10, cpu_s=1.5,
                                                      peak_rss_mib=70.0),),
        sim_cpu_s=0.5, sim_peak_rss_mib=60.0, rtp_tick_late_p99_ms=1.0, errors=errors)


def test_the_report_shows_kpis_calls_cdrs_and_the_center() -> None:
    text = render(result())
    for part in ("KPIs (stats.definitions", "placed 1   answered 1", "peak concurrent calls 1",
                 "INVITE -> answer p50 12.0 ms   p99 30.0 ms", "DTMF by SIP INFO 1",
                 "1 of 1 calls in the journal", "every call placed is accounted for",
                 "telephony", "CPU    1.50 s"):  # fmt: skip
        assert part in text, part
    assert result().ok


def test_missing_calls_are_listed_and_fail_the_run() -> None:
    r = result(missing=("+99001 (#0, answered): no call.created in the journal",))
    text = render(r)
    assert "MISSING: 1 call(s)" in text and "+99001 (#0, answered)" in text
    assert not r.ok
    assert not result(errors=("caller +99001: boom",)).ok


def test_json_has_the_figures_and_the_cdr_ids() -> None:
    doc = json.loads(json.dumps(as_json(result())))
    assert doc["ok"] is True and doc["calls"]["peak_concurrent"] == 1
    assert doc["accounting"]["cdrs"] == {"+99001": "c1"}
    assert doc["kpis"]["center"]["answered"] == 1 and doc["center_cpu_s"] == 1.5


def test_progress_line() -> None:
    line = progress_line(WireProgress(wall_s=3.5, placed=100, up=100, ivr=10, queued=40,
                                      talking=50, answered=0, abandoned=0, failed=0,
                                      peak_up=100))  # fmt: skip
    assert "placed   100" in line and "up  100 (ivr  10, queued  40, talking  50)" in line
