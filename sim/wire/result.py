"""The figures of a wire-level run (what :mod:`sim.wire.report` prints and writes as JSON)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sim.erlang import ErlangFigures
from sim.kpi import Kpis
from sim.runner import percentile
from sim.scenario import Scenario
from sim.wire.accounting import Accounting
from sim.wire.system import ProcessFigures
from sim.wire.tally import Tally


@dataclass(frozen=True, slots=True, kw_only=True)
class WireProgress:
    wall_s: float
    placed: int
    up: int
    ivr: int
    queued: int
    talking: int
    answered: int
    abandoned: int
    failed: int
    peak_up: int


@dataclass(frozen=True, slots=True, kw_only=True)
class CallFigures:
    """What the callers and phones measured."""

    placed: int
    answered: int
    abandoned: int
    failed: int
    #: still up when the run's time ran out (hung up by the simulator)
    cut: int
    peak_concurrent: int
    peak_at_s: float
    #: caller's INVITE -> the center's 2xx (its IVR's answer on IVR routes), milliseconds
    invite_answer_p50_ms: float | None
    invite_answer_p99_ms: float | None
    #: caller's INVITE -> an agent's phone answering, seconds
    to_agent_p50_s: float | None
    dtmf_info: int
    dtmf_rfc4733: int
    rtp_sent: int
    rtp_received: int
    #: answered calls where the caller and the agent's phone both received RTP
    talking_with_media: int
    phone_calls: int
    phone_missed: int


@dataclass(frozen=True, slots=True, kw_only=True)
class WireResult:
    scenario: str
    seed: int
    agents: int
    run_s: float
    calls: CallFigures
    kpis: Kpis
    erlang: ErlangFigures | None
    accounting: Accounting
    center: tuple[ProcessFigures, ...]
    sim_cpu_s: float
    sim_peak_rss_mib: float
    #: lateness of the shared 20 ms RTP tick (the simulator's own health), p99
    rtp_tick_late_p99_ms: float | None
    errors: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return self.accounting.complete and not self.errors and self.calls.placed > 0

    @property
    def center_cpu_s(self) -> float:
        return sum(p.cpu_s for p in self.center)

    @property
    def center_rss_mib(self) -> float:
        return sum(p.peak_rss_mib for p in self.center)


def _ms(xs: list[float], q: float) -> float | None:
    got = percentile(xs, q)
    return None if got is None else round(1000.0 * got, 1)


def caller_figures(
    *, scenario: Scenario, seed: int, agents: int, tally: Tally, kpis: Kpis,
    erlang: ErlangFigures | None, accounting: Accounting, center: list[ProcessFigures],
    run_s: float, sim_cpu_s: float, sim_rss_mib: float, tick_late_p99_ms: float | None,
    t0: float,
) -> WireResult:  # fmt: skip
    calls = tally.calls
    outcomes = tally.outcomes()
    to_answer = [r.answered_at - r.placed_at for r in calls if r.answered_at is not None]
    to_agent = [r.agent_at - r.placed_at for r in calls if r.agent_at is not None]
    received_by_phone = {p.caller: p.rtp_received for p in tally.phone_calls if p.answered}
    both = sum(1 for r in calls if r.outcome == "answered" and r.rtp_received > 0
               and received_by_phone.get(r.number, 0) > 0)  # fmt: skip
    figures = CallFigures(
        placed=len(calls), answered=outcomes["answered"], abandoned=outcomes["abandoned"],
        failed=outcomes["failed"], cut=outcomes["cut"], peak_concurrent=tally.peak_up,
        peak_at_s=round(max(0.0, tally.peak_at - t0), 2),
        invite_answer_p50_ms=_ms(to_answer, 0.5), invite_answer_p99_ms=_ms(to_answer, 0.99),
        to_agent_p50_s=percentile(to_agent, 0.5),
        dtmf_info=sum(1 for r in calls if r.dtmf == "info" and r.digits_sent),
        dtmf_rfc4733=sum(1 for r in calls if r.dtmf == "rfc4733" and r.digits_sent),
        rtp_sent=sum(r.rtp_sent for r in calls) + sum(p.rtp_sent for p in tally.phone_calls),
        rtp_received=sum(r.rtp_received for r in calls)
        + sum(p.rtp_received for p in tally.phone_calls),
        talking_with_media=both, phone_calls=len(tally.phone_calls),
        phone_missed=sum(1 for p in tally.phone_calls if not p.answered),
    )  # fmt: skip
    return WireResult(
        scenario=scenario.name, seed=seed, agents=agents, run_s=round(run_s, 2), calls=figures,
        kpis=kpis, erlang=erlang, accounting=accounting, center=tuple(center),
        sim_cpu_s=round(sim_cpu_s, 2), sim_peak_rss_mib=round(sim_rss_mib, 1),
        rtp_tick_late_p99_ms=tick_late_p99_ms, errors=tuple(tally.errors),
    )  # fmt: skip


def as_json(result: WireResult) -> dict[str, Any]:
    from dataclasses import asdict

    out = asdict(result)
    out["accounting"]["cdrs"] = {n: c.call_id for n, c in result.accounting.cdrs.items()}
    out["ok"] = result.ok
    out["center_cpu_s"] = round(result.center_cpu_s, 2)
    out["center_rss_mib"] = round(result.center_rss_mib, 1)
    out["errors"] = list(result.errors[:100])
    out["error_count"] = len(result.errors)
    return out
