from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from actors.agent.messages import AgentTransition
from sim.runner import Progress, WireLevelUnavailable, simulate
from sim.scenario import ScenarioError, load_scenario, parse_scenario
from tests.sim.test_scenario import MINIMAL

SCENARIOS = Path(__file__).parents[2] / "sim" / "scenarios"


def small_mixed(duration_s: float = 900.0) -> Any:
    import dataclasses

    s = load_scenario(SCENARIOS / "mixed_day.toml")
    return dataclasses.replace(s, duration_s=duration_s, warmup_s=60.0)


def test_mixed_scenario_runs_clean_and_every_call_ends_once() -> None:
    seen: list[Progress] = []
    r = simulate(small_mixed(), progress=seen.append, progress_every_s=100)
    assert r.protocol_errors == ()
    assert r.still_waiting == 0
    c = r.kpis.center
    assert c.offered > 500
    # every call that entered ends exactly once (overflow between queues is a move)
    assert c.offered == c.answered + c.abandoned + c.short_abandoned + c.overflowed
    assert c.abandoned > 0 and c.answered > 0
    assert sum(q.offered for q in r.kpis.queues) >= c.offered
    assert {g.group for g in r.kpis.groups} == {"sales", "support"}
    assert all(0 < (g.occupancy or 0) <= 1 for g in r.kpis.groups)
    # answer delays (1-4 s) are part of every answered call's wait
    assert all(q.p_wait == 1.0 for q in r.kpis.queues if q.answered)
    assert [p.sim_s for p in seen[:3]] == [100, 200, 300]
    assert seen[-1].offered >= c.offered
    assert r.system.decisions >= c.answered
    assert r.system.decision_p99_us is not None and r.system.decision_p99_us > 0


def test_breaks_and_wrap_ups_happen_through_the_real_agent_actor(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from actors.effects import Journal
    from sim import engine

    events: list[AgentTransition] = []
    original = engine.Recorder.journal

    def keep(self: engine.Recorder, effects: Any) -> None:
        original(self, effects)
        events.extend(e.event for e in effects
                      if type(e) is Journal and type(e.event) is AgentTransition)  # fmt: skip

    monkeypatch.setattr(engine.Recorder, "journal", keep)
    simulate(small_mixed(1200.0))
    reasons = {(e.from_state, e.to_state, e.reason) for e in events}
    assert any(to == "not_ready" and why == "break" for _f, to, why in reasons)
    assert any(f == "not_ready" and to == "ready" for f, to, _w in reasons)
    assert any(f == "ringing" and to == "talking" for f, to, _w in reasons)
    assert any(f == "wrap_up" and to == "ready" for f, to, _w in reasons)


def test_same_seed_same_run_other_seed_other_run() -> None:
    s = small_mixed(400.0)
    a, b, c = simulate(s, seed=3), simulate(s, seed=3), simulate(s, seed=4)
    assert a.kpis == b.kpis and a.calls == b.calls
    assert a.kpis != c.kpis


def test_overflow_moves_the_caller_with_their_wait() -> None:
    raw = copy.deepcopy(MINIMAL)
    raw.update(
        duration_s=300,
        queues=[{"name": "first", "skills": {"x": 1}, "max_wait_s": 10, "overflow_to": "second"},
                {"name": "second", "skills": {"s": 1}}],
        routes=[{"queue": "first", "probability": 1}],
    )  # fmt: skip
    r = simulate(parse_scenario(raw))  # nobody has skill x: everyone overflows after 10 s
    by_queue = {q.queue: q for q in r.kpis.queues}
    assert by_queue["first"].overflowed == by_queue["first"].offered > 0
    assert by_queue["second"].answered > 0
    assert r.kpis.center.overflowed == 0  # moved, not lost
    assert r.kpis.center.asa_s is not None and r.kpis.center.asa_s >= 10.0
    assert r.protocol_errors == ()


def test_a_call_nobody_can_take_is_reported_not_hung() -> None:
    raw = copy.deepcopy(MINIMAL)
    raw.update(duration_s=50, drain_max_s=20, queues=[{"name": "q", "skills": {"x": 1}}])
    r = simulate(parse_scenario(raw))
    assert r.still_waiting > 0 and r.kpis.center.answered == 0


def test_refused_configuration_is_a_scenario_error() -> None:
    raw = copy.deepcopy(MINIMAL)
    raw["queues"] = [{"name": "q", "skills": {}, "max_wait_s": 5, "overflow_to": "q"}]
    with pytest.raises(ScenarioError, match="cannot overflow into itself"):
        simulate(parse_scenario(raw))


def test_the_discrete_event_runner_sends_wire_scenarios_to_sim_wire() -> None:
    raw = copy.deepcopy(MINIMAL)
    raw.update(level="wire", wire={"sip_target": "127.0.0.1:5060", "number": "100"})
    with pytest.raises(WireLevelUnavailable, match="simulate_wire"):
        simulate(parse_scenario(raw))


RACES: dict[str, Any] = {
    "duration_s": 900, "warmup_s": 60, "patience": {"dist": "exponential", "mean": 40},
    "arrivals": {"rates": [{"rate": 1.5}], "bursts": [{"at_s": 300, "calls": 60}]},
    "queues": [
        {"name": "all", "skills": {"s": 1}, "strategy": "ring-all", "ring_all_max": 3,
         "ring_timeout_s": 3},
        {"name": "rr", "skills": {"s": 1}, "strategy": "round-robin", "ring_timeout_s": 3,
         "announce_every_s": 15},
    ],
    "routes": [{"queue": "all", "probability": 0.5},
               {"queue": "rr", "probability": 0.5, "priority": 2}],
    "agents": [{
        "group": "g", "count": 25, "skills": {"s": 5},
        "answer_delay": {"dist": "uniform", "low": 0, "high": 4},
        "talk": {"dist": "exponential", "mean": 12},
        "wrap_up": {"dist": "uniform", "low": 0, "high": 3}, "back_after_no_answer_s": 2,
        "pauses": {"every": {"dist": "exponential", "mean": 200}, "length": 20},
    }],
}  # fmt: skip


def test_races_ring_all_no_answer_abandon_while_ringing_stay_in_protocol(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Answer delays around the 3 s ring timeout, ring-all to three agents, impatient callers,
    a burst of 60 at one instant and breaks: every race the protocol expects, no error."""
    from actors.effects import Journal
    from sim import engine

    reasons: set[str] = set()
    original = engine.Recorder.journal

    def keep(self: engine.Recorder, effects: Any) -> None:
        original(self, effects)
        reasons.update(e.event.reason for e in effects
                       if type(e) is Journal and type(e.event) is AgentTransition)  # fmt: skip

    monkeypatch.setattr(engine.Recorder, "journal", keep)
    r = simulate(parse_scenario(RACES), seed=0)
    assert r.protocol_errors == ()
    assert r.still_waiting == 0
    c = r.kpis.center
    assert c.offered == c.answered + c.abandoned + c.short_abandoned + c.overflowed
    assert c.answered > 0 and c.abandoned > 0
    assert {"no_answer", "abandoned", "break"} <= reasons  # abandoned: while ringing
    assert any(why.startswith("answered by") for why in reasons)  # ring-all losers
