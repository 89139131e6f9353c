from __future__ import annotations

import json
from pathlib import Path

import pytest

from cli.main import main

SMALL = """
name = "cli check"
duration_s = 300
warmup_s = 30
sl_threshold_s = 10

[arrivals]
rates = [{ rate = 0.5 }]

[[queues]]
name = "q"
skills = { s = 1 }

[[agents]]
group = "g"
count = 8
skills = { s = 5 }
talk = { dist = "exponential", mean = 12 }
"""


def test_simulate_prints_progress_kpis_and_writes_json(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    scenario = tmp_path / "s.toml"
    scenario.write_text(SMALL)
    out = tmp_path / "out.json"
    assert main(["simulate", str(scenario), "--json", str(out), "--seed", "9"]) == 0
    text = capsys.readouterr().out
    assert "t=" in text and "offered" in text  # progress lines
    for label in ("KPIs", "ASA", "occupancy", "Erlang C reference", "decision latency p50"):
        assert label in text
    figures = json.loads(out.read_text())
    assert figures["seed"] == 9 and figures["scenario"] == "cli check"
    center = figures["kpis"]["center"]
    assert center["offered"] == center["answered"] > 50
    assert 0 <= center["service_level"] <= 1
    assert figures["system"]["decisions"] >= center["answered"]
    assert figures["protocol_error_count"] == 0
    # the same seed gives the same figures; the run's wall time aside
    assert main(["simulate", str(scenario), "--json", str(out), "--seed", "9", "--quiet"]) == 0
    again = json.loads(out.read_text())
    assert again["kpis"] == figures["kpis"]


def test_bad_scenario_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    scenario = tmp_path / "s.toml"
    scenario.write_text(SMALL.replace("count = 8", "count = 0"))
    assert main(["simulate", str(scenario)]) == 2
    assert "agents[0].count = 0" in capsys.readouterr().err


WIRE = """
level = "wire"
duration_s = 10
[arrivals]
rates = [{ rate = 1 }]
[[queues]]
name = "sales"
skills = { sales = 1 }
[[agents]]
group = "g"
count = 2
skills = { sales = 5 }
talk = 5
[wire]
number = "2000"
"""


def test_wire_level_without_a_running_center_fails_with_the_reason(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    scenario = tmp_path / "s.toml"
    scenario.write_text(WIRE)
    assert main(["simulate", str(scenario), "--data", str(tmp_path / "var")]) == 1
    assert "no center to simulate against" in capsys.readouterr().err


def test_wire_level_needs_enough_agents_in_the_center_config(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    scenario = tmp_path / "s.toml"
    scenario.write_text(WIRE.replace("count = 2", "count = 9"))
    assert main(["simulate", str(scenario), "--data", str(tmp_path / "var")]) == 2
    assert "agents[g]: count = 9" in capsys.readouterr().err
