"""Live figures: the same numbers as the reports for the same period, and the live extras."""

from __future__ import annotations

from zoneinfo import ZoneInfo

import psycopg
import pytest

from stats.definitions import Thresholds
from stats.live import LiveStats, day_start
from stats.projector import load_facts, position, project_all, project_batch
from stats.reports import agent_report, queue_report
from tests.stats.scenario import BASE, run_scenario, write_journal

UTC = ZoneInfo("UTC")
TH = Thresholds(service_level_s={"sales": 20.0}, short_abandon_s=5.0)


def _live() -> LiveStats:
    return LiveStats(thresholds=TH, tz=UTC, queues=("sales", "support"),
                     agent_queues={"anna": ("sales",), "zoe": ("support",)})


@pytest.mark.parametrize("minutes_after", [30, 95, 145, 400])
def test_live_and_historical_agree_for_the_same_period(db_url: str, minutes_after: int) -> None:
    """Cut the morning at several moments: live (memory) == report (tables) for today so far."""
    now = BASE + minutes_after
    records = [r for r in run_scenario() if r.ts <= now]
    write_journal(db_url, records)
    live = _live()
    for r in records:
        live.apply(r)
    snap = live.snapshot(now)
    start = day_start(now, UTC)
    with psycopg.connect(db_url) as conn:
        project_all(conn)
        visits, intervals = load_facts(conn, start, now + 1)
    q_report = queue_report(visits, intervals, start=start, end=now + 1e-9, minutes=60,
                            thresholds=TH, now=now, tz=UTC)
    totals = {r[1]: dict(zip(q_report.columns, r, strict=True))
              for r in q_report.rows if r[0] == "total"}
    assert {q.queue for q in snap.queues} == {"sales", "support"}
    for q in snap.queues:
        t = totals.get(q.queue)
        if t is None:  # nothing happened in it yet
            assert q.offered == 0
            continue
        for name in ("offered", "answered", "abandoned", "short_abandoned", "overflowed",
                     "service_level", "asa_s", "aht_s", "abandon_rate", "longest_wait_s"):
            assert getattr(q, name) == t[name], (q.queue, name)
    a_report = agent_report(intervals, start=start, end=now + 1e-9, minutes=60, now=now, tz=UTC)
    (anna_total,) = [r for r in a_report.rows if r[0] == "total"]
    (anna,) = snap.agents
    assert (anna.handled, anna.aht_s, anna.occupancy, anna.utilisation) == anna_total[2:6]


def test_live_extras_at_a_busy_moment() -> None:
    now = BASE + 120  # anna talks to c4 since 110, c5 waits since 100
    live = _live()
    for r in run_scenario():
        if r.ts <= now:
            live.apply(r)
    snap = live.snapshot(now)
    sales = next(q for q in snap.queues if q.queue == "sales")
    assert (sales.waiting, sales.longest_waiting_s) == (1, 20.0)
    assert sales.agents_by_state == {"talking": 1}
    assert sales.service_level_s == 20.0
    (anna,) = snap.agents
    assert (anna.state, anna.call_id, anna.queue, anna.since) == ("talking", "c4", "sales",
                                                                  BASE + 110)
    calls = {c.call_id: (c.state, c.agent) for c in snap.calls}
    assert calls == {"c5": ("waiting", None), "c4": ("talking", "anna")}


def test_a_restarted_service_resumes_from_the_tables(db_url: str) -> None:
    """Facts loaded back from the tables + the rest of the journal == folding it all live."""
    records = run_scenario()
    write_journal(db_url, records)
    cut = 15  # projected before the "restart"
    with psycopg.connect(db_url) as conn:
        assert len(project_batch(conn, cut)) == cut
        visits, intervals = load_facts(conn, day_start(BASE, UTC), BASE + 86400)
        resumed = _live()
        resumed.load(visits, intervals, position(conn))
        for r in project_batch(conn, 1000):
            resumed.apply(r)
    straight = _live()
    for r in records:
        straight.apply(r)
        straight.apply(r)  # a replayed record is ignored
    now = BASE + 300
    assert resumed.snapshot(now).queues == straight.snapshot(now).queues
    assert resumed.snapshot(now).agents == straight.snapshot(now).agents


def test_help_requests_open_and_close() -> None:
    from store.journal import JournalRecord

    def help_event(seq: int, step: str, **kw: object) -> JournalRecord:
        payload = {"help_id": "h1", "agent": "anna", "group": "g", "step": step,
                   "call_id": "c9", "supervisor": None, "mode": None, "note": "angry caller",
                   "at": 0.0, **kw}
        return JournalRecord(seq=seq, ts=BASE + seq, actor="agent/anna", actor_seq=seq,
                             kind="agent.help_event", payload=payload)

    live = _live()
    live.apply(help_event(1, "raised"))
    (h,) = live.snapshot(BASE + 5).help
    assert (h.agent, h.call_id, h.raised_at, h.note) == ("anna", "c9", BASE + 1, "angry caller")
    live.apply(help_event(2, "accepted", supervisor="sam", mode="whisper"))
    (h,) = live.snapshot(BASE + 5).help
    assert (h.supervisor, h.mode, h.raised_at) == ("sam", "whisper", BASE + 1)
    live.apply(help_event(3, "resolved"))
    assert live.snapshot(BASE + 5).help == ()


def test_yesterday_is_forgotten_at_midnight() -> None:
    live = _live()
    for r in run_scenario():
        live.apply(r)
    tomorrow = day_start(BASE, UTC) + 86400 + 60
    snap = live.snapshot(tomorrow)
    sales = next(q for q in snap.queues if q.queue == "sales")
    assert (sales.offered, sales.service_level) == (0, None)
    assert len(live.facts.visits) == 0
    (anna,) = snap.agents  # logged out since yesterday, still shown as such
    assert anna.state == "logged_out"
