"""The Thespian actor that hosts one service in its own process.

Its main thread answers the supervisor (start, stop, stats ticks); the service itself runs
on an event loop thread (:class:`supervision.service.ServiceRunner`), which wakes this
actor through a pipe watched with ``ThespianWatch`` when it becomes ready or ends.
"""

from __future__ import annotations

import os
import traceback
from datetime import timedelta
from typing import Any

from thespian.actors import (
    Actor,
    ActorAddress,
    ActorExitRequest,
    ThespianWatch,
    WakeupMessage,
    WatchMessage,
)

from supervision.lifeline import die_with_parent, set_process_name
from supervision.logs import configure_logging
from supervision.messages import (
    ServiceFinished,
    ServiceReady,
    ServiceStarted,
    ServiceStats,
    StartService,
    StopService,
)
from supervision.service import ServiceRunner, load_entry, snapshot_stats

STATS_PERIOD_S = 1.0
#: if the supervisor does not release a finished service, the process exits by itself
SELF_EXIT_AFTER_S = 3.0


class ServiceHost(Actor):  # type: ignore[misc]
    def __init__(self) -> None:
        super().__init__()
        self._start: StartService | None = None
        self._parent: ActorAddress | None = None
        self._runner: ServiceRunner | None = None
        self._ready_sent = False
        self._finished_sent = False
        self._log: Any = None

    def receiveMessage(self, msg: Any, sender: ActorAddress) -> ThespianWatch | None:
        try:
            self._handle(msg, sender)
        except Exception:
            # Thespian would retry the message and then drop it; tell the supervisor instead.
            self._finish(traceback.format_exc())
        return self._watch()

    def _watch(self) -> ThespianWatch | None:
        runner = self._runner
        if runner is None or self._finished_sent:
            return None
        return ThespianWatch([runner.wake_fd])

    def _handle(self, msg: Any, sender: ActorAddress) -> None:
        if isinstance(msg, StartService):
            self._on_start(msg, sender)
        elif isinstance(msg, WatchMessage):
            self._on_wake()
        elif isinstance(msg, StopService):
            if self._runner is not None:
                self._runner.request_stop(msg.grace_s)
            elif self._start is not None:
                self._finish(None)
        elif isinstance(msg, WakeupMessage):
            self._on_tick(msg.payload)
        elif isinstance(msg, ActorExitRequest):
            self._on_exit()

    def _on_start(self, msg: StartService, sender: ActorAddress) -> None:
        if self._start is not None:
            return
        die_with_parent(msg.parent_pid)
        self._start, self._parent = msg, sender
        child = msg.child
        set_process_name(f"ctr:{child.id}")
        self.send(sender, ServiceStarted(child_id=child.id, incarnation=msg.incarnation,
                                         pid=os.getpid()))
        self._log = configure_logging(child.id, msg.data_dir / "logs", console=msg.console,
                                      level=msg.log_level, incarnation=msg.incarnation)
        self._log.info("service.starting", start=child.start, restarts=msg.restarts)
        main = load_entry(child.start)
        self._runner = ServiceRunner(main, name=child.id, config_path=msg.config_path,
                                     data_dir=msg.data_dir, args=child.args, log=self._log,
                                     restarts=msg.restarts)
        self._runner.start()
        self.wakeupAfter(_seconds(STATS_PERIOD_S), payload="stats")

    def _on_wake(self) -> None:
        runner = self._runner
        if runner is None:
            return
        runner.drain_wakeups()
        if runner.is_ready and not self._ready_sent:
            self._ready_sent = True
            self._send_stats()
            self._tell(ServiceReady)
            self._log.info("service.ready")
        if runner.is_done:
            self._finish(runner.error)

    def _on_tick(self, payload: Any) -> None:
        if payload == "stats":
            if not self._finished_sent:
                self._send_stats()
                self.wakeupAfter(_seconds(STATS_PERIOD_S), payload="stats")
        elif payload == "self-exit":
            self.send(self.myAddress, ActorExitRequest())

    def _on_exit(self) -> None:
        runner = self._runner
        if (runner is not None and not runner.is_done and self._start is not None
                and not runner.stop_and_join(self._start.child.shutdown_s) and self._log):
            self._log.warning("service.abandoned", reason="still running at exit")
        if runner is not None:
            runner.close()
            self._runner = None
        if self._log is not None:
            self._log.info("service.exit")

    def _finish(self, error: str | None) -> None:
        if self._finished_sent or self._start is None:
            return
        self._finished_sent = True
        if self._log is not None:
            self._log.info("service.finished", error=error.strip().splitlines()[-1]
                           if error else None)
        assert self._parent is not None
        self.send(self._parent, ServiceFinished(child_id=self._start.child.id,
                                                incarnation=self._start.incarnation,
                                                error=error))
        self.wakeupAfter(_seconds(SELF_EXIT_AFTER_S), payload="self-exit")

    def _send_stats(self) -> None:
        if self._runner is None:
            return
        self._tell(ServiceStats, stats=snapshot_stats(self._runner.stats))

    def _tell(self, cls: Any, **fields: Any) -> None:
        assert self._start is not None and self._parent is not None
        self.send(self._parent, cls(child_id=self._start.child.id,
                                    incarnation=self._start.incarnation, **fields))


def _seconds(value: float) -> timedelta:
    return timedelta(seconds=value)
