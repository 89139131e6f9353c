"""The message-level simulation: a scenario's callers and agents against the real ACD actors.

The loop is discrete-event: the clock jumps to the next arrival or timer deadline, the callers
arriving at that instant are told to start, due timers fire, and the host drains until nothing
moves. Simulated hours take wall seconds; the wall time the ACD itself needs is measured
(matcher CPU per decision, decision latency from the outside event to the Offer).
"""

from __future__ import annotations

import math
import resource
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from actors.agent.behaviour import AgentBehaviour
from actors.agent.messages import AgentProfile, Configure
from actors.matcher.behaviour import MatcherBehaviour
from actors.placement import Placement
from actors.queue.behaviour import QueueBehaviour
from actors.queue.messages import ConfigureQueue, OverflowKind, OverflowRule, QueueConfig
from actors.queue.rules import config_problem
from sim import erlang
from sim.actors import DESK_WRAP_CAP_S, CallerBehaviour, CallerStart, DeskBehaviour, DeskStart
from sim.arrivals import plan
from sim.engine import (
    DeskFeed,
    ErrorTap,
    FakeClock,
    JournalTap,
    MatcherTap,
    Recorder,
    SetupReplies,
    SimHost,
)
from sim.kpi import Kpis, summarize
from sim.scenario import AgentGroup, QueueSpec, Scenario, ScenarioError

HOST_ID = "sim"
KINDS = ("agent", "queue", "matcher", "call", "desk", "sim")


class WireLevelUnavailable(RuntimeError):
    """``level = "wire"`` runs against a running center: :func:`sim.wire.runner.simulate_wire`
    (``contactor simulate`` picks it for wire scenarios), not this discrete-event loop."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Progress:
    sim_s: float
    wall_s: float
    offered: int
    answered: int
    abandoned: int
    waiting: int
    messages: int


@dataclass(frozen=True, slots=True, kw_only=True)
class SystemFigures:
    wall_s: float
    cpu_s: float
    peak_rss_mib: float
    messages: int
    messages_per_wall_s: float
    decisions: int
    #: decisions per second of CPU inside the matcher (the one serial actor: the ceiling)
    decisions_per_s: float | None
    decisions_per_wall_s: float
    decision_p50_us: float | None
    decision_p99_us: float | None
    speedup: float


@dataclass(frozen=True, slots=True, kw_only=True)
class SimResult:
    scenario: str
    seed: int
    agents: int
    calls: int
    simulated_s: float
    still_waiting: int
    kpis: Kpis
    system: SystemFigures
    erlang: erlang.ErlangFigures | None
    protocol_errors: tuple[str, ...]


def percentile(xs: list[float], q: float) -> float | None:
    if not xs:
        return None
    ordered = sorted(xs)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def queue_config(q: QueueSpec) -> QueueConfig:
    overflow: tuple[OverflowRule, ...] = ()
    if q.max_wait_s is not None:
        kind: OverflowKind = "queue" if q.overflow_to else "voicemail"
        overflow = (OverflowRule(when="max_wait", kind=kind, target=q.overflow_to or q.name,
                                 threshold=q.max_wait_s),)  # fmt: skip
    cfg = QueueConfig(
        strategy=q.strategy,  # type: ignore[arg-type]  # checked when the scenario loaded
        skills=dict(q.skills), priority=q.priority, overflow=overflow,
        announce_every_s=q.announce_every_s, ring_timeout_s=q.ring_timeout_s,
        ring_all_max=q.ring_all_max,
    )  # fmt: skip
    problem = config_problem(q.name, cfg)
    if problem is not None:
        raise ScenarioError(f"queues[{q.name}]: {problem}")
    return cfg


def agent_profile(g: AgentGroup) -> AgentProfile:
    if g.wrap_up.kind == "fixed":  # the agent's own wrap-up timer ends it
        return AgentProfile(skills=dict(g.skills), group=g.group, wrap_up_s=g.wrap_up.mean,
                            max_wrap_up_s=max(300.0, g.wrap_up.mean))  # fmt: skip
    # the desk ends wrap-up after a drawn time; the agent's own timer never gets there
    return AgentProfile(skills=dict(g.skills), group=g.group, wrap_up_s=DESK_WRAP_CAP_S,
                        max_wrap_up_s=DESK_WRAP_CAP_S)  # fmt: skip


def logins(g: AgentGroup) -> list[str]:
    return [f"{g.group}-{i:05d}" for i in range(g.count)]


def erlang_reference(s: Scenario) -> erlang.ErlangFigures | None:
    """Erlang C for the scenario read as one M/M/c queue (exact only when it is one: a single
    queue, exponential handling, no abandonment); None when it cannot be read so."""
    if len(s.queues) != 1 or len(s.agents) != 1:
        return None
    g = s.agents[0]
    aht = g.talk.expected + g.wrap_up.expected + g.answer_delay.expected
    if aht <= 0:
        return None
    return erlang.figures(g.count, s.mean_rate(), aht, s.sl_threshold_s)


def _rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def simulate(
    scenario: Scenario,
    *,
    seed: int | None = None,
    progress: Callable[[Progress], None] | None = None,
    progress_every_s: float | None = None,
) -> SimResult:
    if scenario.level == "wire":
        raise WireLevelUnavailable(
            "level = 'wire' runs against a running center: use sim.wire.runner.simulate_wire "
            "(contactor simulate SCENARIO --data DIR --config FILE does)"
        )
    seed = scenario.seed if seed is None else seed
    rng = np.random.default_rng(seed)
    calls = plan(scenario, rng)
    recorder = Recorder()
    feed = DeskFeed()
    groups = {g.group: g for g in scenario.agents}
    clock = FakeClock()
    host = SimHost(
        host_id=HOST_ID,
        behaviours=[
            JournalTap(AgentBehaviour(), recorder),
            JournalTap(QueueBehaviour(), recorder),
            MatcherTap(MatcherBehaviour(), recorder),
            ErrorTap(CallerBehaviour(), recorder),
            ErrorTap(DeskBehaviour(groups, rng), recorder),
        ],
        placement=Placement.single(HOST_ID, KINDS),
        clock=clock,
        publisher=feed,
        dead_letters=lambda r: recorder.errors.append(f"dead letter: {r}"),
    )
    feed.host = host
    setup = SetupReplies()
    host.add_port("sim", setup)
    for q in scenario.queues:
        host.tell(f"queue/{q.name}", ConfigureQueue(config=queue_config(q)), sender="sim/setup")
    group_of: dict[str, str] = {}
    for g in scenario.agents:
        profile = agent_profile(g)
        for login in logins(g):
            group_of[login] = g.group
            host.tell(f"agent/{login}", Configure(profile=profile), sender="sim/setup")
            host.tell(f"desk/{login}", DeskStart(group=g.group))
    host.run_until_quiet(0.0)
    if setup.failures:
        raise ScenarioError("the ACD refused the scenario's configuration: "
                            + "; ".join(setup.failures[:3]))  # fmt: skip

    routes = scenario.routes
    starts = [
        CallerStart(queue=r.queue, priority=r.priority,
                    skills=dict(r.skills) if r.skills is not None else None)
        for r in routes
    ]  # fmt: skip
    times = calls.times.tolist()
    route_of = calls.routes.tolist()
    patience = calls.patience.tolist()
    n = len(times)
    every = progress_every_s or max(1.0, scenario.duration_s / 10)
    next_report = every
    hard_end = scenario.duration_s + scenario.drain_max_s
    wall0, cpu0 = time.perf_counter(), time.process_time()
    recorder.matcher_cpu_ns = 0
    recorder.decisions = 0
    recorder.latencies_us.clear()
    processed0 = host.processed
    i = 0
    inf = math.inf
    while True:
        t_arrival = times[i] if i < n else inf
        due = host.timers.next_deadline()
        t = min(t_arrival, inf if due is None else due)
        if t > scenario.duration_s and i >= n and recorder.offered == recorder.resolved:
            break
        if t > hard_end:
            break
        while progress is not None and t >= next_report and next_report <= hard_end:
            progress(_progress(next_report, wall0, recorder, host.processed - processed0))
            next_report += every
        clock.now = t
        recorder.root_ns = time.perf_counter_ns()
        while i < n and times[i] <= t:
            start = starts[route_of[i]]
            p = patience[i]
            if p != inf:
                start = CallerStart(queue=start.queue, priority=start.priority,
                                    skills=start.skills, patience_s=p)  # fmt: skip
            host.tell(f"call/c{i}", start)
            i += 1
        host.run_until_quiet(t)
    end = max(clock.now, scenario.duration_s)
    wall = time.perf_counter() - wall0
    cpu = time.process_time() - cpu0
    if progress is not None:
        progress(_progress(end, wall0, recorder, host.processed - processed0))
    messages = host.processed - processed0
    kpis = summarize(
        recorder.events, sl_threshold_s=scenario.sl_threshold_s,
        short_abandon_s=scenario.short_abandon_s, start=scenario.warmup_s,
        end=scenario.duration_s, now=end, group_of=group_of,
        queues=[q.name for q in scenario.queues],
    )  # fmt: skip
    lat = recorder.latencies_us
    system = SystemFigures(
        wall_s=wall,
        cpu_s=cpu,
        peak_rss_mib=_rss_mib(),
        messages=messages,
        messages_per_wall_s=messages / wall if wall > 0 else 0.0,
        decisions=recorder.decisions,
        decisions_per_s=(
            recorder.decisions / (recorder.matcher_cpu_ns / 1e9)
            if recorder.matcher_cpu_ns else None
        ),
        decisions_per_wall_s=recorder.decisions / wall if wall > 0 else 0.0,
        decision_p50_us=percentile(lat, 0.50),
        decision_p99_us=percentile(lat, 0.99),
        speedup=end / wall if wall > 0 else 0.0,
    )
    return SimResult(
        scenario=scenario.name,
        seed=seed,
        agents=scenario.agent_count,
        calls=n,
        simulated_s=end,
        still_waiting=recorder.offered - recorder.resolved,
        kpis=kpis,
        system=system,
        erlang=erlang_reference(scenario),
        protocol_errors=tuple(recorder.errors),
    )


def _progress(sim_s: float, wall0: float, r: Recorder, messages: int) -> Progress:
    return Progress(
        sim_s=sim_s, wall_s=time.perf_counter() - wall0, offered=r.offered,
        answered=r.answered, abandoned=r.abandoned, waiting=r.offered - r.resolved,
        messages=messages,
    )  # fmt: skip
