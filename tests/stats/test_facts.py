"""The derivation's telephony/IVR/recording side, and properties of the definitions."""

from __future__ import annotations

from datetime import UTC
from typing import Any

import psycopg
from hypothesis import given, settings
from hypothesis import strategies as st

from stats.definitions import Interval, Thresholds, Visit, agent_kpis, buckets, queue_kpis
from stats.projector import load_calls, project_all
from store.journal import JournalRecord
from tests.stats.scenario import BASE, write_journal


def _rec(seq: int, t: float, actor: str, kind: str, **payload: Any) -> JournalRecord:
    return JournalRecord(seq=seq, ts=BASE + t, actor=actor, actor_seq=seq, kind=kind,
                         payload=payload)


def test_call_events_fill_the_call_detail_record(db_url: str) -> None:
    call = "call/k1"
    records = [
        _rec(1, 0, call, "call.created", call_id="k1", caller="+3310", dialled="2000",
             source="trunk", route="queue:sales", at=0.0),
        _rec(2, 1, "ivr/k1", "ivr.node", call_id="k1", node="menu"),
        _rec(3, 2, "ivr/k1", "ivr.node", call_id="k1", node="sales"),
        _rec(4, 3, "queue/sales", "queue.call_queued", call_id="k1", queue="sales",
             priority=0, caller="+3310", waiting_since=3.0, position=1, at=3.0),
        _rec(5, 5, call, "call.ringing", call_id="k1", leg="b1", agent="anna",
             early_media=False, at=5.0),
        _rec(6, 7, "queue/sales", "queue.call_answered", call_id="k1", queue="sales",
             agent="anna", waited_s=4.0, total_wait_s=4.0, at=7.0),
        _rec(7, 8, "media/1", "media.recording_started", call_id="k1", recording_id="r-77"),
        _rec(8, 67, call, "call.ended", call_id="k1", cause="caller_hangup", status=200,
             by_leg="a", duration_s=67.0, talk_s=60.0, at=67.0),
        _rec(9, 70, call, "call.created", call_id="k2", caller="+3311", dialled="0140",
             source="trunk", route="agent:anna", at=70.0),
        _rec(10, 75, call, "call.ended", call_id="k2", cause="caller_cancel", status=487,
             by_leg="a", duration_s=5.0, talk_s=0.0, at=75.0),
    ]
    write_journal(db_url, records)
    with psycopg.connect(db_url) as conn:
        assert project_all(conn) == 10
        cdr = {c["call_id"]: c for c in load_calls(conn, BASE, BASE + 3600)}
    k1 = cdr["k1"]
    assert k1["ivr_path"] == ["menu", "sales"] and k1["queues"] == ["sales"]
    assert k1["legs"] == [{"leg": "b1", "agent": "anna", "at": BASE + 5}]
    assert (k1["result"], k1["agent"], k1["recording_id"]) == ("answered", "anna", "r-77")
    assert (k1["answered_at"], k1["ended_at"], k1["end_cause"]) == (BASE + 7, BASE + 67,
                                                                   "caller_hangup")
    k2 = cdr["k2"]  # never queued: selected by its start time
    assert (k2["result"], k2["queue"], k2["end_cause"]) == ("unanswered", None, "caller_cancel")


def _quality(seq: int, t: float, leg: str, mos: float, **extra: Any) -> JournalRecord:
    return _rec(seq, t, "call/q1", "call.media_quality", call_id="q1", leg=leg,
                agent=extra.get("agent", ""), packets_received=3000, packets_lost=30,
                loss_pct=1.0, jitter_max_ms=4.5, rtt_ms=None, peer_loss_pct=None, mos=mos,
                r_factor=80.0, duration_s=60.0)


def test_media_quality_is_kept_per_leg_and_the_call_gets_its_worst_mos(db_url: str) -> None:
    records = [
        _rec(1, 0, "call/q1", "call.created", call_id="q1", caller="+3310", dialled="2000",
             source="trunk", route="queue:sales", at=0.0),
        _quality(2, 60, "a", 3.9),
        _quality(3, 60, "b", 2.8, agent="anna"),
        _quality(4, 61, "s", 4.1, agent="sophie"),
        _rec(5, 70, "call/q2", "call.created", call_id="q2", caller="+3311", dialled="2000",
             source="trunk", route="agent:anna", at=70.0),
        _rec(6, 75, "call/q2", "call.media_quality", call_id="q2", leg="a", agent="",
             packets_received=0, packets_lost=0, loss_pct=0.0, jitter_max_ms=0.0, rtt_ms=None,
             peer_loss_pct=None, mos=4.4, r_factor=93.2, duration_s=5.0),
    ]
    write_journal(db_url, records)
    with psycopg.connect(db_url) as conn:
        project_all(conn)
        cdr = {c["call_id"]: c for c in load_calls(conn, BASE, BASE + 3600)}
    q1 = cdr["q1"]
    assert q1["mos"] == 2.8  # the agent's leg sounded worst
    assert [(leg["leg"], leg["agent"], leg["mos"], leg["loss_pct"]) for leg in q1["quality"]] == [
        ("a", "", 3.9, 1.0), ("b", "anna", 2.8, 1.0), ("s", "sophie", 4.1, 1.0)]
    # a leg that sent nothing (a silent SIPp peer) is listed but not scored
    assert cdr["q2"]["mos"] is None and [q["mos"] for q in cdr["q2"]["quality"]] == [None]
    from stats.reports import calls_report

    report = calls_report(list(cdr.values()), UTC, mos_below=3.6)
    assert [row[0] for row in report.rows] == ["q1"]
    assert report.rows[0][report.columns.index("mos")] == 2.8


_states = st.sampled_from(["ready", "not_ready", "reserved", "talking", "on_hold", "wrap_up",
                           "logged_out"])


@settings(max_examples=150, deadline=None)
@given(
    steps=st.lists(st.tuples(st.floats(0, 1800), _states, st.integers(0, 3)), max_size=30),
    arrivals=st.lists(st.tuples(st.floats(0, 7199), st.sampled_from(
        ["answered", "abandoned", "overflowed", None]), st.floats(0, 120)), max_size=30),
    minutes=st.sampled_from([15, 30, 60]),
)
def test_interval_rows_add_up_to_the_total(
    steps: list[tuple[float, str, int]], arrivals: list[tuple[float, str | None, float]],
    minutes: int,
) -> None:
    """Counts and seconds of the interval rows sum to the whole period's."""
    t, intervals = 0.0, []
    for dt_, state, call in steps:
        end = t + dt_
        intervals.append(Interval(agent="a", state=state, started_at=BASE + t,
                                  ended_at=BASE + end, call_id=f"c{call}" if call else None,
                                  queue="q" if call else None))
        t = end
    visits = [Visit(call_id=f"v{i}", queue="q", queued_at=BASE + at, result=res,
                    wait_s=None if res is None else wait)
              for i, (at, res, wait) in enumerate(arrivals)]
    start, end, now = BASE, BASE + 7200, BASE + 7200
    th = Thresholds()
    whole_q = queue_kpis(visits, intervals, start=start, end=end, now=now, thresholds=th)
    whole_a = agent_kpis(intervals, start=start, end=end, now=now)
    parts = buckets(start, end, minutes)
    assert len(parts) == 7200 // (minutes * 60)
    per_q = [queue_kpis(visits, intervals, start=s, end=e, now=now, thresholds=th)
             for s, e in parts]
    for field in ("offered", "answered", "answered_in_sl", "abandoned", "short_abandoned",
                  "overflowed", "waiting"):
        total = getattr(whole_q["q"], field) if "q" in whole_q else 0
        assert sum(getattr(p["q"], field) for p in per_q if "q" in p) == total, field
    per_a = [agent_kpis(intervals, start=s, end=e, now=now) for s, e in parts]
    for state, seconds in (whole_a["a"].seconds_in.items() if "a" in whole_a else ()):
        got = sum(p["a"].seconds_in.get(state, 0.0) for p in per_a if "a" in p)
        assert abs(got - seconds) < 1e-6, state
    for k in whole_a.values():
        for ratio in (k.occupancy, k.utilisation):
            assert ratio is None or 0.0 <= ratio <= 1.0
