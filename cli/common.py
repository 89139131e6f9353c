"""Options every command shares, and small helpers for command modules."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any, TextIO

#: exit statuses shared by every command
EXIT_OK, EXIT_FAILURE, EXIT_USAGE, EXIT_NOT_RUNNING = 0, 1, 2, 3
DEFAULT_DATA = "var"
CONFIG_NAME = "contactor.toml"


def default_config_path() -> Path:
    """``conf/contactor.toml`` shipped with the ``conf`` package (the repo's in a checkout)."""
    import conf

    return Path(conf.__file__).resolve().parent / CONFIG_NAME


def add_common_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data", type=Path, default=None, metavar="DIR",
        help=f"data directory (default: ./{DEFAULT_DATA} under the working directory)")
    parser.add_argument(
        "--config", type=Path, default=None, metavar="FILE",
        help=f"configuration file (default: the package's conf/{CONFIG_NAME})")


def data_dir(args: argparse.Namespace) -> Path:
    chosen: Path | None = args.data
    return (chosen if chosen is not None else Path.cwd() / DEFAULT_DATA).resolve()


def config_path(args: argparse.Namespace) -> Path:
    chosen: Path | None = args.config
    return (chosen if chosen is not None else default_config_path()).resolve()


class InvalidConfig(Exception):
    """Raised by :func:`load_config` with the loader's message (exit status 2)."""


def load_config(path: Path) -> Any:
    """The validated config, or :class:`InvalidConfig` carrying every problem found."""
    from conf.load import load_config as load
    from conf.schema import ConfigError

    try:
        return load(path)
    except ConfigError as exc:
        raise InvalidConfig(str(exc)) from exc


def error(message: str) -> None:
    print(f"contactor: {message}", file=sys.stderr)


def wants_colour(stream: TextIO) -> bool:
    """Colours only on a terminal, and never when NO_COLOR is set (no-color.org)."""
    return stream.isatty() and "NO_COLOR" not in os.environ and os.environ.get("TERM") != "dumb"


_STYLES = {"green": "32", "yellow": "33", "red": "31", "dim": "2", "bold": "1", "cyan": "36"}


def paint(text: str, style: str | None, enabled: bool) -> str:
    if not enabled or style is None:
        return text
    return f"\033[{_STYLES[style]}m{text}\033[0m"
