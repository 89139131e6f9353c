"""``contactor agent ...`` (the seed's AgentManager from a terminal) and ``contactor explain``."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from cli.center_client import NoCenter, add_user_options, center_of, connect
from cli.common import EXIT_FAILURE, EXIT_NOT_RUNNING, EXIT_OK, InvalidConfig, error


def register(subparsers: Any, common: argparse.ArgumentParser) -> None:
    agent = subparsers.add_parser("agent", help="log agents in, ready, pause")
    # options go with each action, so `contactor agent ready anna --data DIR` works
    opts = argparse.ArgumentParser(add_help=False, parents=[common])
    add_user_options(opts)
    sub = agent.add_subparsers(dest="agent_command", required=True, metavar="ACTION")
    login = sub.add_parser("login", parents=[opts], help="bind the agent to a registered phone")
    login.add_argument("login")
    login.add_argument("--phone", required=True, metavar="URI", help="e.g. sip:1001@127.0.0.1")
    sub.add_parser("ready", parents=[opts], help="ready for calls").add_argument("login")
    pause = sub.add_parser("pause", parents=[opts], help="not ready, with a reason code")
    pause.add_argument("login")
    pause.add_argument("--reason", required=True)
    sub.add_parser("logout", parents=[opts], help="log out").add_argument("login")
    show = sub.add_parser("show", parents=[opts], help="the agent's state")
    show.add_argument("login")
    show.add_argument("--json", action="store_true")
    agent.set_defaults(run=cmd_agent)

    explain = subparsers.add_parser("explain", parents=[common],
                                    help="why a call went where it went")
    explain.add_argument("call_id")
    explain.set_defaults(run=cmd_explain)


def _command(args: argparse.Namespace) -> Any:
    from actors.agent.messages import GetAgent, Login, Logout, Pause, Ready

    action = args.agent_command
    if action == "login":
        return Login(phone_uri=args.phone)
    if action == "ready":
        return Ready()
    if action == "pause":
        return Pause(reason=args.reason)
    if action == "logout":
        return Logout()
    return GetAgent()


def cmd_agent(args: argparse.Namespace) -> int:
    from bus.errors import BusError
    from bus.message import as_dict

    try:
        with connect(args) as client:
            state = client.request(f"agent/{args.login}", _command(args))
    except NoCenter as exc:
        error(str(exc))
        return EXIT_NOT_RUNNING
    except InvalidConfig as exc:
        error(str(exc))
        return 2
    except BusError as exc:
        error(f"agent/{args.login}: {exc}")
        return EXIT_FAILURE
    view = as_dict(state)
    if getattr(args, "json", False):
        json.dump(view, sys.stdout, indent=2)
        print()
    else:
        reason = f" ({view['reason']})" if view.get("reason") else ""
        call = f", call {view['call_id']}" if view.get("call_id") else ""
        phone = f", phone {view['phone_uri']}" if view.get("phone_uri") else ""
        print(f"agent/{view['login']}: {view['status']}{reason}{phone}{call}")
    return EXIT_OK


def cmd_explain(args: argparse.Namespace) -> int:
    from actors.matcher.explain import explain
    from bus.catalogue import default_codec
    from bus.errors import DecodeError
    from bus.message import from_dict
    from store.db import open_pool
    from store.embedded import embedded_status
    from store.journal import JournalReader

    try:
        center = center_of(args)
    except InvalidConfig as exc:
        error(str(exc))
        return 2
    url = center.config.store.url
    if not url:
        running = embedded_status(center.data_dir)
        if running is None:
            error(f"no database runs for {center.data_dir}; start the center first")
            return EXIT_NOT_RUNNING
        url = running.url
    catalogue = default_codec().catalogue
    with open_pool(url, min_size=1, max_size=1) as pool:
        records = JournalReader(pool).read_call(args.call_id)
    events = []
    for r in records:
        if r.kind in catalogue:
            try:
                events.append(from_dict(catalogue.get(r.kind), r.payload))
            except DecodeError:
                continue  # written by another version: explain what can be read
    print(explain(args.call_id, events))
    return EXIT_OK
