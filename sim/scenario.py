"""Scenario files (TOML): who calls when, how patient they are, where the IVR sends them, which
agents answer and how long they talk. One format for both levels:

* ``level = "message"`` - simulated callers and agents talk to the real queue, agent and
  matcher behaviours on a real :class:`actors.host.Host` with a fake clock;
* ``level = "wire"`` - simulated SIP phones and callers against a running center (the
  ``[wire]`` table: ``sip_target``, ``number``, ``agent_domain``, ``local_host``,
  ``caller_host``, ``dtmf``, ``dtmf_delay_s``; driven by :mod:`sim.wire`).

See ``sim/scenarios/*.toml`` for annotated examples. Every error names the key it is about.
"""

from __future__ import annotations

import math
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from actors.matcher.messages import MAX_LEVEL, MIN_LEVEL, STRATEGIES
from sim.distributions import Dist, DistError, fixed, parse_dist

Level = Literal["message", "wire"]


class ScenarioError(ValueError):
    """The scenario file is malformed; the message names the file and key."""


@dataclass(frozen=True, slots=True, kw_only=True)
class RateStep:
    """From ``from_s`` on (until the next step), calls arrive as Poisson with ``rate`` per s."""

    from_s: float
    rate: float


@dataclass(frozen=True, slots=True, kw_only=True)
class Burst:
    """``calls`` extra calls at ``at_s``, spread uniformly over ``over_s`` (0: all at once)."""

    at_s: float
    calls: int
    over_s: float = 0.0


@dataclass(frozen=True, slots=True, kw_only=True)
class QueueSpec:
    name: str
    strategy: str = "longest-idle"
    skills: Mapping[str, int]
    priority: int = 0
    ring_timeout_s: float = 20.0
    ring_all_max: int = 10
    announce_every_s: float = 0.0
    #: overflow after this long waiting: to ``overflow_to`` (a queue) or, if empty, out
    #: of the ACD (voicemail) - either way counted as overflowed here
    max_wait_s: float | None = None
    overflow_to: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class Route:
    """One IVR outcome: a caller takes it with ``probability`` and lands in ``queue``."""

    name: str
    probability: float
    queue: str
    #: None: the queue's own
    priority: int | None = None
    skills: Mapping[str, int] | None = None
    #: the DTMF a caller sends to reach it (wire level)
    digits: str = ""
    #: None: the scenario's
    patience: Dist | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Pauses:
    """Each agent asks for a pause after ``every`` (drawn again after each), lasting ``length``."""

    every: Dist
    length: Dist
    reason: str = "break"


@dataclass(frozen=True, slots=True, kw_only=True)
class AgentGroup:
    group: str
    count: int
    skills: Mapping[str, int]
    answer_delay: Dist
    talk: Dist
    wrap_up: Dist
    #: after a no-answer (the ACD set the agent not ready) the agent is ready again this later
    back_after_no_answer_s: float = 10.0
    pauses: Pauses | None = None


DTMF_MODES = ("auto", "info", "rfc4733")


@dataclass(frozen=True, slots=True, kw_only=True)
class WireSpec:
    """Where the running center is and how the endpoints behave, for ``level = "wire"``."""

    #: the center's SIP listener, host:port ("": the center config's [sip] listen)
    sip_target: str
    #: what callers dial
    number: str
    #: the domain phones register in (the center's [sip] domain)
    agent_domain: str = "127.0.0.1"
    #: where the simulated phones bind (SIP and RTP)
    local_host: str = "127.0.0.1"
    #: where the callers bind: an address the center's trunk allows ("": local_host)
    caller_host: str = ""
    #: "auto": SIP INFO when the IVR answered with the placeholder port 9, else RFC 4733
    dtmf: Literal["auto", "info", "rfc4733"] = "auto"
    #: callers send their route's digits this long after the center answered
    dtmf_delay_s: float = 1.0


@dataclass(frozen=True, slots=True, kw_only=True)
class Scenario:
    name: str
    level: Level
    duration_s: float
    rates: tuple[RateStep, ...]
    bursts: tuple[Burst, ...]
    queues: tuple[QueueSpec, ...]
    routes: tuple[Route, ...]
    agents: tuple[AgentGroup, ...]
    patience: Dist | None = None
    warmup_s: float = 0.0
    seed: int = 1
    sl_threshold_s: float = 20.0
    #: callers hanging up sooner are short abandons (stats.definitions): not counted
    short_abandon_s: float = 5.0
    #: after the arrival window, keep running until no caller waits - at most this long
    drain_max_s: float = 600.0
    wire: WireSpec | None = None

    @property
    def agent_count(self) -> int:
        return sum(g.count for g in self.agents)

    def mean_rate(self) -> float:
        """Calls per second over the arrival window, bursts included."""
        total = float(sum(b.calls for b in self.bursts))
        steps = sorted(self.rates, key=lambda r: r.from_s)
        for i, r in enumerate(steps):
            end = steps[i + 1].from_s if i + 1 < len(steps) else self.duration_s
            total += r.rate * max(0.0, min(end, self.duration_s) - r.from_s)
        return total / self.duration_s


# ----------------------------------------------------------------- parsing


class _Table:
    """A TOML table with its path, for error messages; remembers which keys were read."""

    def __init__(self, raw: object, where: str) -> None:
        if not isinstance(raw, dict):
            raise ScenarioError(f"{where}: expected a table, got {raw!r}")
        self.raw: dict[str, Any] = raw
        self.where = where
        self.seen: set[str] = set()

    def at(self, key: str) -> str:
        return f"{self.where}.{key}" if self.where else key

    def get(self, key: str, default: Any = None) -> Any:
        self.seen.add(key)
        return self.raw.get(key, default)

    def need(self, key: str) -> Any:
        self.seen.add(key)
        if key not in self.raw:
            raise ScenarioError(f"{self.at(key)}: missing")
        return self.raw[key]

    def number(self, key: str, default: float | None = None, *, low: float = 0.0) -> float:
        v = self.need(key) if default is None else self.get(key, default)
        if isinstance(v, bool) or not isinstance(v, int | float) or math.isnan(v) or v < low:
            raise ScenarioError(f"{self.at(key)} = {v!r}: a number >= {low:g}")
        return float(v)

    def integer(self, key: str, default: int | None = None, *, low: int = 0) -> int:
        v = self.need(key) if default is None else self.get(key, default)
        if isinstance(v, bool) or not isinstance(v, int) or v < low:
            raise ScenarioError(f"{self.at(key)} = {v!r}: an integer >= {low}")
        return v

    def text(self, key: str, default: str | None = None) -> str:
        v = self.need(key) if default is None else self.get(key, default)
        if not isinstance(v, str):
            raise ScenarioError(f"{self.at(key)} = {v!r}: a string")
        return v

    def dist(self, key: str, default: Dist | None = None) -> Dist | None:
        v = self.get(key)
        if v is None:
            return default
        try:
            return parse_dist(v, self.at(key))
        except DistError as exc:
            raise ScenarioError(str(exc)) from None

    def skills(self, key: str, *, required: bool = True) -> dict[str, int] | None:
        v = self.need(key) if required else self.get(key)
        if v is None:
            return None
        if not isinstance(v, dict):
            raise ScenarioError(f"{self.at(key)}: a table of skill = level, got {v!r}")
        for s, lvl in v.items():
            level_ok = isinstance(lvl, int) and not isinstance(lvl, bool)
            if not level_ok or not MIN_LEVEL <= lvl <= MAX_LEVEL:
                raise ScenarioError(
                    f"{self.at(key)}.{s} = {lvl!r}: a level {MIN_LEVEL}-{MAX_LEVEL}")
        return dict(v)

    def tables(self, key: str) -> list[_Table]:
        v = self.get(key, [])
        if not isinstance(v, list):
            raise ScenarioError(f"{self.at(key)}: expected an array of tables ([[{key}]])")
        return [_Table(x, f"{self.at(key)}[{i}]") for i, x in enumerate(v)]

    def done(self) -> None:
        extra = sorted(set(self.raw) - self.seen)
        if extra:
            raise ScenarioError(f"{self.where or 'scenario'}: unknown key(s) {', '.join(extra)}")


def load_scenario(path: str | Path) -> Scenario:
    p = Path(path)
    try:
        raw = tomllib.loads(p.read_text())
    except OSError as exc:
        raise ScenarioError(f"{p}: cannot read: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(f"{p}: not valid TOML: {exc}") from None
    try:
        return parse_scenario(raw)
    except ScenarioError as exc:
        raise ScenarioError(f"{p}: {exc}") from None


def parse_scenario(raw: Mapping[str, Any]) -> Scenario:
    top = _Table(dict(raw), "")
    level = top.text("level", "message")
    if level not in ("message", "wire"):
        raise ScenarioError(f"level = {level!r}: 'message' or 'wire'")
    duration = top.number("duration_s", low=1e-9)
    arrivals = _Table(top.need("arrivals"), "arrivals")
    rates = tuple(_rate(t) for t in arrivals.tables("rates"))
    bursts = tuple(_burst(t) for t in arrivals.tables("bursts"))
    arrivals.done()
    if not rates and not bursts:
        raise ScenarioError("arrivals: give rates ([[arrivals.rates]]) or bursts, or both")
    queues = tuple(_queue(t) for t in top.tables("queues"))
    if not queues:
        raise ScenarioError("queues: at least one [[queues]]")
    names = [q.name for q in queues]
    for q in queues:
        if names.count(q.name) > 1:
            raise ScenarioError(f"queues: {q.name!r} is defined twice")
        if q.overflow_to and q.overflow_to not in names:
            raise ScenarioError(f"queues[{q.name}].overflow_to = {q.overflow_to!r}: no such queue")
    routes = tuple(_route(t) for t in top.tables("routes"))
    if not routes:
        if len(queues) > 1:
            raise ScenarioError("routes: with several queues, say where callers go ([[routes]])")
        routes = (Route(name=queues[0].name, probability=1.0, queue=queues[0].name),)
    for i, r in enumerate(routes):
        if r.queue not in names:
            raise ScenarioError(f"routes[{i}].queue = {r.queue!r}: no such queue")
    total = sum(r.probability for r in routes)
    if abs(total - 1.0) > 1e-6:
        raise ScenarioError(f"routes: probabilities add up to {total:g}, not 1")
    agents = tuple(_agents(t) for t in top.tables("agents"))
    if not agents:
        raise ScenarioError("agents: at least one [[agents]] group")
    groups = [g.group for g in agents]
    for g in agents:
        if groups.count(g.group) > 1:
            raise ScenarioError(f"agents: group {g.group!r} is defined twice")
    wire_raw = top.get("wire")
    wire = _wire(_Table(wire_raw, "wire")) if wire_raw is not None else None
    if level == "wire" and wire is None:
        raise ScenarioError("level = 'wire' needs a [wire] table (number, sip_target)")
    scenario = Scenario(
        name=top.text("name", "scenario"),
        level=level,  # type: ignore[arg-type]
        duration_s=duration,
        rates=rates,
        bursts=bursts,
        queues=queues,
        routes=routes,
        agents=agents,
        patience=top.dist("patience"),
        warmup_s=top.number("warmup_s", 0.0),
        seed=top.integer("seed", 1),
        sl_threshold_s=top.number("sl_threshold_s", 20.0),
        short_abandon_s=top.number("short_abandon_s", 5.0),
        drain_max_s=top.number("drain_max_s", 600.0),
        wire=wire,
    )
    top.done()
    if scenario.warmup_s >= duration:
        raise ScenarioError(
            f"warmup_s = {scenario.warmup_s:g}: must be < duration_s ({duration:g})")
    return scenario


def _rate(t: _Table) -> RateStep:
    step = RateStep(from_s=t.number("from_s", 0.0), rate=t.number("rate"))
    t.done()
    return step


def _burst(t: _Table) -> Burst:
    b = Burst(at_s=t.number("at_s"), calls=t.integer("calls", low=1),
              over_s=t.number("over_s", 0.0))  # fmt: skip
    t.done()
    return b


def _queue(t: _Table) -> QueueSpec:
    strategy = t.text("strategy", "longest-idle")
    if strategy not in STRATEGIES:
        raise ScenarioError(f"{t.at('strategy')} = {strategy!r}: one of {', '.join(STRATEGIES)}")
    max_wait = t.get("max_wait_s")
    q = QueueSpec(
        name=t.text("name"),
        strategy=strategy,
        skills=t.skills("skills") or {},
        priority=t.integer("priority", 0, low=-1000),
        ring_timeout_s=t.number("ring_timeout_s", 20.0, low=1e-9),
        ring_all_max=t.integer("ring_all_max", 10, low=1),
        announce_every_s=t.number("announce_every_s", 0.0),
        max_wait_s=None if max_wait is None else t.number("max_wait_s"),
        overflow_to=t.text("overflow_to", ""),
    )
    t.done()
    return q


def _route(t: _Table) -> Route:
    prio = t.get("priority")
    r = Route(
        name=t.text("name", t.text("queue")),
        probability=t.number("probability"),
        queue=t.text("queue"),
        priority=None if prio is None else t.integer("priority", low=-1000),
        skills=t.skills("skills", required=False),
        digits=t.text("digits", ""),
        patience=t.dist("patience"),
    )
    bad = set(r.digits) - set("0123456789*#ABCD")
    if bad:
        raise ScenarioError(f"{t.at('digits')} = {r.digits!r}: DTMF digits are 0-9 * # A-D")
    t.done()
    return r


def _agents(t: _Table) -> AgentGroup:
    pauses_raw = t.get("pauses")
    pauses = None
    if pauses_raw is not None:
        p = _Table(pauses_raw, t.at("pauses"))
        every, length = p.dist("every"), p.dist("length")
        if every is None or length is None:
            raise ScenarioError(f"{p.where}: needs every and length")
        pauses = Pauses(every=every, length=length, reason=p.text("reason", "break"))
        p.done()
    talk = t.dist("talk")
    if talk is None:
        raise ScenarioError(f"{t.at('talk')}: missing (seconds or a distribution)")
    g = AgentGroup(
        group=t.text("group"),
        count=t.integer("count", low=1),
        skills=t.skills("skills") or {},
        answer_delay=t.dist("answer_delay", fixed(0.0)) or fixed(0.0),
        talk=talk,
        wrap_up=t.dist("wrap_up", fixed(0.0)) or fixed(0.0),
        back_after_no_answer_s=t.number("back_after_no_answer_s", 10.0),
        pauses=pauses,
    )
    t.done()
    return g


def _wire(t: _Table) -> WireSpec:
    dtmf = t.text("dtmf", "auto")
    if dtmf not in DTMF_MODES:
        raise ScenarioError(f"{t.at('dtmf')} = {dtmf!r}: one of {', '.join(DTMF_MODES)}")
    target = t.text("sip_target", "")
    host, _, port = target.rpartition(":")
    if target and (not host or not port.isdigit() or not 0 < int(port) < 65536):
        raise ScenarioError(f"{t.at('sip_target')} = {target!r}: host:port (or \"\": the "
                            "center config's [sip] listen)")
    number = t.text("number")
    if not number:
        raise ScenarioError(f"{t.at('number')}: the number callers dial, not empty")
    w = WireSpec(
        sip_target=target,
        number=number,
        agent_domain=t.text("agent_domain", "127.0.0.1"),
        local_host=t.text("local_host", "127.0.0.1"),
        caller_host=t.text("caller_host", ""),
        dtmf=dtmf,  # type: ignore[arg-type]  # checked above
        dtmf_delay_s=t.number("dtmf_delay_s", 1.0),
    )
    t.done()
    return w
