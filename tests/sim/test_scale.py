"""The scale run: 1,000 agents, 50 calls/s, 10 simulated minutes (sim/scenarios/center_1000.toml)
on the real actors, in well under a minute of wall time, with KPIs queueing theory predicts.

At this size a 10-minute run is only a few of the queue's relaxation times (~200 s at 97 %
occupancy), so the *waiting* figures of one run scatter widely around Erlang C (P(wait) 0.10
-0.39 over seeds 0-2 against 0.24); the conservation figures are tight: occupancy is
lambda * AHT / c whatever the queue does, and every call is answered. Those are held tightly,
the waiting figures only to a band. tests/sim/test_erlang_agreement.py does the precise check
on a smaller center.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from sim.runner import simulate
from sim.scenario import load_scenario

SCENARIO = Path(__file__).parents[2] / "sim" / "scenarios" / "center_1000.toml"


def test_thousand_agents_fifty_calls_per_second_ten_minutes() -> None:
    s = load_scenario(SCENARIO)
    assert s.agent_count == 1000 and s.mean_rate() == 50 and s.duration_s == 600
    r = simulate(s)
    assert r.protocol_errors == ()
    assert r.system.wall_s < 60.0, f"10 simulated minutes took {r.system.wall_s:.0f} s"
    assert r.system.speedup > 10
    e = r.erlang
    assert e is not None
    # Poisson arrivals: 30,000 expected over 600 s, sd 173
    assert abs(r.calls - 30_000) < 4 * 173
    c = r.kpis.center
    assert c.answered == c.offered and c.abandoned == 0
    assert r.kpis.occupancy == pytest.approx(e.occupancy, abs=0.01)
    g = r.kpis.groups[0]
    assert g.aht_s == pytest.approx(19.4, rel=0.03)
    assert c.service_level is not None and c.service_level >= e.service_level - 0.01
    assert c.p_wait is not None and 0.05 < c.p_wait < 0.6
    assert c.asa_s is not None and c.asa_s < 1.0
    assert r.system.decisions == r.calls
