"""The simulator against queueing theory: an M/M/c scenario (sim/scenarios/mmc.toml: 10 agents,
8 erlangs, exponential talk, nobody abandons) must give Erlang C's waiting figures.

Tolerances come from the spread of the simulation itself: over seeds 0-5, one 20,000 s run
(~15,800 calls after the warm-up) gave ASA 1.86-2.25 s (Erlang C 2.05), SL(5 s) 0.83-0.87
(0.85), P(wait) 0.38-0.45 (0.41), occupancy 0.79-0.82 (0.80). At 80 % occupancy the queue
forgets its past in ~60 calls, so the run holds ~250 independent stretches: the tolerances
below are about twice the largest deviation seen. A simulator that served calls late, lost
them, or mis-measured waits would be far outside them (a 1 s extra wait per call moves ASA by
50 %).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from sim import erlang
from sim.runner import simulate
from sim.scenario import load_scenario

SCENARIO = Path(__file__).parents[2] / "sim" / "scenarios" / "mmc.toml"


def test_mmc_scenario_matches_erlang_c() -> None:
    s = load_scenario(SCENARIO)
    g = s.agents[0]
    assert (g.talk.kind, g.wrap_up.mean, g.answer_delay.mean, s.patience) == (
        "exponential", 0.0, 0.0, None)  # the M/M/c assumptions
    theory = erlang.figures(g.count, s.mean_rate(), g.talk.mean, s.sl_threshold_s)
    assert theory is not None and 0.35 < theory.p_wait < 0.5  # waiting is not trivial
    r = simulate(s)
    assert r.protocol_errors == ()
    c = r.kpis.center
    assert c.offered > 15_000 and c.answered == c.offered
    assert c.asa_s == pytest.approx(theory.asa_s, rel=0.20)
    assert c.service_level == pytest.approx(theory.service_level, abs=0.04)
    assert c.p_wait == pytest.approx(theory.p_wait, abs=0.07)
    assert r.kpis.occupancy == pytest.approx(theory.occupancy, abs=0.04)
    assert r.kpis.groups[0].aht_s == pytest.approx(g.talk.mean, rel=0.03)


def test_simulated_wait_grows_with_load_as_erlang_c_says() -> None:
    import dataclasses

    base = load_scenario(SCENARIO)
    light = dataclasses.replace(base, duration_s=3000.0)
    heavy = dataclasses.replace(
        light, rates=(dataclasses.replace(base.rates[0], rate=0.9),))  # 9 erlangs on 10
    a, b = simulate(light), simulate(heavy)
    assert a.kpis.center.asa_s is not None and b.kpis.center.asa_s is not None
    # Erlang C: ASA 2.05 s -> 6.7 s; P(wait) 0.41 -> 0.67
    assert b.kpis.center.asa_s > 1.5 * a.kpis.center.asa_s  # seeds 0-5: 2.2x-4.6x
    assert (b.kpis.center.p_wait or 0) > (a.kpis.center.p_wait or 0) + 0.1
