"""The root supervisor: a Thespian actor driving :class:`supervision.policy.SupervisorCore`.

It creates one :class:`supervision.host.ServiceHost` actor (one OS process) per child, turns
Thespian events (``ChildActorExited``, wakeups, messages from the hosts) into core events
and performs the core's effects.  Thespian itself never restarts anything.

When the core gives up (restart intensity exceeded) the failure is written to
``<data>/run/failure.json`` and the whole actor system is shut down, like an OTP node whose
top supervisor terminates: nothing half-alive stays behind.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import signal
import time
import traceback
from datetime import timedelta
from pathlib import Path
from typing import Any

from thespian.actors import (
    Actor,
    ActorAddress,
    ActorExitRequest,
    ChildActorExited,
    PoisonMessage,
    WakeupMessage,
)

from supervision.host import ServiceHost
from supervision.lifeline import die_with_parent, pid_alive, set_process_name
from supervision.logs import configure_logging
from supervision.messages import (
    CommandReply,
    RestartChild,
    ServiceFinished,
    ServiceReady,
    ServiceStarted,
    ServiceStats,
    StartService,
    StartTree,
    StatusReply,
    StatusRequest,
    StopService,
    StopTree,
    TreeStoppedReply,
)
from supervision.policy import (
    Effect,
    Kill,
    Release,
    RequestStop,
    Spawn,
    SupervisorCore,
    SupervisorError,
    TreeStopped,
)

#: how often the supervisor checks that its parent (the Thespian admin) and owner live
TICK_S = 0.5
FAILURE_FILE = "failure.json"


class RootSupervisor(Actor):  # type: ignore[misc]
    def __init__(self) -> None:
        super().__init__()
        self._parent_pid = os.getppid()
        die_with_parent(self._parent_pid, watchdog=False)  # ticks check instead
        set_process_name("ctr:supervisor")
        self._tree: StartTree | None = None
        self._core: SupervisorCore | None = None
        self._hosts: dict[str, tuple[int, ActorAddress]] = {}
        self._armed: list[float] = []
        self._stop_waiters: list[ActorAddress] = []
        self._shutdown_when_stopped = False
        self._exiting = False
        self._started_at = time.time()
        self._log: Any = None

    # -- dispatch --------------------------------------------------------------------------

    def receiveMessage(self, msg: Any, sender: ActorAddress) -> None:
        if self._exiting:
            return
        try:
            self._dispatch(msg, sender)
        except Exception:
            # Thespian would retry once and then bounce a PoisonMessage; a supervisor must
            # keep going, so log and carry on.
            if self._log is not None:
                self._log.error("supervisor.bug", message=type(msg).__name__,
                                error=traceback.format_exc())

    def _dispatch(self, msg: Any, sender: ActorAddress) -> None:
        now = time.monotonic()
        core = self._core
        if isinstance(msg, StartTree):
            self._on_start(msg, sender, now)
        elif isinstance(msg, ActorExitRequest):
            self._exiting = True  # Thespian now stops every host itself
            if self._log is not None:
                self._log.info("supervisor.exit")
        elif core is None:
            if isinstance(msg, StatusRequest | RestartChild | StopTree):
                self.send(sender, CommandReply(ok=False, error="the tree is not started"))
        elif isinstance(msg, ChildActorExited):
            child_id, incarnation = self._host_of(msg.childAddress)
            if child_id is not None:
                del self._hosts[child_id]
                log = self._log.info if core.exit_expected(child_id) else self._log.warning
                log("child.exited", child=child_id, incarnation=incarnation)
                self._perform(core.exited(child_id, incarnation, now))
        elif isinstance(msg, ServiceStarted):
            core.spawned(msg.child_id, msg.incarnation, msg.pid)
        elif isinstance(msg, ServiceStats):
            core.stats(msg.child_id, msg.incarnation, msg.stats)
        elif isinstance(msg, ServiceReady):
            self._log.info("child.ready", child=msg.child_id, incarnation=msg.incarnation)
            self._perform(core.ready(msg.child_id, msg.incarnation, now))
        elif isinstance(msg, ServiceFinished):
            self._log.info("child.finished", child=msg.child_id, incarnation=msg.incarnation,
                           error=msg.error)
            self._perform(core.finished(msg.child_id, msg.incarnation, msg.error, now))
        elif isinstance(msg, WakeupMessage):
            self._on_wakeup(msg.payload, now)
        elif isinstance(msg, StatusRequest):
            self.send(sender, self._status(now))
        elif isinstance(msg, RestartChild):
            try:
                effects = core.restart(msg.name, now)
            except SupervisorError as exc:
                self.send(sender, CommandReply(ok=False, error=str(exc)))
            else:
                self._log.info("child.restart_requested", child=msg.name)
                self.send(sender, CommandReply(ok=True))
                self._perform(effects)
        elif isinstance(msg, StopTree):
            self._log.info("supervisor.stop_requested")
            self._stop_waiters.append(sender)
            self._perform(core.stop(now))
        elif isinstance(msg, PoisonMessage):
            self._log.warning("supervisor.poison", message=repr(msg.poisonMessage))

    def _on_start(self, msg: StartTree, sender: ActorAddress, now: float) -> None:
        if self._core is not None:
            self.send(sender, CommandReply(ok=False, error="the tree is already started"))
            return
        self._tree = msg
        self._log = configure_logging("supervisor", msg.data_dir / "logs",
                                      console=msg.console, level=msg.log_level)
        self._log.info("supervisor.starting", children=[c.id for c in msg.spec.children],
                       strategy=msg.spec.strategy, admin_pid=self._parent_pid)
        self._core = SupervisorCore(msg.spec)
        self.send(sender, CommandReply(ok=True))
        self.wakeupAfter(timedelta(seconds=TICK_S), payload="tick")
        _preload(msg.spec)
        self._perform(self._core.start(now))

    def _on_wakeup(self, payload: Any, now: float) -> None:
        assert self._core is not None
        if payload == "tick":
            if os.getppid() != self._parent_pid:
                os._exit(70)  # admin gone; PR_SET_PDEATHSIG normally got here first
            owner = self._tree.owner_pid if self._tree else None
            if owner is not None and not pid_alive(owner) and not self._shutdown_when_stopped:
                self._log.warning("supervisor.owner_gone", owner_pid=owner)
                self._shutdown_when_stopped = True
                self._perform(self._core.stop(now))
            self.wakeupAfter(timedelta(seconds=TICK_S), payload="tick")
            return
        if isinstance(payload, tuple) and payload[0] == "policy":
            with contextlib.suppress(ValueError):
                self._armed.remove(payload[1])
            self._perform(self._core.handle_timer(now))

    # -- effects ---------------------------------------------------------------------------

    def _perform(self, effects: list[Effect]) -> None:
        assert self._core is not None and self._tree is not None
        for effect in effects:
            if isinstance(effect, Spawn):
                self._spawn(effect)
            elif isinstance(effect, RequestStop):
                self._send_host(effect.child_id, effect.incarnation,
                                StopService(grace_s=effect.grace_s))
            elif isinstance(effect, Release):
                self._send_host(effect.child_id, effect.incarnation, ActorExitRequest())
            elif isinstance(effect, Kill):
                self._kill(effect)
            elif isinstance(effect, TreeStopped):
                self._tree_stopped(effect.failure)
        self._arm_timer()

    def _spawn(self, effect: Spawn) -> None:
        assert self._core is not None and self._tree is not None
        child = self._core.spec.child(effect.child_id)
        address = self.createActor(ServiceHost)
        self._hosts[child.id] = (effect.incarnation, address)
        restarts = self._core.restarts_of(child.id)
        self._log.info("child.spawning", child=child.id, incarnation=effect.incarnation,
                       restarts=restarts)
        self.send(address, StartService(
            child=child, incarnation=effect.incarnation, restarts=restarts,
            data_dir=self._tree.data_dir, config_path=self._tree.config_path,
            parent_pid=os.getpid(), console=self._tree.console, log_level=self._tree.log_level,
        ))

    def _send_host(self, child_id: str, incarnation: int, msg: Any) -> None:
        host = self._hosts.get(child_id)
        if host is not None and host[0] == incarnation:
            self.send(host[1], msg)

    def _kill(self, effect: Kill) -> None:
        self._log.warning("child.kill", child=effect.child_id, pid=effect.pid,
                          reason="did not exit in time")
        if effect.pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(effect.pid, signal.SIGKILL)
        else:
            self._send_host(effect.child_id, effect.incarnation, ActorExitRequest())

    def _tree_stopped(self, failure: str | None) -> None:
        assert self._tree is not None
        if failure is not None:
            self._log.error("supervisor.escalate", failure=failure)
            _write_failure(self._tree.data_dir, failure)
            self._shutdown_when_stopped = True
        else:
            self._log.info("supervisor.stopped")
        for waiter in self._stop_waiters:
            self.send(waiter, TreeStoppedReply(failure=failure))
        self._stop_waiters.clear()
        if self._shutdown_when_stopped:
            self.actorSystemShutdown()

    def _arm_timer(self) -> None:
        assert self._core is not None
        due = self._core.next_timer()
        if due is None or any(t <= due for t in self._armed):
            return
        self._armed.append(due)
        delay = max(0.0, due - time.monotonic())
        self.wakeupAfter(timedelta(seconds=delay), payload=("policy", due))

    # -- queries ---------------------------------------------------------------------------

    def _host_of(self, address: ActorAddress) -> tuple[str | None, int]:
        for child_id, (incarnation, host) in self._hosts.items():
            if host == address:
                return child_id, incarnation
        return None, 0

    def _status(self, now: float) -> StatusReply:
        assert self._core is not None
        snapshot = self._core.snapshot(now)
        return StatusReply(phase=snapshot.phase, failure=snapshot.failure,
                           children=snapshot.children, supervisor_pid=os.getpid(),
                           admin_pid=self._parent_pid, started_at=self._started_at)


def _write_failure(data_dir: Path, failure: str) -> None:
    run = data_dir / "run"
    run.mkdir(parents=True, exist_ok=True)
    tmp = run / (FAILURE_FILE + ".tmp")
    tmp.write_text(json.dumps({"failure": failure, "at": time.time()}) + "\n")
    os.replace(tmp, run / FAILURE_FILE)


def _preload(spec: Any) -> None:
    """Import every child's entry module here, once: children are forked from this process,
    so they start (and restart after a crash) without paying for numpy, psycopg, the SIP
    core... again. A module that fails to import is left for the child to report."""
    for child in spec.children:
        with contextlib.suppress(Exception):
            importlib.import_module(child.start.partition(":")[0])
