"""The supervisor's decisions, sans-IO: events in, effects out, timers as data.

:class:`SupervisorCore` knows nothing about Thespian, processes or clocks.  The actor in
:mod:`supervision.supervisor` feeds it what happened (a child reported its pid, became ready,
finished, its process exited) with the current monotonic time and performs the effects it
returns (spawn a process, ask one to stop, kill one, report that the tree stopped).

Sequenced work (starting children one after the other, stopping them in reverse order,
group restarts of ``one_for_all``/``rest_for_one``, manual restarts, escalation) is a *plan*:
a queue of steps executed one at a time.  ``one_for_one`` restarts do not wait for the plan;
each has its own backoff timer.

Every message about a child carries its *incarnation* (a counter bumped on each spawn) so
that late news from a previous process of the same child is ignored.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any, Literal

from supervision.spec import ChildSpec, SupervisorSpec

ChildState = Literal["starting", "running", "stopping", "restarting", "stopped", "failed"]
TreePhase = Literal["idle", "starting", "running", "stopping", "stopped", "failed"]

#: after this much more than ``shutdown_s`` a child that has not exited is killed
KILL_MARGIN_S = 2.0
#: a child whose service finished gets this long to exit before it is killed
RELEASE_GRACE_S = 2.0

_ALIVE: frozenset[ChildState] = frozenset({"starting", "running", "stopping"})


# -- effects -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Spawn:
    """Start a new process for the child and hand it its spec."""

    child_id: str
    incarnation: int


@dataclass(frozen=True, slots=True, kw_only=True)
class RequestStop:
    """Ask the child to drain: set ``stopping``, cancel ``main`` after ``grace_s``."""

    child_id: str
    incarnation: int
    grace_s: float


@dataclass(frozen=True, slots=True, kw_only=True)
class Release:
    """The child's service finished: tell its process to exit now."""

    child_id: str
    incarnation: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Kill:
    """The child did not exit in time: SIGKILL its process."""

    child_id: str
    incarnation: int
    pid: int | None


@dataclass(frozen=True, slots=True, kw_only=True)
class TreeStopped:
    """Every child is stopped.  ``failure`` is ``None`` after a requested stop, else the
    reason the supervisor gave up (restart intensity exceeded)."""

    failure: str | None


Effect = Spawn | RequestStop | Release | Kill | TreeStopped


# -- status --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class ChildStatus:
    name: str
    state: ChildState
    pid: int | None
    restarts: int
    uptime_s: float | None
    stats: dict[str, Any]
    last_error: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class TreeStatus:
    phase: TreePhase
    failure: str | None
    children: tuple[ChildStatus, ...]


# -- plan steps ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Start:
    child_id: str


@dataclass(frozen=True, slots=True)
class _Stop:
    child_id: str


@dataclass(frozen=True, slots=True)
class _Delay:
    seconds: float


@dataclass(frozen=True, slots=True)
class _Finish:
    failure: str | None


_Step = _Start | _Stop | _Delay | _Finish


@dataclass(slots=True)
class _Child:
    spec: ChildSpec
    index: int
    state: ChildState = "stopped"
    incarnation: int = 0
    spawns: int = 0
    pid: int | None = None
    started_at: float | None = None
    #: set when the service reported that ``main`` ended: "" for a normal end, else the error
    outcome: str | None = None
    stop_planned: bool = False
    restart_at: float | None = None
    kill_at: float | None = None
    recent_restarts: deque[float] = field(default_factory=deque)
    stats: dict[str, Any] = field(default_factory=dict)
    last_error: str | None = None

    @property
    def alive(self) -> bool:
        return self.state in _ALIVE


class SupervisorError(RuntimeError):
    """A request the supervisor cannot honour now (unknown child, tree stopping...)."""


class SupervisorCore:
    def __init__(self, spec: SupervisorSpec) -> None:
        self.spec = spec
        self._children = {c.id: _Child(spec=c, index=i) for i, c in enumerate(spec.children)}
        self._order = [self._children[c.id] for c in spec.children]
        self._phase: TreePhase = "idle"
        self._failure: str | None = None
        self._plan: deque[_Step] = deque()
        self._current: _Step | None = None
        self._plan_timer: float | None = None
        self._restart_times: deque[float] = deque()
        #: first child index of the group restart the plan is executing, if any
        self._group_first: int | None = None

    # -- queries ---------------------------------------------------------------------------

    @property
    def phase(self) -> TreePhase:
        return self._phase

    @property
    def failure(self) -> str | None:
        return self._failure

    def is_current(self, child_id: str, incarnation: int) -> bool:
        child = self._children.get(child_id)
        return child is not None and child.incarnation == incarnation and child.alive

    def exit_expected(self, child_id: str) -> bool:
        """Whether the child was asked to stop or its service already ended."""
        child = self._children[child_id]
        return child.stop_planned or child.outcome is not None

    def restarts_of(self, child_id: str) -> int:
        return max(0, self._children[child_id].spawns - 1)

    def next_timer(self) -> float | None:
        times = [t for c in self._order for t in (c.restart_at, c.kill_at) if t is not None]
        if self._plan_timer is not None:
            times.append(self._plan_timer)
        return min(times, default=None)

    def snapshot(self, now: float) -> TreeStatus:
        return TreeStatus(phase=self._phase, failure=self._failure, children=tuple(
            ChildStatus(
                name=c.spec.id, state=c.state, pid=c.pid, restarts=max(0, c.spawns - 1),
                uptime_s=(now - c.started_at) if c.started_at is not None and c.alive else None,
                stats=dict(c.stats), last_error=c.last_error,
            )
            for c in self._order
        ))

    # -- commands --------------------------------------------------------------------------

    def start(self, now: float) -> list[Effect]:
        if self._phase != "idle":
            raise SupervisorError(f"tree already {self._phase}")
        self._phase = "starting"
        self._plan.extend(_Start(c.spec.id) for c in self._order)
        return self._advance(now)

    def stop(self, now: float) -> list[Effect]:
        """Stop every child in reverse order, then emit :class:`TreeStopped`."""
        if self._phase in ("stopped", "failed"):
            return [TreeStopped(failure=self._failure)]
        if self._phase == "stopping":
            return []
        return self._wind_down(None, now)

    def restart(self, child_id: str, now: float) -> list[Effect]:
        """Operator-requested restart: stop then start; not counted toward intensity."""
        if child_id not in self._children:
            raise SupervisorError(f"no child named {child_id!r}; children: "
                                  f"{', '.join(c.spec.id for c in self._order)}")
        if self._phase in ("idle", "stopping", "stopped", "failed"):
            raise SupervisorError(f"cannot restart {child_id!r}: tree is {self._phase}")
        self._plan.extend((_Stop(child_id), _Start(child_id)))
        return self._advance(now)

    # -- events ----------------------------------------------------------------------------

    def spawned(self, child_id: str, incarnation: int, pid: int) -> None:
        if self.is_current(child_id, incarnation):
            self._children[child_id].pid = pid

    def stats(self, child_id: str, incarnation: int, stats: dict[str, Any]) -> None:
        if self.is_current(child_id, incarnation):
            self._children[child_id].stats = stats

    def ready(self, child_id: str, incarnation: int, now: float) -> list[Effect]:
        if not self.is_current(child_id, incarnation):
            return []
        child = self._children[child_id]
        if child.state == "starting":
            child.state = "running"
        if self._current == _Start(child_id):
            self._current = None
        return self._advance(now)

    def finished(self, child_id: str, incarnation: int, error: str | None,
                 now: float) -> list[Effect]:
        """The service's ``main`` ended (``error`` is None for a normal return)."""
        if not self.is_current(child_id, incarnation):
            return []
        child = self._children[child_id]
        child.outcome = error or ""
        if error:
            child.last_error = error
        child.state = "stopping"
        if child.kill_at is None:
            child.kill_at = now + RELEASE_GRACE_S
        return [Release(child_id=child_id, incarnation=incarnation)]

    def exited(self, child_id: str, incarnation: int, now: float) -> list[Effect]:
        """The child's process is gone."""
        if not self.is_current(child_id, incarnation):
            return []
        child = self._children[child_id]
        abnormal = child.outcome != ""
        if child.outcome is None:
            child.last_error = "process exited without its service finishing (killed?)"
        planned = child.stop_planned
        child.pid = None
        child.kill_at = None
        child.stop_planned = False
        child.outcome = None
        step_done = self._current in (_Start(child_id), _Stop(child_id))
        if step_done:
            self._current = None

        if planned or self._phase in ("stopping", "stopped", "failed"):
            pending_start = _Start(child_id) in self._plan and self._phase != "stopping"
            child.state = "restarting" if pending_start else "stopped"
            return self._advance(now)

        restart = child.spec.restart
        if restart == "temporary" or (restart == "transient" and not abnormal):
            child.state = "failed" if abnormal else "stopped"
            return self._advance(now)

        self._restart_times.append(now)
        _prune(self._restart_times, now - self.spec.period_s)
        if len(self._restart_times) > self.spec.intensity:
            child.state = "failed"
            cause = (child.last_error or "").strip().splitlines()[-1:] or ["exited"]
            reason = (f"{child_id} failed ({cause[0]}); {len(self._restart_times)} restarts "
                      f"within {self.spec.period_s:g}s exceed the intensity of "
                      f"{self.spec.intensity}")
            return self._wind_down(reason, now)

        child.recent_restarts.append(now)
        _prune(child.recent_restarts, now - self.spec.period_s)
        delay = self.spec.backoff(len(child.recent_restarts))
        child.state = "restarting"
        if self.spec.strategy == "one_for_one":
            if step_done:
                # It failed while the plan waited for it: retry that step after the backoff.
                self._plan.extendleft((_Start(child_id), _Delay(delay)))
            else:
                child.restart_at = now + delay
            return self._advance(now)
        first = 0 if self.spec.strategy == "one_for_all" else child.index
        return self._group_restart(first, delay, now)

    def handle_timer(self, now: float) -> list[Effect]:
        effects: list[Effect] = []
        for child in self._order:
            if child.kill_at is not None and child.kill_at <= now:
                child.kill_at = None
                effects.append(Kill(child_id=child.spec.id, incarnation=child.incarnation,
                                    pid=child.pid))
            if child.restart_at is not None and child.restart_at <= now:
                child.restart_at = None
                if child.state == "restarting" and self._phase in ("starting", "running"):
                    effects.append(self._spawn(child, now))
        if self._plan_timer is not None and self._plan_timer <= now:
            self._plan_timer = None
            if isinstance(self._current, _Delay):
                self._current = None
        effects.extend(self._advance(now))
        return effects

    # -- internals -------------------------------------------------------------------------

    def _spawn(self, child: _Child, now: float) -> Spawn:
        child.incarnation += 1
        child.spawns += 1
        child.state = "starting"
        child.pid = None
        child.started_at = now
        child.outcome = None
        child.stop_planned = False
        child.restart_at = None
        child.kill_at = None
        child.stats = {}
        return Spawn(child_id=child.spec.id, incarnation=child.incarnation)

    def _request_stop(self, child: _Child, now: float) -> list[Effect]:
        child.stop_planned = True
        if child.state == "stopping":
            return []  # already asked, or its service already finished
        child.state = "stopping"
        child.kill_at = now + child.spec.shutdown_s + KILL_MARGIN_S
        return [RequestStop(child_id=child.spec.id, incarnation=child.incarnation,
                            grace_s=child.spec.shutdown_s)]

    def _wind_down(self, failure: str | None, now: float) -> list[Effect]:
        self._phase = "stopping"
        self._failure = failure
        for child in self._order:
            child.restart_at = None
        self._plan_timer = None
        self._current = None
        self._group_first = None
        self._plan = deque([*(_Stop(c.spec.id) for c in reversed(self._order)),
                            _Finish(failure)])
        return self._advance(now)

    def _group_restart(self, first: int, delay: float, now: float) -> list[Effect]:
        # A group restart already under way from an earlier child covers this one too.
        if self._group_first is not None:
            first = min(first, self._group_first)
        self._group_first = first
        affected = self._order[first:]
        for child in affected:
            child.restart_at = None
            if not child.alive:
                child.state = "restarting"
        kept = [s for s in self._plan if _step_index(self, s) < first]
        if self._current is not None and _step_index(self, self._current) >= first:
            self._current = None
            self._plan_timer = None
        self._plan = deque([*kept,
                            *(_Stop(c.spec.id) for c in reversed(affected)),
                            _Delay(delay),
                            *(_Start(c.spec.id) for c in affected)])
        return self._advance(now)

    def _advance(self, now: float) -> list[Effect]:
        effects: list[Effect] = []
        while self._current is None and self._plan:
            step = self._plan.popleft()
            if isinstance(step, _Start):
                child = self._children[step.child_id]
                if child.state == "running":
                    continue
                if child.state != "starting":
                    effects.append(self._spawn(child, now))
                self._current = step
            elif isinstance(step, _Stop):
                child = self._children[step.child_id]
                if child.alive:
                    effects.extend(self._request_stop(child, now))
                    self._current = step
                else:
                    child.restart_at = None
                    if child.state == "restarting" and self._phase == "stopping":
                        child.state = "stopped"
            elif isinstance(step, _Delay):
                if step.seconds > 0:
                    self._plan_timer = now + step.seconds
                    self._current = step
            else:
                self._phase = "failed" if step.failure else "stopped"
                effects.append(TreeStopped(failure=step.failure))
        if self._current is None and not self._plan:
            self._group_first = None
            if self._phase == "starting":
                self._phase = "running"
        return effects


def _prune(times: deque[float], horizon: float) -> None:
    while times and times[0] <= horizon:
        times.popleft()


def _step_index(core: SupervisorCore, step: _Step) -> int:
    if isinstance(step, _Start | _Stop):
        return core._children[step.child_id].index
    return -1 if isinstance(step, _Finish) else len(core._order)
