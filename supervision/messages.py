"""Control messages exchanged over Thespian (pickled; supervision traffic only).

Between the operator (CLI) and the root supervisor, and between the root supervisor and the
processes hosting each service.  Every message about a child names it and its incarnation.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from supervision.policy import ChildStatus, TreePhase
from supervision.spec import ChildSpec, SupervisorSpec

# -- operator -> root supervisor -------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class StartTree:
    spec: SupervisorSpec
    data_dir: Path
    config_path: Path
    console: bool = False
    log_level: str = "info"
    #: when set, the tree stops and the actor system shuts down once this process is gone
    #: (a foreground ``contactor up`` killed with SIGKILL)
    owner_pid: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class StatusRequest:
    pass


@dataclass(frozen=True, slots=True, kw_only=True)
class RestartChild:
    name: str


@dataclass(frozen=True, slots=True, kw_only=True)
class StopTree:
    pass


# -- root supervisor -> operator -------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class StatusReply:
    phase: TreePhase
    failure: str | None
    children: tuple[ChildStatus, ...]
    supervisor_pid: int
    admin_pid: int
    started_at: float  # wall clock, seconds since the epoch


@dataclass(frozen=True, slots=True, kw_only=True)
class CommandReply:
    ok: bool
    error: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class TreeStoppedReply:
    failure: str | None


# -- root supervisor <-> service host --------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class StartService:
    child: ChildSpec
    incarnation: int
    restarts: int
    data_dir: Path
    config_path: Path
    parent_pid: int
    console: bool
    log_level: str


@dataclass(frozen=True, slots=True, kw_only=True)
class StopService:
    grace_s: float


@dataclass(frozen=True, slots=True, kw_only=True)
class ServiceStarted:
    child_id: str
    incarnation: int
    pid: int


@dataclass(frozen=True, slots=True, kw_only=True)
class ServiceReady:
    child_id: str
    incarnation: int


@dataclass(frozen=True, slots=True, kw_only=True)
class ServiceStats:
    child_id: str
    incarnation: int
    stats: dict[str, Any]


@dataclass(frozen=True, slots=True, kw_only=True)
class ServiceFinished:
    child_id: str
    incarnation: int
    #: ``None`` when ``main`` returned normally (or drained on request), else the traceback
    error: str | None
