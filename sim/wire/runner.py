"""The wire-level simulation: a scenario's agents and callers as SIP/RTP endpoints against a
running center (``contactor up``), on one asyncio loop (uvloop when installed).

1. the scenario's agent groups take agents from the center's config (in config order, each
   agent having every skill its group names); each gets a phone (:mod:`sim.wire.phone`) that
   registers with the agent's extension and password, then logs in and goes ready through
   the gateway (:mod:`sim.wire.desk`);
2. callers (:mod:`sim.wire.caller`) arrive as the scenario plans (:mod:`sim.arrivals`), each
   with a number unique to the run, walk the IVR, queue, talk or give up;
3. when every caller is done (or ``drain_max_s`` after the arrival window) agents log out
   and phones unregister; the center's journal gives the KPIs (:func:`sim.kpi.
   summarize_records`, the message level's definitions) and :mod:`sim.wire.accounting`
   checks every call placed against the CDRs.
"""

from __future__ import annotations

import asyncio
import resource
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import psycopg

from sim.arrivals import plan
from sim.kpi import summarize_records
from sim.runner import erlang_reference, percentile
from sim.scenario import Scenario, ScenarioError, WireSpec
from sim.wire.accounting import account
from sim.wire.caller import CallerScript, CallerSetup
from sim.wire.desk import Desk
from sim.wire.net import SipPort, TimerPump
from sim.wire.phone import AgentSpec, Phone
from sim.wire.result import WireProgress, WireResult, caller_figures
from sim.wire.rtp import MediaClock, tone_frame
from sim.wire.system import CenterSampler, center_status, process_ids
from sim.wire.tally import CallRecord, Tally
from sip.transaction import Target
from store.journal import JournalRecord

CALLER_TONE_HZ, AGENT_TONE_HZ = 400, 800
START_LEAD_S = 0.5
SETUP_TIMEOUT_S = 60.0


class WireSetupError(RuntimeError):
    """The center cannot take the simulation (not running, agents missing, phones refused)."""


def pick_agents(scenario: Scenario, config: Any) -> list[AgentSpec]:
    """Center agents for the scenario's groups: the first ``count`` with the group's skills."""
    taken: set[str] = set()
    out: list[AgentSpec] = []
    for g in scenario.agents:
        fits = [a for a in config.agents if a.login not in taken
                and all(skill in a.skills for skill in g.skills)][: g.count]  # fmt: skip
        if len(fits) < g.count:
            raise ScenarioError(
                f"agents[{g.group}]: count = {g.count}, but the center's config has only "
                f"{len(fits)} more agents with skills {', '.join(g.skills) or '(any)'}")
        for a in fits:
            taken.add(a.login)
            out.append(AgentSpec(login=a.login, extension=a.extension, password=a.password,
                                 phone_uri=a.phone, group=g))  # fmt: skip
    return out


def sip_target(wire: WireSpec, config: Any) -> Target:
    text = wire.sip_target or f"{config.sip.listen.host}:{config.sip.listen.port}"
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit():
        raise ScenarioError(f"wire.sip_target = {text!r}: host:port")
    return Target(transport="UDP", host=host, port=int(port))


def caller_number(run: int, index: int) -> str:
    """A caller id unique to the run (E.164-shaped, so trunks keep it as it is)."""
    return f"+99{run % 1_000_000:06d}{index:05d}"


def journal_since(url: str, since: float) -> list[JournalRecord]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT seq, extract(epoch FROM ts)::float8, actor, actor_seq, kind, payload"
            " FROM journal WHERE ts >= to_timestamp(%s) ORDER BY seq", (since,)).fetchall()
    return [JournalRecord(seq=r[0], ts=r[1], actor=r[2], actor_seq=r[3], kind=r[4],
                          payload=r[5]) for r in rows]  # fmt: skip


def database_url(config: Any, data_dir: Path) -> str:
    if config.store.url:
        return str(config.store.url)
    from store.embedded import embedded_status

    running = embedded_status(data_dir)
    if running is None:
        raise WireSetupError(f"the center's database is not running (data dir {data_dir}): "
                             "start the center first (contactor up)")
    return str(running.url)


def simulate_wire(
    scenario: Scenario, *, config_path: Path, data_dir: Path, seed: int | None = None,
    progress: Callable[[WireProgress], None] | None = None,
    progress_every_s: float | None = None,
) -> WireResult:  # fmt: skip
    """Run ``scenario`` (``level = "wire"``) against the center of ``config_path``/``data_dir``."""
    from conf.load import load_config

    if scenario.wire is None:
        raise ScenarioError("level = 'wire' needs a [wire] table (sip_target, number)")
    config = load_config(config_path)
    agents = pick_agents(scenario, config)
    try:
        status = center_status(config_path, data_dir)
    except RuntimeError as exc:
        raise WireSetupError(f"no center to simulate against: {exc}") from None
    url = database_url(config, data_dir)
    run = _WireRun(scenario, config, agents, config_path=config_path, data_dir=data_dir,
                   seed=scenario.seed if seed is None else seed, progress=progress,
                   progress_every_s=progress_every_s or 2.0)  # fmt: skip
    run.sampler.start(process_ids(status))
    try:
        import uvloop

        factory: Callable[[], asyncio.AbstractEventLoop] | None = uvloop.new_event_loop
    except ImportError:  # pragma: no cover - uvloop is a dependency, this is a fallback
        factory = None
    with asyncio.Runner(loop_factory=factory) as runner:
        runner.run(run.main())
    run.sampler.sample()
    accounting = account(url, run.tally.calls, since=run.setup_wall - 1.0)
    end_wall = time.time()
    journal = journal_since(url, run.setup_wall - 1.0)
    kpis = summarize_records(
        journal, sl_threshold_s=scenario.sl_threshold_s,
        short_abandon_s=scenario.short_abandon_s, start=run.wall0 + scenario.warmup_s,
        end=end_wall, now=end_wall, group_of={a.login: a.group.group for a in agents},
        queues=[q.name for q in scenario.queues],
    )  # fmt: skip
    return run.result(kpis, erlang_reference(scenario), accounting)


class _WireRun:
    def __init__(self, scenario: Scenario, config: Any, agents: list[AgentSpec], *,
                 config_path: Path, data_dir: Path, seed: int,
                 progress: Callable[[WireProgress], None] | None,
                 progress_every_s: float) -> None:  # fmt: skip
        assert scenario.wire is not None
        self.scenario = scenario
        self.wire = scenario.wire
        self.config = config
        self.agents = agents
        self.seed = seed
        self.rng = np.random.default_rng(seed)
        self.progress = progress
        self.every = progress_every_s
        self.target = sip_target(self.wire, config)
        self.desk = Desk(config_path=config_path, data_dir=data_dir)
        self.tally = Tally()
        self.sampler = CenterSampler()
        self.clock = MediaClock()
        self.pump = TimerPump()
        self.phones: list[Phone] = []
        self._phone_tasks: list[asyncio.Task[None]] = []
        self.setup_wall = time.time()
        self.wall0 = self.setup_wall
        self.t0 = 0.0
        self.run_s = 0.0
        self.cpu0 = time.process_time()
        self.cpu_s = 0.0

    async def main(self) -> None:
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        background = [asyncio.create_task(self.pump.run(stop)),
                      asyncio.create_task(self.clock.run(stop))]  # fmt: skip
        hard_end = loop.time() + SETUP_TIMEOUT_S + self.scenario.duration_s \
            + self.scenario.drain_max_s
        try:
            await asyncio.wait_for(self._setup(stop, hard_end), SETUP_TIMEOUT_S)
            self.t0 = loop.time() + START_LEAD_S
            self.wall0 = time.time() + START_LEAD_S
            hard_end = self.t0 + self.scenario.duration_s + self.scenario.drain_max_s
            for phone in self.phones:
                phone.hard_end = hard_end
            await self._calls(hard_end)
            self.run_s = loop.time() - self.t0
            self.cpu_s = time.process_time() - self.cpu0
            await self._teardown()
        finally:
            stop.set()
            await asyncio.gather(*background, return_exceptions=True)
            self.pump.close()
            self.desk.close()

    async def _setup(self, stop: asyncio.Event, hard_end: float) -> None:
        frame = tone_frame(AGENT_TONE_HZ)
        for spec in self.agents:
            port = self.pump.add(await SipPort.open(self.wire.local_host,
                                                    t1=self.config.sip.t1))  # fmt: skip
            self.phones.append(Phone(spec, port, registrar=self.target,
                                     domain=self.wire.agent_domain, clock=self.clock,
                                     desk=self.desk, tally=self.tally, rng=self.rng,
                                     frame=frame, hard_end=hard_end))  # fmt: skip
        registered = await asyncio.gather(*(p.register() for p in self.phones))
        refused = [p.spec.extension for p, ok in zip(self.phones, registered, strict=True)
                   if not ok]  # fmt: skip
        if refused:
            raise WireSetupError(f"{len(refused)} phone(s) could not register at "
                                 f"{self.target.host}:{self.target.port} (first: "
                                 f"{', '.join(refused[:5])}): check [wire] sip_target, "
                                 "agent_domain and the center's agents")  # fmt: skip
        for phone in self.phones:
            await self.desk.login(phone.spec.login, phone.spec.phone_uri)
        self._phone_tasks = [asyncio.create_task(p.run(stop)) for p in self.phones]

    async def _calls(self, hard_end: float) -> None:
        loop = asyncio.get_running_loop()
        calls = plan(self.scenario, self.rng)
        port = self.pump.add(await SipPort.open(self.wire.caller_host or self.wire.local_host,
                                                t1=self.config.sip.t1))  # fmt: skip
        setup = CallerSetup(target=self.target, number=self.wire.number, host=port.host,
                            dtmf=self.wire.dtmf, dtmf_delay_s=self.wire.dtmf_delay_s,
                            hard_end=hard_end, frame=tone_frame(CALLER_TONE_HZ))  # fmt: skip
        run_id = int(self.wall0)
        tasks: list[asyncio.Task[None]] = []
        reporter = asyncio.create_task(self._report(hard_end))
        for i, (at, route_index, patience) in enumerate(zip(
                calls.times.tolist(), calls.routes.tolist(), calls.patience.tolist(),
                strict=True)):  # fmt: skip
            delay = self.t0 + at - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            route = self.scenario.routes[route_index]
            record = self.tally.add(CallRecord(
                index=i, number=caller_number(run_id, i), route=route.name, queue=route.queue,
                placed_at=loop.time()))  # fmt: skip
            script = CallerScript(setup, port, self.clock, self.tally, record, route.digits,
                                  patience)  # fmt: skip
            tasks.append(asyncio.create_task(script.run()))
        if tasks:
            await asyncio.wait(tasks, timeout=max(1.0, hard_end - loop.time() + 10.0))
        reporter.cancel()
        self._report_now()

    async def _report(self, hard_end: float) -> None:
        loop = asyncio.get_running_loop()
        while loop.time() < hard_end + 10.0:
            await asyncio.sleep(self.every)
            self._report_now()

    def _report_now(self) -> None:
        self.sampler.sample()
        if self.progress is None:
            return
        phases = self.tally.phases()
        outcomes = self.tally.outcomes()
        self.progress(WireProgress(
            wall_s=asyncio.get_running_loop().time() - self.t0, placed=len(self.tally.calls),
            up=self.tally.up, ivr=phases["ivr"], queued=phases["queued"] + phases["setup"],
            talking=phases["talking"], answered=outcomes["answered"],
            abandoned=outcomes["abandoned"], failed=outcomes["failed"] + outcomes["cut"],
            peak_up=self.tally.peak_up))  # fmt: skip

    async def _teardown(self) -> None:
        loop = asyncio.get_running_loop()
        until = loop.time() + 3.0
        while any(p.busy for p in self.phones) and loop.time() < until:
            await asyncio.sleep(0.05)  # the center's BYEs to the phones follow the callers'
        for task in self._phone_tasks:
            task.cancel()
        await asyncio.gather(*self._phone_tasks, return_exceptions=True)
        for phone in self.phones:
            for task in list(phone.tasks):
                task.cancel()
        for phone in self.phones:
            await self.desk.logout(phone.spec.login)
        await asyncio.gather(*(p.register(expires=0) for p in self.phones),
                             return_exceptions=True)

    def result(self, kpis: Any, erlang: Any, accounting: Any) -> WireResult:
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
        return caller_figures(
            scenario=self.scenario, seed=self.seed, agents=len(self.agents), tally=self.tally,
            kpis=kpis, erlang=erlang, accounting=accounting, center=self.sampler.figures(),
            run_s=self.run_s, sim_cpu_s=self.cpu_s, sim_rss_mib=rss,
            tick_late_p99_ms=percentile(self.clock.late_ms, 0.99), t0=self.t0,
        )  # fmt: skip
