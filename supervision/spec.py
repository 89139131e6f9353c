"""The supervision tree as data: what to run, how to restart it, when to give up.

Semantics follow Erlang/OTP supervisors:

* ``restart``: ``permanent`` children are always restarted, ``transient`` ones only after an
  abnormal exit (``main`` raised or the process died), ``temporary`` ones never.
* ``strategy``: on a child's failure, ``one_for_one`` restarts that child only,
  ``one_for_all`` stops the others (in reverse start order) and restarts all of them,
  ``rest_for_one`` stops and restarts the children started after the failed one too.
* ``intensity``/``period_s``: more than ``intensity`` restarts within ``period_s`` seconds and
  the supervisor gives up: it stops every child and escalates.
* Restarts wait ``backoff_initial_s * 2**(n-1)`` (capped at ``backoff_max_s``) where ``n``
  counts the failed child's restarts inside the current period.

Children start one after the other, in list order: a child starts once the previous one has
called ``ready()``.  They stop in reverse order.  Specs are plain frozen data so that they can
be pickled to the supervisor process and compared in tests.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal

Restart = Literal["permanent", "transient", "temporary"]
Strategy = Literal["one_for_one", "one_for_all", "rest_for_one"]

RESTARTS: tuple[Restart, ...] = ("permanent", "transient", "temporary")
STRATEGIES: tuple[Strategy, ...] = ("one_for_one", "one_for_all", "rest_for_one")

# Ids become log file names and CLI arguments: keep them boring.
_ID = re.compile(r"^[a-z][a-z0-9_-]{0,39}$")
_START = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")


class SpecError(ValueError):
    """A supervision spec is malformed; the message names the child and the field."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ChildSpec:
    """One supervised service process."""

    id: str
    #: ``"package.module:function"`` naming ``async def main(ctx: ServiceContext) -> None``
    start: str
    #: service-specific arguments, available as ``ctx.args`` (must be picklable)
    args: Mapping[str, Any] = field(default_factory=dict)
    restart: Restart = "permanent"
    #: how long the service may drain after ``ctx.stopping`` is set before it is cancelled;
    #: the process is killed if it is still alive a little later
    shutdown_s: float = 5.0

    def __post_init__(self) -> None:
        where = f"child {self.id!r}"
        if not isinstance(self.id, str) or not _ID.match(self.id):
            raise SpecError(f"{where}: id must match {_ID.pattern}")
        if not isinstance(self.start, str) or not _START.match(self.start):
            raise SpecError(f"{where}: start must be 'module:function', got {self.start!r}")
        if self.restart not in RESTARTS:
            raise SpecError(f"{where}: restart must be one of {RESTARTS}, got {self.restart!r}")
        if not isinstance(self.shutdown_s, int | float) or self.shutdown_s < 0:
            raise SpecError(f"{where}: shutdown_s must be a number >= 0, got {self.shutdown_s!r}")
        if not isinstance(self.args, Mapping):
            raise SpecError(f"{where}: args must be a mapping, got {type(self.args).__name__}")
        # A private copy: callers may not mutate a spec behind the supervisor's back.
        object.__setattr__(self, "args", MappingProxyType(dict(self.args)))

    def __getstate__(self) -> dict[str, Any]:
        # MappingProxyType does not pickle; the supervisor runs in another process.
        return {"id": self.id, "start": self.start, "args": dict(self.args),
                "restart": self.restart, "shutdown_s": self.shutdown_s}

    def __setstate__(self, state: dict[str, Any]) -> None:
        for name in ("id", "start", "restart", "shutdown_s"):
            object.__setattr__(self, name, state[name])
        object.__setattr__(self, "args", MappingProxyType(dict(state["args"])))


@dataclass(frozen=True, slots=True, kw_only=True)
class SupervisorSpec:
    """A supervisor and its ordered children."""

    children: tuple[ChildSpec, ...]
    strategy: Strategy = "one_for_one"
    intensity: int = 5
    period_s: float = 10.0
    backoff_initial_s: float = 0.05
    backoff_max_s: float = 5.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "children", tuple(self.children))
        if self.strategy not in STRATEGIES:
            raise SpecError(f"supervisor: strategy must be one of {STRATEGIES}, "
                            f"got {self.strategy!r}")
        if not isinstance(self.intensity, int) or self.intensity < 0:
            raise SpecError(f"supervisor: intensity must be an int >= 0, got {self.intensity!r}")
        for name in ("period_s", "backoff_initial_s", "backoff_max_s"):
            value = getattr(self, name)
            if not isinstance(value, int | float) or value < 0:
                raise SpecError(f"supervisor: {name} must be a number >= 0, got {value!r}")
        if self.period_s <= 0:
            raise SpecError("supervisor: period_s must be > 0")
        if self.backoff_max_s < self.backoff_initial_s:
            raise SpecError("supervisor: backoff_max_s must be >= backoff_initial_s")
        seen: set[str] = set()
        for child in self.children:
            if not isinstance(child, ChildSpec):
                raise SpecError(f"supervisor: children must be ChildSpec, got {child!r}")
            if child.id in seen:
                raise SpecError(f"supervisor: duplicate child id {child.id!r}")
            seen.add(child.id)

    def child(self, child_id: str) -> ChildSpec:
        for child in self.children:
            if child.id == child_id:
                return child
        raise KeyError(child_id)

    def index(self, child_id: str) -> int:
        for i, child in enumerate(self.children):
            if child.id == child_id:
                return i
        raise KeyError(child_id)

    def backoff(self, recent_restarts: int) -> float:
        """Delay before the ``recent_restarts``-th restart of a child within the period."""
        if recent_restarts <= 0:
            return 0.0
        delay: float = self.backoff_initial_s * 2 ** min(recent_restarts - 1, 30)
        return float(min(delay, self.backoff_max_s))
