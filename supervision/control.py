"""Start, find, query and stop the supervised processes of one data directory.

Layout under ``<data>/run/``: ``center.json`` (admin port, bind address, root supervisor
endpoint, while the processes run) and ``failure.json`` (why the last tree gave up).  Each
data directory gets its own Thespian admin port, so two centers run side by side.

:func:`launch` starts the processes from a fresh ``python -m supervision.boot --data DIR``:
Thespian forks its daemons (admin, logger, supervisor, services) from the process that
creates the actor system, and a dedicated process gives them a clean memory image, their
own stdio (``<data>/logs/daemon.out``) and a command line naming the data directory
(``pgrep -f 'supervision.boot --data /srv/contactor/var'`` lists them all).
:class:`Control` is the operator's handle on running processes.
"""

from __future__ import annotations

import contextlib
import json
import os
import pickle
import signal
import socket
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from supervision import actorsystem
from supervision.lifeline import pid_alive
from supervision.messages import (
    CommandReply,
    RestartChild,
    StartTree,
    StatusReply,
    StatusRequest,
    StopTree,
    TreeStoppedReply,
)

RUN_DIR = "run"
CENTER_FILE = "center.json"
FAILURE_FILE = "failure.json"
DAEMON_OUT = "daemon.out"
_REPO_ROOT = Path(__file__).resolve().parents[1]


class ControlError(RuntimeError):
    """The processes could not be started, reached or stopped; the message says why."""


class NotRunning(ControlError):
    pass


class AlreadyRunning(ControlError):
    pass


@dataclass(frozen=True, slots=True, kw_only=True)
class RunInfo:
    """``<data>/run/center.json``: how to reach the running processes."""

    data_dir: Path
    config_path: Path
    admin_port: int
    bind_host: str
    root_host: str
    root_port: int
    boot_pid: int
    started_at: float

    def to_json(self) -> str:
        fields = asdict(self)
        fields["data_dir"] = str(self.data_dir)
        fields["config_path"] = str(self.config_path)
        return json.dumps(fields, indent=1) + "\n"

    @classmethod
    def from_json(cls, text: str) -> RunInfo:
        raw = json.loads(text)
        raw["data_dir"] = Path(raw["data_dir"])
        raw["config_path"] = Path(raw["config_path"])
        return cls(**raw)


@dataclass(frozen=True, slots=True, kw_only=True)
class BootRequest:
    """What ``python -m supervision.boot`` reads (pickled) from its stdin."""

    start: StartTree
    bind_host: str
    admin_port: int


def run_dir(data_dir: Path) -> Path:
    return Path(data_dir) / RUN_DIR


def read_info(data_dir: Path) -> RunInfo | None:
    path = run_dir(data_dir) / CENTER_FILE
    try:
        return RunInfo.from_json(path.read_text())
    except FileNotFoundError:
        return None
    except (ValueError, TypeError, KeyError) as exc:
        raise ControlError(f"{path} is damaged ({exc}); remove it if nothing runs") from exc


def write_info(info: RunInfo) -> None:
    _write_atomic(run_dir(info.data_dir) / CENTER_FILE, info.to_json())


def last_failure(data_dir: Path) -> str | None:
    try:
        raw = json.loads((run_dir(data_dir) / FAILURE_FILE).read_text())
    except (OSError, ValueError):
        return None
    failure = raw.get("failure") if isinstance(raw, dict) else None
    return str(failure) if failure else None


def is_running(data_dir: Path) -> bool:
    info = read_info(data_dir)
    return info is not None and port_taken(info.bind_host, info.admin_port)


def launch(data_dir: Path, start: StartTree, *,
           bind_host: str = actorsystem.DEFAULT_BIND_HOST, stderr_inherit: bool = False,
           timeout: float = 30.0) -> RunInfo:
    """Start the tree's processes for ``data_dir``; return once the supervisor has the tree.

    Children then start one by one; :meth:`Control.wait_running` waits for them.
    ``stderr_inherit`` leaves the daemons' stderr on ours (a foreground terminal); otherwise
    it goes to ``<data>/logs/daemon.out``.
    """
    data_dir = Path(data_dir).resolve()
    if is_running(data_dir):
        raise AlreadyRunning(f"a center already runs on {data_dir}; "
                             "stop it first (contactor down)")
    for stale in (CENTER_FILE, FAILURE_FILE):
        (run_dir(data_dir) / stale).unlink(missing_ok=True)
    log_dir = data_dir / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    run_dir(data_dir).mkdir(parents=True, exist_ok=True)
    request = BootRequest(start=start, bind_host=bind_host,
                          admin_port=actorsystem.free_port(bind_host))
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(_REPO_ROOT), env.get("PYTHONPATH", "")) if p)
    out_path = log_dir / DAEMON_OUT
    with open(out_path, "ab") as out:
        out.write(f"--- boot {time.strftime('%Y-%m-%dT%H:%M:%S')}\n".encode())
        out.flush()
        proc = subprocess.Popen(
            [sys.executable, "-m", "supervision.boot", "--data", str(data_dir)],
            stdin=subprocess.PIPE, stdout=out, stderr=None if stderr_inherit else out,
            env=env, start_new_session=True,
        )
        try:
            proc.communicate(pickle.dumps(request), timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            raise ControlError(f"starting the processes timed out after {timeout:g}s; "
                               f"see {out_path}") from None
    if proc.returncode != 0:
        raise ControlError(f"starting the processes failed (exit {proc.returncode}):\n"
                           f"{_tail(out_path)}")
    info = read_info(data_dir)
    if info is None:
        raise ControlError(f"the processes started but wrote no {CENTER_FILE}; "
                           f"see {out_path}")
    return info


class Control:
    """An operator's connection to running processes.  Close it (or use ``with``)."""

    def __init__(self, info: RunInfo, system: Any) -> None:
        self.info = info
        self._system = system
        self._root = actorsystem.address_of(info.root_host, info.root_port)

    @classmethod
    def attach(cls, data_dir: Path) -> Control:
        data_dir = Path(data_dir).resolve()
        info = read_info(data_dir)
        if info is None:
            raise NotRunning(f"no center runs on {data_dir} (no {RUN_DIR}/{CENTER_FILE})")
        if not port_taken(info.bind_host, info.admin_port):
            raise NotRunning(f"no center runs on {data_dir} (admin port {info.admin_port} "
                             f"is closed; {RUN_DIR}/{CENTER_FILE} is stale)")
        from thespian.actors import ActorSystem

        actorsystem.install()
        actorsystem.prepare_environment(info.bind_host, data_dir / "logs")
        try:
            system = ActorSystem(actorsystem.SYSTEM_BASE,
                                 actorsystem.capabilities(info.admin_port),
                                 transientUnique=True)
        except Exception as exc:
            raise NotRunning(f"no center answers on {data_dir} (admin port "
                             f"{info.admin_port}: {exc})") from exc
        return cls(info, system)

    def __enter__(self) -> Control:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def close(self) -> None:
        # Thespian has no "disconnect" for an external client; close its socket ourselves.
        transport = getattr(getattr(self._system, "_systemBase", None), "transport", None)
        if transport is not None:
            with contextlib.suppress(Exception):
                transport.close()
        self._system = None

    def _ask(self, msg: Any, timeout: float, expect: type) -> Any:
        if self._system is None:
            raise ControlError("this connection is closed")
        deadline = time.monotonic() + timeout
        while True:
            reply = self._system.ask(self._root, msg, max(0.01, deadline - time.monotonic()))
            if isinstance(reply, CommandReply) and not reply.ok:
                raise ControlError(reply.error or "refused")
            if isinstance(reply, expect):
                return reply
            # A late answer to an earlier ask that timed out: skip it.
            if reply is None or time.monotonic() >= deadline:
                raise NotRunning(
                    f"the supervisor of {self.info.data_dir} did not answer "
                    f"{type(msg).__name__} within {timeout:g}s")

    def status(self, timeout: float = 5.0) -> StatusReply:
        reply: StatusReply = self._ask(StatusRequest(), timeout, StatusReply)
        return reply

    def restart(self, name: str, timeout: float = 5.0) -> None:
        self._ask(RestartChild(name=name), timeout, CommandReply)

    def wait_running(self, timeout: float, poll_s: float = 0.05) -> StatusReply:
        """Poll until every child runs; raise :class:`ControlError` naming the laggards."""
        deadline = time.monotonic() + timeout
        while True:
            status = self.status()
            if status.phase == "running" and all(c.state in ("running", "stopped")
                                                  for c in status.children):
                return status
            if status.phase in ("stopping", "stopped", "failed"):
                raise ControlError(f"the tree is {status.phase}"
                                   + (f": {status.failure}" if status.failure else ""))
            if time.monotonic() >= deadline:
                waiting = ", ".join(f"{c.name} ({c.state})" for c in status.children
                                    if c.state != "running")
                raise ControlError(f"not running after {timeout:g}s: {waiting}")
            time.sleep(poll_s)

    def stop_tree(self, timeout: float = 60.0) -> str | None:
        """Drain and stop every service (reverse order); returns the failure, if any."""
        reply: TreeStoppedReply = self._ask(StopTree(), timeout, TreeStoppedReply)
        return reply.failure

    def shutdown(self, timeout: float = 60.0) -> str | None:
        """``contactor down``: stop the tree, then Thespian, and wait until all are gone."""
        pids: list[int] = []
        failure: str | None = None
        with contextlib.suppress(ControlError):
            status = self.status()
            pids = [status.admin_pid, status.supervisor_pid,
                    *(c.pid for c in status.children if c.pid)]
            failure = self.stop_tree(timeout)
        if self._system is not None:
            with contextlib.suppress(Exception):
                self._system.shutdown()
            self._system = None
        wait_gone(self.info, pids, timeout=15.0)
        (run_dir(self.info.data_dir) / CENTER_FILE).unlink(missing_ok=True)
        return failure


def wait_gone(info: RunInfo, pids: list[int], timeout: float) -> bool:
    """Wait for the admin port to close and ``pids`` to exit; SIGKILL what lingers.

    Returns ``False`` if something had to be killed.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not port_taken(info.bind_host, info.admin_port) and not any(
                pid_alive(p) for p in pids):
            return True
        time.sleep(0.05)
    for pid in pids:  # their children die with them (parent-death signal)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
    return False


def port_taken(host: str, port: int) -> bool:
    """Whether something listens on ``host:port`` (probed by binding, not connecting)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return True
    return False


def _write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def _tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""
