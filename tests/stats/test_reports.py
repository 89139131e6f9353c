"""Every report figure of the scripted morning equals the value worked out by hand."""

from __future__ import annotations

from pathlib import Path
from zoneinfo import ZoneInfo

import psycopg
import pytest

from actors.queue.metrics import queue_figures
from bus.catalogue import default_codec
from bus.message import from_dict
from stats.definitions import Thresholds
from stats.projector import load_calls, load_facts, position, project_all, project_batch, rebuild
from stats.reports import agent_report, calls_report, queue_report, render_table, write_csv
from tests.stats.scenario import BASE, run_scenario, write_journal

UTC = ZoneInfo("UTC")
TH = Thresholds(service_level_s={"sales": 20.0, "support": 20.0}, short_abandon_s=5.0)
END = BASE + 3600


@pytest.fixture
def projected(db_url: str) -> str:
    write_journal(db_url, run_scenario())
    with psycopg.connect(db_url) as conn:
        assert project_all(conn, batch=7) == 26  # several batches: positions chain correctly
    return db_url


def _queue_rows(url: str, minutes: int = 15) -> dict[tuple[str, str], dict[str, object]]:
    with psycopg.connect(url) as conn:
        visits, intervals = load_facts(conn, BASE, END)
    report = queue_report(visits, intervals, start=BASE, end=END, minutes=minutes,
                          thresholds=TH, now=END, tz=UTC)
    return {(r[0], r[1]): dict(zip(report.columns, r, strict=True)) for r in report.rows}


def test_queue_figures_by_hand(projected: str) -> None:
    rows = _queue_rows(projected)
    sales = rows[("2026-11-25 09:00", "sales")]
    assert sales == rows[("total", "sales")] | {"interval": "2026-11-25 09:00"}
    assert (sales["offered"], sales["answered"], sales["answered_in_sl"]) == (5, 2, 1)
    assert (sales["abandoned"], sales["short_abandoned"], sales["overflowed"]) == (1, 1, 1)
    assert sales["service_level"] == pytest.approx(1 / 3)  # c1 / (c1, c4 answered + c3)
    assert sales["asa_s"] == pytest.approx((4 + 30) / 2)
    assert sales["aht_s"] == pytest.approx(((60 + 10) + (30 + 10)) / 2)
    assert sales["abandon_rate"] == pytest.approx(1 / (5 - 1))  # c3 / offered less c2
    assert sales["longest_wait_s"] == pytest.approx(40)  # c5 before overflowing
    support = rows[("total", "support")]
    assert (support["offered"], support["answered"], support["abandoned"]) == (1, 0, 1)
    assert support["service_level"] == 0.0 and support["abandon_rate"] == 1.0
    assert support["asa_s"] is None and support["longest_wait_s"] == pytest.approx(10)
    # the other 15-minute intervals of the hour are there, with nothing offered
    quiet = rows[("2026-11-25 09:45", "sales")]
    assert (quiet["offered"], quiet["service_level"], quiet["longest_wait_s"]) == (0, None, None)
    assert len(rows) == 5 * 2


def test_agent_figures_by_hand(projected: str) -> None:
    with psycopg.connect(projected) as conn:
        _, intervals = load_facts(conn, BASE, END)
    report = agent_report(intervals, start=BASE, end=END, minutes=60, now=END, tz=UTC)
    total = dict(zip(report.columns, report.rows[-1], strict=True))
    assert total["interval"] == "total" and total["agent"] == "anna"
    assert total["handled"] == 2
    assert total["aht_s"] == pytest.approx(55.0)
    busy = 4 + 60 + 10 + 30 + 30 + 10  # reserved, talking, wrap-up for c1 and c4
    assert total["occupancy"] == pytest.approx(busy / (busy + 6 + 20))  # ready 74-80, 150-170
    assert total["utilisation"] == pytest.approx(busy / 200)  # logged in 0-200
    assert total["not_ready_s"] == pytest.approx(30)


def test_call_detail_records(projected: str) -> None:
    with psycopg.connect(projected) as conn:
        calls = {c["call_id"]: c for c in load_calls(conn, BASE, END)}
    assert set(calls) == {"c1", "c2", "c3", "c4", "c5"}
    c1 = calls["c1"]
    assert (c1["result"], c1["agent"], c1["queue"], c1["caller"]) == ("answered", "anna",
                                                                       "sales", "+331")
    assert (c1["wait_s"], c1["talk_s"], c1["wrap_s"], c1["hold_s"]) == (4.0, 60.0, 10.0, 0.0)
    assert c1["offered_at"] == BASE and c1["answered_at"] == BASE + 4
    assert c1["ended_at"] == BASE + 64
    c5 = calls["c5"]
    assert c5["queues"] == ["sales", "support"] and c5["result"] == "abandoned"
    assert c5["wait_s"] == pytest.approx(50) and c5["agent"] is None
    assert calls["c2"]["result"] == "abandoned" and calls["c2"]["wait_s"] == 3
    report = calls_report(list(calls.values()), UTC, queue="support")
    assert report.column("call_id") == ["c5"]
    assert "c5" in render_table(report)


def test_projection_is_exactly_once_and_rebuildable(projected: str) -> None:
    with psycopg.connect(projected) as conn:
        before = _queue_rows(projected)
        assert project_batch(conn) == [] and position(conn) == 26
        assert rebuild(conn) == 26
        assert position(conn) == 26
        n_visits = conn.execute("SELECT count(*) FROM report_queue_visit").fetchone()
        assert n_visits == (6,)
    assert _queue_rows(projected) == before


def test_agrees_with_the_queue_actors_own_figures() -> None:
    """With the short-abandon threshold at the SL target, SL/ASA match actors.queue.metrics
    (which ignores abandons within the target)."""
    catalogue = default_codec().catalogue
    records = run_scenario()
    events = [from_dict(catalogue.get(r.kind), r.payload) for r in records]
    theirs = queue_figures(events, sl_threshold_s=20)["sales"]
    from stats.facts import fold

    facts = fold(records)
    from stats.definitions import queue_kpis

    ours = queue_kpis(facts.visits.values(), facts.intervals.values(), start=BASE, end=END,
                      now=END, thresholds=Thresholds(default_service_level_s=20,
                                                     short_abandon_s=20))["sales"]
    assert ours.offered == theirs.offered and ours.answered == theirs.answered
    assert ours.asa_s == theirs.asa_s
    assert ours.abandoned + ours.short_abandoned == theirs.abandoned
    assert ours.service_level == theirs.service_level == pytest.approx(1 / 3)


def test_csv_has_raw_numbers(projected: str, tmp_path: Path) -> None:
    with psycopg.connect(projected) as conn:
        visits, intervals = load_facts(conn, BASE, END)
    report = queue_report(visits, intervals, start=BASE, end=END, minutes=30, thresholds=TH,
                          now=END, tz=UTC, queue="sales")
    path = tmp_path / "q.csv"
    write_csv(report, path)
    lines = path.read_text().splitlines()
    assert lines[0].startswith("interval,queue,offered,answered")
    assert lines[1].split(",")[:4] == ["2026-11-25 09:00", "sales", "5", "2"]
    assert lines[1].split(",")[8] == repr(1 / 3)
