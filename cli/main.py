"""``contactor``: the operator's command line.

Subcommands live in ``cli/commands_<topic>.py`` modules, found at start-up: each defines
``register(subparsers, common)`` and adds its commands with ``parents=[common]`` (so every
command takes ``--data`` and ``--config``) and ``set_defaults(run=<function>)`` where the
function takes the parsed ``argparse.Namespace`` and returns the exit status.  Adding a
command is adding such a module; nothing here changes.

Exit statuses (``cli.common.EXIT_*``): 0 success, 1 failure, 2 bad usage or invalid config,
3 nothing runs on the data directory (``status``/``restart``).
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
from collections.abc import Sequence
from types import ModuleType

import cli
from cli.common import add_common_options

COMMAND_PREFIX = "commands_"


def command_modules() -> list[ModuleType]:
    """Every ``cli.commands_*`` module, in name order."""
    names = sorted(m.name for m in pkgutil.iter_modules(cli.__path__)
                   if m.name.startswith(COMMAND_PREFIX))
    return [importlib.import_module(f"cli.{name}") for name in names]


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    add_common_options(common)
    parser = argparse.ArgumentParser(
        prog="contactor", description="Run and operate a Contactor contact center.")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module in command_modules():
        register = getattr(module, "register", None)
        if register is None:
            raise RuntimeError(f"{module.__name__} defines no register(subparsers, common)")
        register(subparsers, common)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        status: int = args.run(args)
    except KeyboardInterrupt:
        print("contactor: interrupted", file=sys.stderr)
        return 130
    return status


if __name__ == "__main__":
    sys.exit(main())
