"""IVR commands for technologists: ``ivr check`` validates schemes, ``ivr draw`` renders one
as a diagram, ``ivr log`` prints what one call went through (its debug log)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from cli.common import (
    EXIT_FAILURE,
    EXIT_OK,
    EXIT_USAGE,
    InvalidConfig,
    config_path,
    data_dir,
    error,
    load_config,
)


def register(subparsers: Any, common: argparse.ArgumentParser) -> None:
    ivr = subparsers.add_parser("ivr", help="check and draw IVR schemes",
                                description="Work on IVR schemes (YAML) before the center "
                                "loads them.")
    commands = ivr.add_subparsers(dest="ivr_command", metavar="SUBCOMMAND", required=True)

    check = commands.add_parser(
        "check", parents=[common], help="validate schemes",
        description="Validate IVR schemes: node types and fields, targets, unreachable nodes, "
        "loops without a way out, prompts (with --sounds) and, unless --standalone, the "
        "queues and agents of the config. Without FILE, checks every [[ivr]] of the config. "
        "Exit status 0 when all are valid, 2 otherwise.")
    check.add_argument("files", nargs="*", type=Path, metavar="FILE")
    check.add_argument("--sounds", type=Path, metavar="DIR",
                       help="sound library directory to check library prompts against")
    check.add_argument("--standalone", action="store_true",
                       help="do not check queue and agent names against the config")
    check.set_defaults(run=cmd_check)

    draw = commands.add_parser(
        "draw", parents=[common], help="render a scheme as a diagram",
        description="Render a scheme with Graphviz: nodes by type, edges labelled by key, "
        "case or outcome. Dashed edges are failure paths; missing nodes are red.")
    draw.add_argument("file", type=Path, metavar="FILE")
    draw.add_argument("-o", "--output", type=Path, required=True, metavar="OUT",
                      help="output file; its suffix (.svg, .png, .pdf, .dot) picks the format")
    draw.add_argument("--format", choices=("svg", "png", "pdf", "dot"), default=None)
    draw.set_defaults(run=cmd_draw)

    log = commands.add_parser(
        "log", parents=[common], help="print the debug log of an IVR call",
        description="Print the per-call debug log the center wrote for CALL_ID "
        "(<data>/logs/ivr/<scheme>/debug_<time>-<call id>.log): every node entered, prompt, "
        "key, variable and HTTP exchange. Exit status 1 when the call left no log.")
    log.add_argument("call_id", metavar="CALL_ID")
    log.add_argument("--path", action="store_true", help="print the file's path only")
    log.set_defaults(run=cmd_log)


def cmd_check(args: argparse.Namespace) -> int:
    from ivr.center import sound_library
    from ivr.checks import library_prompts
    from ivr.loader import load_scheme
    from ivr.problems import SchemeError

    config = None if args.standalone else _config(args, required=not args.files)
    if config is False:
        return EXIT_USAGE
    targets: list[tuple[Path, str | None]] = [(f, _name_in(config, f)) for f in args.files]
    if not targets and config:
        targets = [(i.scheme, i.name) for i in config.ivrs]
    if not targets:
        error("no scheme to check: give FILE or a config with [[ivr]] sections")
        return EXIT_USAGE
    prompt_exists = sound_library(args.sounds) if args.sounds else None
    status = EXIT_OK
    unchecked = 0  # library prompts that could not be checked (no --sounds)
    for path, name in targets:
        try:
            scheme = load_scheme(
                path, name=name, prompt_exists=prompt_exists,
                queues=[q.name for q in config.queues] if config else None,
                agents=[a.login for a in config.agents] if config else None,
                default_timezone=config.center.timezone if config else "UTC")
        except SchemeError as exc:
            print(exc, file=sys.stderr)
            status = EXIT_USAGE
            continue
        print(f"{path}: ok: scheme {scheme.name}, {len(scheme.nodes)} nodes, "
              f"version {scheme.version}")
        if prompt_exists is None:
            unchecked += len(library_prompts(scheme.nodes))
    if unchecked:
        print(f"({unchecked} library prompt(s) not checked: give --sounds DIR)",
              file=sys.stderr)
    return status


def _config(args: argparse.Namespace, *, required: bool) -> Any:
    """The config; None when unusable but not needed (a warning); False after an error."""
    path = config_path(args)
    try:
        return load_config(path)
    except (InvalidConfig, FileNotFoundError) as exc:
        if required:
            error(f"invalid configuration {path}:\n{exc}")
            return False
        error(f"warning: queues and agents not checked, the configuration {path} is not "
              f"usable: {str(exc).splitlines()[0]}")
        return None


def _name_in(config: Any, file: Path) -> str | None:
    """The [[ivr]] name the config gives this file, if it names it."""
    if not config:
        return None
    resolved = file.resolve()
    return next((i.name for i in config.ivrs if Path(i.scheme).resolve() == resolved), None)


def cmd_draw(args: argparse.Namespace) -> int:
    from ivr.draw import DrawError, render, scheme_dot
    from ivr.loader import load_scheme
    from ivr.problems import SchemeError

    try:
        scheme = load_scheme(args.file, check_graph=False)
    except SchemeError as exc:
        print(exc, file=sys.stderr)
        return EXIT_USAGE
    try:
        out = render(scheme_dot(scheme), args.output, args.format)
    except (DrawError, OSError) as exc:
        error(str(exc))
        return EXIT_FAILURE
    print(f"{args.file}: drew {len(scheme.nodes)} nodes to {out}")
    return EXIT_OK


def debug_logs(root: Path, call_id: str) -> list[Path]:
    """The debug logs of ``call_id`` under ``root`` (one per scheme it went through)."""
    from ivr.debug_log import debug_log_path

    safe = debug_log_path(root, "x", call_id, 0.0).name.split("-", 2)[-1]  # as written
    if not root.is_dir():
        return []
    return sorted(root.glob(f"*/debug_*-{safe}"), key=lambda p: p.name)


def cmd_log(args: argparse.Namespace) -> int:
    root = data_dir(args) / "logs" / "ivr"
    found = debug_logs(root, args.call_id)
    if not found:
        error(f"no IVR debug log for call {args.call_id} under {root}")
        return EXIT_FAILURE
    for path in found:
        if args.path:
            print(path)
            continue
        if len(found) > 1:
            print(f"# {path}")
        sys.stdout.write(path.read_text(encoding="utf-8", errors="replace"))
    return EXIT_OK
