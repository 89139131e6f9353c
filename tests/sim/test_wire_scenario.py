"""The [wire] table of scenario files, and the shipped wire scenario."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from sim.scenario import ScenarioError, load_scenario, parse_scenario

REPO = Path(__file__).resolve().parents[2]


def wire(**table: Any) -> dict[str, Any]:
    return {
        "level": "wire", "duration_s": 10, "arrivals": {"rates": [{"rate": 1}]},
        "queues": [{"name": "q", "skills": {}}],
        "agents": [{"group": "g", "count": 1, "skills": {}, "talk": 3}],
        "wire": {"number": "5000", **table},
    }  # fmt: skip


def test_defaults_read_the_center_and_pick_dtmf_by_the_answer() -> None:
    w = parse_scenario(wire()).wire
    assert w is not None
    assert (w.sip_target, w.number, w.dtmf, w.caller_host, w.dtmf_delay_s) == (
        "", "5000", "auto", "", 1.0)


@pytest.mark.parametrize(("table", "message"), [
    ({"dtmf": "inband"}, r"wire.dtmf = 'inband': one of auto, info, rfc4733"),
    ({"sip_target": "127.0.0.1"}, r"wire.sip_target = '127.0.0.1': host:port"),
    ({"sip_target": "h:99999"}, r"wire.sip_target = 'h:99999'"),
    ({"number": ""}, r"wire.number: the number callers dial"),
    ({"dtmf_delay_s": -1}, r"wire.dtmf_delay_s = -1"),
    ({"callers": 3}, r"wire: unknown key\(s\) callers"),
])  # fmt: skip
def test_errors_name_the_key(table: dict[str, Any], message: str) -> None:
    with pytest.raises(ScenarioError, match=message):
        parse_scenario(wire(**table))


def test_the_shipped_wire_scenario_loads() -> None:
    s = load_scenario(REPO / "sim" / "scenarios" / "wire_100.toml")
    assert s.level == "wire" and s.wire is not None and s.wire.number == "5000"
    assert sum(b.calls for b in s.bursts) == 100 and s.agent_count == 50
    assert {r.digits for r in s.routes} == {"1", "2"}
