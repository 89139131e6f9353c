"""Operations commands: ``up``, ``down``, ``status``, ``restart``, ``logs``."""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import json
import os
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

from cli.common import (
    EXIT_FAILURE,
    EXIT_NOT_RUNNING,
    EXIT_OK,
    EXIT_USAGE,
    InvalidConfig,
    config_path,
    data_dir,
    error,
    load_config,
    wants_colour,
)
from cli.logs_view import follow, format_line, log_files, recent
from cli.status_view import status_document, status_table
from supervision.control import (
    AlreadyRunning,
    Control,
    ControlError,
    NotRunning,
    is_running,
    last_failure,
    launch,
)
from supervision.messages import StartTree
from supervision.spec import SupervisorSpec

DEFAULT_TREE = "supervision.tree:default_tree"
READY_TIMEOUT_S = 60.0
#: how often a foreground ``up`` checks that its processes still run
WATCH_PERIOD_S = 0.5


def register(subparsers: Any, common: argparse.ArgumentParser) -> None:
    up = subparsers.add_parser("up", parents=[common], help="start the center",
                               description="Validate the config, start the database and "
                               "the supervised processes; print when ready.")
    up.add_argument("--detach", action="store_true",
                    help="return once ready and leave the center running in the background")
    up.add_argument("--no-database", action="store_true",
                    help="do not start the embedded PostgreSQL nor run migrations")
    up.add_argument("--tree", default=DEFAULT_TREE, metavar="MODULE:FUNCTION",
                    help="function (config, data_dir) -> SupervisorSpec building the tree "
                    f"(development and tests; default {DEFAULT_TREE})")
    up.add_argument("--timeout", type=float, default=READY_TIMEOUT_S, metavar="SECONDS",
                    help="give up if not every process runs after this long")
    up.add_argument("--demo", action="store_true",
                    help="after start, feed the center demo traffic: SIPp phones for every "
                    "agent (registered, logged in, ready) and callers dialling the queues")
    up.add_argument("--log-level", default="info",
                    choices=("debug", "info", "warning", "error"))
    up.set_defaults(run=cmd_up)

    down = subparsers.add_parser("down", parents=[common], help="stop the center",
                                 description="Drain and stop every process, shut the "
                                 "actor system down and stop the embedded PostgreSQL.")
    down.add_argument("--timeout", type=float, default=60.0, metavar="SECONDS")
    down.set_defaults(run=cmd_down)

    status = subparsers.add_parser("status", parents=[common], help="show the processes")
    status.add_argument("--json", action="store_true", help="print a JSON document")
    status.set_defaults(run=cmd_status)

    restart = subparsers.add_parser("restart", parents=[common],
                                    help="restart one supervised process")
    restart.add_argument("name", help="process name, as shown by status")
    restart.add_argument("--timeout", type=float, default=30.0, metavar="SECONDS")
    restart.set_defaults(run=cmd_restart)

    logs = subparsers.add_parser("logs", parents=[common], help="show the logs",
                                 description="Show recent log lines of one process (or of "
                                 "all, merged by time); -f follows them.")
    logs.add_argument("name", nargs="?", help="process name (default: all services)")
    logs.add_argument("-f", "--follow", action="store_true", help="keep printing new lines")
    logs.add_argument("-n", "--lines", type=int, default=50, metavar="N")
    logs.add_argument("--json", action="store_true", help="raw JSON lines, even on a terminal")
    logs.set_defaults(run=cmd_logs)


# -- up --------------------------------------------------------------------------------------


def cmd_up(args: argparse.Namespace) -> int:
    started = time.monotonic()
    data, conf_path = data_dir(args), config_path(args)
    try:
        config = load_config(conf_path)
    except InvalidConfig as exc:
        error(f"invalid configuration {conf_path}:\n{exc}")
        return EXIT_USAGE
    except FileNotFoundError as exc:
        error(f"cannot read configuration {conf_path}: {exc}")
        return EXIT_USAGE
    if is_running(data):
        error(f"a center already runs on {data} (contactor status --data {data})")
        return EXIT_FAILURE
    try:
        spec = build_tree(args.tree, config, data)
    except (ValueError, ImportError, AttributeError) as exc:
        error(f"cannot build the supervision tree ({args.tree}): {exc}")
        return EXIT_USAGE
    data.mkdir(parents=True, exist_ok=True)
    if not args.no_database:
        try:
            start_database(config, data)
        except Exception as exc:
            error(f"the database did not start: {exc}")
            return EXIT_FAILURE
    foreground_tty = not args.detach and sys.stderr.isatty()
    start = StartTree(spec=spec, data_dir=data, config_path=conf_path,
                      console=foreground_tty, log_level=args.log_level,
                      owner_pid=None if args.detach else os.getpid())
    stop_requested = _stop_on_signals()
    try:
        launch(data, start, stderr_inherit=foreground_tty)
        with Control.attach(data) as control:
            status = control.wait_running(args.timeout)
    except AlreadyRunning as exc:  # another `up` won the race: leave its center alone
        error(str(exc))
        return EXIT_FAILURE
    except ControlError as exc:
        error(f"the center did not start: {exc}")
        _teardown(data, with_database=not args.no_database)
        return EXIT_FAILURE
    print(f"contactor: center ready in {time.monotonic() - started:.2f}s "
          f"({len(status.children)} processes, data {data})", flush=True)
    if args.detach:
        if args.demo:
            error("--demo runs in the foreground (the demo traffic stops with it)")
        return EXIT_OK
    feeder = _start_demo(args, config) if args.demo else None
    print("contactor: running in the foreground; Ctrl-C stops it", flush=True)
    try:
        return _watch(data, stop_requested, with_database=not args.no_database)
    finally:
        if feeder is not None:
            feeder.stop()


def _start_demo(args: argparse.Namespace, config: Any) -> Any:
    """Demo traffic (``sim.demo``): phones, agent logins through the gateway, callers."""
    from actors.agent.messages import ForceLogout, GetAgent, Login, Ready
    from cli.center_client import connect
    from sim.demo import DemoFeeder

    client = connect(args)

    def login(agent: str, phone: str) -> None:
        state = client.request(f"agent/{agent}", GetAgent())
        if getattr(state, "status", "logged_out") != "logged_out":
            # left over from a previous run whose calls are gone: start the demo clean
            client.request(f"agent/{agent}", ForceLogout(reason="demo restart"))
        client.request(f"agent/{agent}", Login(phone_uri=phone))
        client.request(f"agent/{agent}", Ready())

    feeder = DemoFeeder(config=config, login=login,
                        say=lambda text: print(f"contactor: {text}", flush=True))
    try:
        feeder.start()
    except Exception as exc:
        error(f"demo traffic did not start: {exc}")
        feeder.stop()
        return None
    return feeder


def build_tree(tree: str, config: Any, data: Path) -> SupervisorSpec:
    module_name, _, attr = tree.partition(":")
    factory = getattr(importlib.import_module(module_name), attr)
    spec = factory(config, data)
    if not isinstance(spec, SupervisorSpec):
        raise TypeError(f"{tree} returned {type(spec).__name__}, not a SupervisorSpec")
    return spec


def start_database(config: Any, data: Path) -> str | None:
    """Start the embedded PostgreSQL (unless a URL is configured) and migrate; its URL."""
    if importlib.util.find_spec("store.db") is None:
        return None
    from store.db import database_url
    from store.migrations import apply_migrations

    url = database_url(config.store.url, data)
    apply_migrations(url)
    return url


def stop_database(data: Path) -> bool:
    if importlib.util.find_spec("store.embedded") is None or not (data / "pg").exists():
        return False
    from store.embedded import stop_embedded

    return stop_embedded(data)


def database_status(data: Path) -> dict[str, Any] | None:
    if importlib.util.find_spec("store.embedded") is None or not (data / "pg").exists():
        return None
    from store.embedded import embedded_status

    running = embedded_status(data)
    return None if running is None else {"pid": running.pid, "port": running.port}


def _stop_on_signals() -> threading.Event:
    stop = threading.Event()

    def on_signal(_signum: int, _frame: Any) -> None:
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    return stop


def _watch(data: Path, stop_requested: threading.Event, *, with_database: bool) -> int:
    """Foreground ``up``: stay until a signal (then stop everything) or the tree ends."""
    phase = "gone"
    try:
        with Control.attach(data) as control:
            while not stop_requested.wait(WATCH_PERIOD_S):
                phase = control.status().phase
                if phase in ("failed", "stopped"):
                    break
    except ControlError:
        phase = "gone"
    if not stop_requested.is_set():
        failure = last_failure(data)
        if failure is None and not is_running(data):
            print("contactor: the center was stopped (contactor down)", flush=True)
            return EXIT_OK
        error(f"the center stopped on its own: {failure or phase}")
        _teardown(data, with_database=with_database)
        return EXIT_FAILURE
    print("contactor: stopping", flush=True)
    failure = _teardown(data, with_database=with_database)
    print("contactor: stopped", flush=True)
    return EXIT_FAILURE if failure else EXIT_OK


def _teardown(data: Path, *, with_database: bool) -> str | None:
    failure: str | None = None
    try:
        with Control.attach(data) as control:
            failure = control.shutdown()
    except NotRunning:
        pass
    if with_database:
        try:
            stop_database(data)
        except Exception as exc:
            error(f"could not stop the embedded PostgreSQL: {exc}")
    return failure


# -- down, status, restart, logs ---------------------------------------------------------------


def cmd_down(args: argparse.Namespace) -> int:
    data = data_dir(args)
    try:
        with Control.attach(data) as control:
            failure = control.shutdown(args.timeout)
        print(f"contactor: stopped the center on {data}"
              + (f" (it had failed: {failure})" if failure else ""))
    except NotRunning as exc:
        print(f"contactor: {exc}")
    try:
        if stop_database(data):
            print("contactor: stopped the embedded PostgreSQL")
    except Exception as exc:
        error(f"could not stop the embedded PostgreSQL: {exc}")
        return EXIT_FAILURE
    return EXIT_OK


def cmd_status(args: argparse.Namespace) -> int:
    data = data_dir(args)
    try:
        with Control.attach(data) as control:
            status = control.status()
            info = control.info
    except NotRunning as exc:
        failure = last_failure(data)
        error(str(exc) + (f"\nlast failure: {failure}" if failure else ""))
        return EXIT_NOT_RUNNING
    doc = status_document(data, info, status, database_status(data))
    if args.json:
        print(json.dumps(doc, indent=2, default=str))
    else:
        print(status_table(doc, wants_colour(sys.stdout)))
    return EXIT_OK if status.phase in ("running", "starting") else EXIT_FAILURE


def cmd_restart(args: argparse.Namespace) -> int:
    data = data_dir(args)
    try:
        with Control.attach(data) as control:
            before = _pid_of(control.status(), args.name)
            control.restart(args.name)
            deadline = time.monotonic() + args.timeout
            while time.monotonic() < deadline:
                child = next(c for c in control.status().children if c.name == args.name)
                if child.state == "running" and child.pid != before:
                    print(f"contactor: restarted {args.name} (pid {before} -> {child.pid})")
                    return EXIT_OK
                time.sleep(0.05)
            error(f"{args.name} is not running again after {args.timeout:g}s")
            return EXIT_FAILURE
    except NotRunning as exc:
        error(str(exc))
        return EXIT_NOT_RUNNING
    except ControlError as exc:
        error(str(exc))
        return EXIT_USAGE


def _pid_of(status: Any, name: str) -> int | None:
    for child in status.children:
        if child.name == name:
            pid: int | None = child.pid
            return pid
    return None


def cmd_logs(args: argparse.Namespace) -> int:
    log_dir = data_dir(args) / "logs"
    colour = wants_colour(sys.stdout)
    pretty = sys.stdout.isatty() and not args.json
    try:
        files = log_files(log_dir, args.name)
    except FileNotFoundError as exc:
        error(str(exc))
        return EXIT_USAGE
    try:
        for line in recent(files, args.lines):
            print(format_line(line, colour) if pretty else line)
        sys.stdout.flush()
        if args.follow:
            for line in follow(lambda: log_files(log_dir, args.name)):
                print(format_line(line, colour) if pretty else line, flush=True)
    except BrokenPipeError:
        pass
    return EXIT_OK
