from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from sim.arrivals import arrival_times, plan
from sim.distributions import DistError, parse_dist
from sim.scenario import ScenarioError, load_scenario, parse_scenario

SCENARIOS = sorted((Path(__file__).parents[2] / "sim" / "scenarios").glob("*.toml"))

MINIMAL: dict[str, Any] = {
    "duration_s": 100,
    "arrivals": {"rates": [{"rate": 1.0}]},
    "queues": [{"name": "q", "skills": {"s": 1}}],
    "agents": [{"group": "g", "count": 2, "skills": {"s": 5}, "talk": 30}],
}


def with_(**changes: Any) -> dict[str, Any]:
    raw = copy.deepcopy(MINIMAL)
    raw.update(changes)
    return raw


@pytest.mark.parametrize("path", SCENARIOS, ids=[p.name for p in SCENARIOS])
def test_shipped_scenarios_load(path: Path) -> None:
    s = load_scenario(path)
    assert s.duration_s > s.warmup_s >= 0
    assert s.agent_count > 0


def test_minimal_scenario_defaults() -> None:
    s = parse_scenario(MINIMAL)
    assert s.level == "message"
    assert [r.queue for r in s.routes] == ["q"]  # one queue: everybody goes there
    assert s.agents[0].wrap_up.kind == "fixed" and s.agents[0].wrap_up.mean == 0
    assert s.patience is None
    assert s.mean_rate() == pytest.approx(1.0)


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (with_(colour="blue"), "unknown key.*colour"),
        (with_(level="sip"), "level = 'sip'"),
        (with_(duration_s=0), "duration_s = 0"),
        (with_(arrivals={"rates": [{"rate": -1}]}), r"arrivals.rates\[0\].rate = -1"),
        (with_(arrivals={}), "give rates"),
        (with_(routes=[{"queue": "nowhere", "probability": 1}]), "routes.*'nowhere'.*no such"),
        (with_(queues=[{"name": "q", "skills": {}}, {"name": "r", "skills": {}}]),
         "several queues"),
        (with_(routes=[{"queue": "q", "probability": 0.5}]), "add up to 0.5"),
        (with_(agents=[{"group": "g", "count": 1, "skills": {"s": 11}, "talk": 3}]),
         r"agents\[0\].skills.s = 11"),
        (with_(agents=[{"group": "g", "count": 1, "skills": {}, "talk": {"dist": "weibull"}}]),
         r"agents\[0\].talk.dist = 'weibull'"),
        (with_(queues=[{"name": "q", "skills": {}, "strategy": "fastest"}]),
         r"strategy = 'fastest'"),
        (with_(level="wire"), r"\[wire\]"),
        (with_(warmup_s=100), "warmup_s = 100"),
        (with_(routes=[{"queue": "q", "probability": 1, "digits": "1x"}]), "DTMF"),
    ],
)
def test_errors_name_the_key(raw: dict[str, Any], message: str) -> None:
    with pytest.raises(ScenarioError, match=message):
        parse_scenario(raw)


def test_file_errors_name_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("duration_s = [\n")
    with pytest.raises(ScenarioError, match="bad.toml: not valid TOML"):
        load_scenario(bad)
    with pytest.raises(ScenarioError, match="cannot read"):
        load_scenario(tmp_path / "missing.toml")


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"dist": "exponential"}, "needs mean"),
        ({"dist": "fixed", "value": 1, "mean": 2}, "unknown key"),
        ({"dist": "uniform", "low": 5, "high": 1}, "low"),
        ({"dist": "lognormal", "mean": 0, "sd": 1}, "mean > 0"),
        (-3, "negative"),
        ("ten", "expected seconds"),
    ],
)
def test_bad_distributions(raw: object, message: str) -> None:
    with pytest.raises(DistError, match=message):
        parse_dist(raw, "talk")


@pytest.mark.parametrize(
    "raw",
    [
        {"dist": "exponential", "mean": 60},
        {"dist": "lognormal", "mean": 60, "sd": 30},
        {"dist": "uniform", "low": 30, "high": 90},
        {"dist": "fixed", "value": 60},
    ],
)
def test_distributions_have_their_stated_mean(raw: dict[str, Any]) -> None:
    d = parse_dist(raw, "talk")
    xs = d.draw_many(np.random.default_rng(5), 200_000)
    assert xs.mean() == pytest.approx(60.0, rel=0.01)
    assert d.expected == pytest.approx(60.0)
    if raw["dist"] == "lognormal":
        assert xs.std() == pytest.approx(30.0, rel=0.03)
    single = d.draw(np.random.default_rng(5))
    assert single >= 0


def test_arrivals_follow_the_rate_steps_and_bursts() -> None:
    s = parse_scenario(with_(
        duration_s=1000,
        arrivals={"rates": [{"from_s": 0, "rate": 2.0}, {"from_s": 500, "rate": 10.0}],
                  "bursts": [{"at_s": 200, "calls": 300, "over_s": 10}]},
    ))  # fmt: skip
    t = arrival_times(s, np.random.default_rng(1))
    assert np.all(np.diff(t) >= 0) and t[0] >= 0 and t[-1] <= 1000
    first, second = np.sum(t < 500), np.sum(t >= 500)
    burst = np.sum((t >= 200) & (t <= 210))
    # Poisson counts: within 4 standard deviations
    assert abs(first - (1000 + 300)) < 4 * np.sqrt(1000)
    assert abs(second - 5000) < 4 * np.sqrt(5000)
    assert burst >= 300
    assert s.mean_rate() == pytest.approx((1000 + 5000 + 300) / 1000)


def test_routes_and_patience_are_drawn_per_route() -> None:
    s = parse_scenario(with_(
        duration_s=2000,
        patience={"dist": "fixed", "value": 60},
        queues=[{"name": "a", "skills": {}}, {"name": "b", "skills": {}}],
        routes=[{"queue": "a", "probability": 0.25},
                {"queue": "b", "probability": 0.75, "patience": 5}],
    ))  # fmt: skip
    p = plan(s, np.random.default_rng(2))
    share_b = np.mean(p.routes == 1)
    assert share_b == pytest.approx(0.75, abs=0.03)
    assert set(p.patience[p.routes == 0]) == {60.0}
    assert set(p.patience[p.routes == 1]) == {5.0}
    again = plan(s, np.random.default_rng(2))
    assert np.array_equal(p.times, again.times) and np.array_equal(p.routes, again.routes)
