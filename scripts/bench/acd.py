"""ACD benchmark: 1,000 agents, 100 queues, mixed skills and strategies, message level.

    python scripts/bench/acd.py [--seconds 8] [--agents 1000] [--queues 100] [--json PATH]

Everything runs in one process on :class:`actors.matcher.pump.Pump`: the real agent, queue and
matcher behaviours plus a simulated call actor per call (rings, answers after a delay, talks,
hangs up, sometimes never answers or abandons). Simulated time jumps from event to event, so the
run is bounded by wall time (``--seconds``), not by the simulated day.

Measured:

* ``decisions_per_s`` - decisions per second of CPU spent inside ``MatcherBehaviour.decide``
  (thread CPU time). The matcher is the one serial actor of the ACD - agents, queues and calls
  spread over hosts - so its own rate is the system's ceiling. For context the table also shows
  decisions per wall/CPU second of the whole one-process simulation (every agent, queue and
  simulated call message included);
* decision latency p50/p99 - wall time from the outside event (a call arriving, an agent's
  wrap-up timer or click making it ready) to the Offer leaving the matcher, through the queue or
  agent actor in between.

Targets: p99 < 1 ms and >= 10k decisions/s.

Same-run baselines, so a figure taken on a busy shared machine can be read against what the
machine gave right then:

* ``dict_lookups_per_us`` - a plain dict-lookup loop, timed before and after the run: the speed
  of this machine's Python at that moment (it drops when other workers share the cores);

and, after a second, 3 s run of the same simulation that records the matcher's input (skip it
with ``--no-compare``):

* ``matcher_alone_decisions_per_s`` - that input (same messages, same order, same clock)
  replayed through a fresh matcher with nothing else running in between: its gap to the
  recording run's own ``recorded_run_decisions_per_s`` is what the other actors' work costs the
  matcher in caches;
* ``rebuild_decisions_per_s`` - the naive path on 200 messages from the middle of that input: a
  matcher that derives its indices from the state on every message instead of keeping them up
  to date (per message, scaled by the decisions per message of the input).
"""

from __future__ import annotations

import argparse
import json
import math
import random
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, cast

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from actors.agent.behaviour import AgentBehaviour
from actors.agent.messages import (
    AgentProfile,
    Answered,
    CallEnded,
    CancelRing,
    Configure,
    Login,
    Ready,
    RingPhone,
)
from actors.effects import Effect, Journal, Send, StartTimer, Stop
from actors.matcher.behaviour import MatcherBehaviour
from actors.matcher.messages import (
    STRATEGIES,
    Decision,
    GetMatcher,
    MatcherState,
    MatcherStats,
    Strategy,
)
from actors.matcher.pump import Pump, Step
from actors.queue.behaviour import QueueBehaviour
from actors.queue.messages import (
    Abandon,
    ConfigureQueue,
    Enqueue,
    Overflow,
    OverflowRule,
    QueueConfig,
    RelaxStep,
)
from bus.message import Message, message

TARGETS = {"decisions_per_s": 10_000, "decision_p99_us": 1_000}
#: wall seconds of the second, recording run behind the replay baselines
RECORD_S = 3.0
SKILLS = [f"s{i:02d}" for i in range(20)]


# ----------------------------------------------------------------- a simulated call actor


@message("bench.call_start")
class CallStart(Message):
    queue: str
    priority: int
    answer_after_s: float
    talk_s: float
    patience_s: float
    answers: bool


@message("bench.call_answer")
class CallAnswer(Message):
    agent: str


@message("bench.call_hangup")
class CallHangup(Message):
    agent: str


@message("bench.call_abandon")
class CallAbandon(Message):
    pass


@message("bench.call_state")
class CallSim(Message):
    call_id: str
    start: CallStart | None = None
    queue: str = ""
    agent: str | None = None


class CallSimBehaviour:
    """Rings answer after a delay (or never); the first answer wins; talks, then hangs up."""

    kind = "call"

    def initial(self, address: str) -> CallSim:
        return CallSim(call_id=address[5:])

    def decide(self, s: CallSim, msg: Message, now: float) -> tuple[CallSim, Sequence[Effect]]:
        cid = s.call_id
        if isinstance(msg, CallStart):
            new = CallSim(call_id=cid, start=msg, queue=msg.queue)
            return new, (
                Send(to=f"queue/{msg.queue}", msg=Enqueue(call_id=cid, priority=msg.priority)),
                StartTimer(key="abandon", after_s=msg.patience_s, msg=CallAbandon()),
            )
        st = s.start
        if st is None:
            return s, ()
        if isinstance(msg, RingPhone):
            if s.agent is None and st.answers:
                t = StartTimer(key=f"answer:{msg.agent}", after_s=st.answer_after_s,
                               msg=CallAnswer(agent=msg.agent))  # fmt: skip
                return s, (t,)
            return s, ()
        if isinstance(msg, CallAnswer):
            if s.agent is not None:
                return s, ()
            new = CallSim(call_id=cid, start=st, queue=s.queue, agent=msg.agent)
            return new, (
                Send(to=f"agent/{msg.agent}", msg=Answered(call_id=cid)),
                StartTimer(key="hangup", after_s=st.talk_s, msg=CallHangup(agent=msg.agent)),
            )
        if isinstance(msg, CallHangup):
            return s, (Send(to=f"agent/{msg.agent}", msg=CallEnded(call_id=cid)), Stop())
        if isinstance(msg, CallAbandon):
            if s.agent is not None:
                return s, ()
            return s, (Send(to=f"queue/{s.queue}", msg=Abandon(call_id=cid)), Stop())
        if isinstance(msg, Overflow):
            if msg.kind == "queue":
                again = Enqueue(call_id=cid, priority=st.priority, waiting_since=msg.waiting_since)
                return CallSim(call_id=cid, start=st, queue=msg.target), (
                    Send(to=f"queue/{msg.target}", msg=again),
                )
            return s, (Stop(),)
        if isinstance(msg, CancelRing):
            return s, ()
        return s, ()


# ----------------------------------------------------------------- the run


def percentile(xs: list[float], q: float) -> float:
    if not xs:
        return float("nan")
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))]


class TimedMatcher(MatcherBehaviour):
    """The real matcher, with the CPU time spent inside ``decide`` summed (thread CPU time, so
    other processes on a shared machine do not inflate it); optionally recording its input."""

    def __init__(self) -> None:
        super().__init__()
        self.cpu_ns = 0
        self.first: MatcherState | None = None
        self.inputs: list[tuple[Message, float]] | None = None

    def decide(self, state: Any, msg: Message, now: float) -> Any:
        if self.inputs is not None:
            if not self.inputs:
                self.first = state
            self.inputs.append((msg, now))
        t0 = time.thread_time_ns()
        out = super().decide(state, msg, now)
        self.cpu_ns += time.thread_time_ns() - t0
        return out


def count_decisions(effects: Sequence[Effect]) -> int:
    return sum(1 for e in effects if type(e) is Journal and type(e.event) is Decision)


def replay(
    first: MatcherState, inputs: list[tuple[Message, float]], keep_at: int
) -> tuple[int, int, MatcherState]:
    """(decisions, thread CPU ns) of ``inputs`` through a fresh matcher, alone, and the state
    it had before input ``keep_at``."""
    matcher, state, decisions, cpu_ns = MatcherBehaviour(), first, 0, 0
    state, effects = matcher.decide(state, *inputs[0])  # (builds its indices: not timed)
    decisions += count_decisions(effects)
    kept = state
    for i, (msg, now) in enumerate(inputs[1:], 1):
        if i == keep_at:
            kept = state
        t0 = time.thread_time_ns()
        state, effects = matcher.decide(state, msg, now)
        cpu_ns += time.thread_time_ns() - t0
        decisions += count_decisions(effects)
    return decisions, cpu_ns, kept


def replay_rebuilding(state: MatcherState, inputs: list[tuple[Message, float]]) -> int:
    """Thread CPU ns of ``inputs`` (from ``state``) through the naive path: a new matcher per
    message, so every message derives the indices from the state again."""
    cpu_ns = 0
    for msg, now in inputs:
        t0 = time.thread_time_ns()
        state, _effects = MatcherBehaviour().decide(state, msg, now)
        cpu_ns += time.thread_time_ns() - t0
    return cpu_ns


def dict_lookups_per_us(n: int = 300_000) -> float:
    table = {f"a{i:04d}": i for i in range(1000)}
    keys = list(table)[:: 1000 // 100]
    rounds = n // len(keys)
    t0 = time.thread_time_ns()
    for _ in range(rounds):
        for k in keys:
            table.get(k)
    return rounds * len(keys) / ((time.thread_time_ns() - t0) / 1000)


def build(
    n_agents: int, n_queues: int, rng: random.Random
) -> tuple[Pump, list[float], TimedMatcher]:
    latencies: list[float] = []
    not_ready: list[str] = []

    def observe(step: Step) -> None:
        kind = step.address[: step.address.index("/")]
        if kind == "matcher":
            for e in step.effects:
                if type(e) is Journal and type(e.event) is Decision:
                    latencies.append((time.perf_counter_ns() - step.root_ns) / 1000.0)
        elif kind == "agent" and step.after.status == "not_ready":  # type: ignore[attr-defined]
            not_ready.append(step.address)

    matcher = TimedMatcher()
    p = Pump(
        [AgentBehaviour(), QueueBehaviour(), matcher, CallSimBehaviour()],
        observers=[observe],
        record=False,
    )
    p.not_ready = not_ready  # type: ignore[attr-defined]
    for i in range(n_queues):
        strategy = cast(Strategy, STRATEGIES[i % len(STRATEGIES)])
        skill = SKILLS[i % len(SKILLS)]
        need = {skill: 1 + i % 5}
        if i % 4 == 3:  # every fourth queue wants a second skill too
            need[SKILLS[(i * 7 + 3) % len(SKILLS)]] = 1 + i % 3
        overflow: tuple[OverflowRule, ...] = ()
        if i % 10 == 9:
            spill = f"q{(i + 1) % n_queues:03d}"
            overflow = (OverflowRule(when="max_wait", kind="queue", target=spill, threshold=90),)
        cfg = QueueConfig(
            strategy=strategy,
            skills=need,
            relax=(RelaxStep(after_s=45, skills={skill: 1}),),
            overflow=overflow,
            ring_timeout_s=8,
            ring_all_max=3,
            announce_every_s=30,
        )
        p.ask(f"queue/q{i:03d}", ConfigureQueue(config=cfg))
    for i in range(n_agents):
        own = rng.sample(SKILLS, rng.randint(3, 5))
        profile = AgentProfile(skills={s: rng.randint(1, 10) for s in own}, wrap_up_s=3)
        login = f"agent/a{i:04d}"
        p.ask(login, Configure(profile=profile))
        p.ask(login, Login(phone_uri=f"sip:a{i:04d}@bench"))
        p.ask(login, Ready())
    latencies.clear()
    return p, latencies, matcher


def run(
    seconds: float, n_agents: int, n_queues: int, seed: int, record: bool = False
) -> tuple[dict[str, Any], TimedMatcher]:
    """The simulation's figures, and its matcher (with its input, when ``record``)."""
    rng = random.Random(seed)
    p, latencies, matcher = build(n_agents, n_queues, rng)
    if record:
        matcher.inputs = []
    talk_mean = 40.0
    capacity = n_agents / (2.0 + talk_mean + 3.0)  # answer delay + talk + wrap-up
    t_sim = 0.0
    n_calls = 0
    next_desk = 10.0
    wall0 = time.perf_counter()
    cpu0 = time.process_time()
    matcher.cpu_ns = 0
    deadline = wall0 + seconds
    while time.perf_counter() < deadline:
        # load swings between 60 % and 120 % of nominal capacity (no-answers and ring-all
        # eat some of it): queues fill, then drain and agents idle
        rate = capacity * (0.9 + 0.3 * math.sin(2 * math.pi * t_sim / 120.0))
        t_sim += rng.expovariate(rate)
        p.advance_to(t_sim)
        if t_sim >= next_desk:  # agents who went not-ready (no answer) come back
            back = list(p.not_ready)  # type: ignore[attr-defined]
            p.not_ready.clear()  # type: ignore[attr-defined]
            for address in back:  # one outside event at a time, as clicks arrive
                p.tell(address, Ready())
                p.run()
            next_desk += 10.0
        n_calls += 1
        start = CallStart(
            queue=f"q{rng.randrange(n_queues):03d}",
            priority=rng.choice((0, 0, 0, 1, 2)),
            answer_after_s=rng.uniform(0.5, 3.5),
            talk_s=rng.expovariate(1 / talk_mean),
            patience_s=rng.uniform(20, 240),
            answers=rng.random() > 0.03,
        )
        p.tell(f"call/c{n_calls}", start)
        p.run()
    wall = time.perf_counter() - wall0
    cpu = time.process_time() - cpu0
    inputs, matcher.inputs = matcher.inputs, None
    stats = p.ask("matcher/global", GetMatcher())
    assert isinstance(stats, MatcherStats)
    decisions = len(latencies)
    out: dict[str, Any] = {
        "agents": n_agents,
        "queues": n_queues,
        "calls": n_calls,
        "simulated_s": round(t_sim, 1),
        "wall_s": round(wall, 3),
        "messages": p.steps,
        "decisions": decisions,
        # the matcher is one actor on one core: its own rate is the ACD's ceiling
        "decisions_per_s": round(decisions / (matcher.cpu_ns / 1e9), 1),
        "matcher_cpu_share": round(matcher.cpu_ns / 1e9 / cpu, 3),
        "whole_sim_decisions_per_wall_s": round(decisions / wall, 1),
        "whole_sim_decisions_per_cpu_s": round(decisions / cpu, 1),
        "messages_per_s": round(p.steps / wall, 1),
        "decision_p50_us": round(percentile(latencies, 0.50), 1),
        "decision_p99_us": round(percentile(latencies, 0.99), 1),
        "decision_max_us": round(max(latencies, default=float("nan")), 1),
        "waiting_at_end": stats.calls_waiting,
        "ready_at_end": stats.agents_ready,
    }
    matcher.inputs = inputs
    return out, matcher


def baselines(n_agents: int, n_queues: int, seed: int) -> dict[str, Any]:
    """The replay figures, from a second, shorter run that records the matcher's input.

    Not recorded during the measured run: holding every message alive there grows the heap
    the garbage collector walks, which costs the measured matcher and its latencies."""
    figures, matcher = run(RECORD_S, n_agents, n_queues, seed, record=True)
    inputs, first = matcher.inputs, matcher.first
    if not inputs or first is None:
        return {}
    middle = len(inputs) // 2
    alone, alone_ns, halfway = replay(first, inputs, middle)
    assert alone == figures["decisions"], "the replayed matcher decided differently"
    sample = inputs[middle : middle + 200]  # mid-run: queues and agents in full swing
    naive_ns = replay_rebuilding(halfway, sample)
    # messages per second on the sample, times the run's decisions per message
    per_msg = len(sample) / (naive_ns / 1e9)
    return {
        "recorded_run_decisions_per_s": figures["decisions_per_s"],
        "matcher_alone_decisions_per_s": round(alone / (alone_ns / 1e9), 1),
        "rebuild_decisions_per_s": round(per_msg * alone / len(inputs), 1),
    }


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--seconds", type=float, default=8.0, help="wall-clock budget of the run")
    ap.add_argument("--agents", type=int, default=1000)
    ap.add_argument("--queues", type=int, default=100)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--json", type=Path, help="write the figures here")
    ap.add_argument(
        "--no-compare", action="store_true", help="skip the same-run baselines (see above)"
    )
    a = ap.parse_args()
    lookups_before = dict_lookups_per_us()
    r, _matcher = run(a.seconds, a.agents, a.queues, a.seed)
    r["dict_lookups_per_us"] = [round(lookups_before, 1), round(dict_lookups_per_us(), 1)]
    if not a.no_compare:
        r.update(baselines(a.agents, a.queues, a.seed))
    width = max(len(k) for k in r)
    print(f"{'figure':<{width}}  value")
    for k, v in r.items():
        target = TARGETS.get(k)
        mark = ""
        if target is not None:
            at_least = k == "decisions_per_s"
            ok = v >= target if at_least else v < target
            mark = f"   target {'>=' if at_least else '<'} {target}: {'ok' if ok else 'MISSED'}"
        print(f"{k:<{width}}  {v}{mark}")
    if a.json:
        a.json.write_text(json.dumps(r, indent=2) + "\n")


if __name__ == "__main__":
    main()
