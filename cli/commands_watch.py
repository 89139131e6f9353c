"""``contactor watch``: the supervisor's live view, from broadcasts through the gateway.

A terminal gets the textual app (``l``/``w``/``b`` join the selected help request in listen,
whisper or barge mode); ``--plain`` or a pipe gets the whole picture re-printed each second.
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

from cli.center_client import NoCenter, add_user_options, connect
from cli.common import EXIT_FAILURE, EXIT_NOT_RUNNING, EXIT_OK, EXIT_USAGE, InvalidConfig, error


def register(subparsers: Any, common: argparse.ArgumentParser) -> None:
    p = subparsers.add_parser("watch", parents=[common],
                              help="live queues, agents, calls and help requests")
    add_user_options(p)
    p.add_argument("--plain", action="store_true",
                   help="print plain text each second (default when not a terminal)")
    p.add_argument("--for", dest="duration", type=float, metavar="S",
                   help="stop after S seconds (plain mode)")
    p.add_argument("--as", dest="supervisor", metavar="LOGIN",
                   help="supervisor joining help requests (default: --user, else local-admin)")
    p.set_defaults(run=cmd_watch)


def gateway_source(client: Any) -> Any:
    from stats.liveview import WATCH_TOPICS
    from stats.messages import stats_codec

    client.codec = stats_codec()
    for topic in WATCH_TOPICS:
        client.subscribe(topic)

    def source(timeout: float) -> tuple[str, Any] | None:
        from bus.errors import DecodeError

        try:
            got: tuple[str, Any] | None = client.next_broadcast(timeout)
        except DecodeError:
            return None  # a message of a newer build: skip it
        return got

    return source


def acceptor(client: Any, supervisor: str) -> Any:
    import threading

    from actors.agent.messages import AcceptHelp
    from bus.errors import BusError

    lock = threading.Lock()  # one request at a time on the client's socket

    def accept(agent: str, mode: str) -> str:
        try:
            with lock:
                client.request(f"agent/{agent}",
                               AcceptHelp(supervisor=supervisor, mode=mode))  # type: ignore[arg-type]
        except BusError as exc:
            return f"agent/{agent}: {exc}"
        return f"joined {agent}'s call ({mode})"

    return accept


def cmd_watch(args: argparse.Namespace) -> int:
    from bus.errors import BusError
    from stats.liveview import make_app

    try:
        client = connect(args)
    except NoCenter as exc:
        error(str(exc))
        return EXIT_NOT_RUNNING
    except InvalidConfig as exc:
        error(str(exc))
        return EXIT_USAGE
    except BusError as exc:
        error(str(exc))
        return EXIT_FAILURE
    with client:
        try:
            source = gateway_source(client)
        except BusError as exc:
            error(f"watch: {exc}")
            return EXIT_FAILURE
        if args.plain or not sys.stdout.isatty():
            return _plain(source, args.duration)
        from supervision.composition import LOCAL_ADMIN

        supervisor = args.supervisor or args.user or LOCAL_ADMIN
        make_app(source, acceptor(client, supervisor)).run()
    return EXIT_OK


def _plain(source: Any, duration: float | None) -> int:
    from stats.liveview import WatchModel, render_plain

    model = WatchModel()
    deadline = None if duration is None else time.monotonic() + duration
    next_print = time.monotonic()
    while deadline is None or time.monotonic() < deadline:
        got = source(0.2)
        if got is not None:
            model.apply(got[0], got[1], time.time())
        if time.monotonic() >= next_print:
            print(render_plain(model, time.time()) + "\n", flush=True)
            next_print += 1.0
    print(render_plain(model, time.time()), flush=True)
    return EXIT_OK
