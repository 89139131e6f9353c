"""``contactor simulate SCENARIO``: run a scenario file against the ACD and print its KPIs."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from cli.common import EXIT_FAILURE, EXIT_OK, error

EXIT_USAGE = 2


def register(subparsers: Any, common: argparse.ArgumentParser) -> None:
    sim = subparsers.add_parser(
        "simulate", parents=[common],
        help="simulate callers and agents from a scenario file; print KPIs",
        description="Run a scenario (TOML, see sim/scenarios/) against the real ACD actors "
                    "with simulated time (level = message), or as SIP/RTP phones and callers "
                    "against the running center of --data/--config (level = wire); print "
                    "progress, then KPIs and the system's figures.",
    )  # fmt: skip
    sim.add_argument("scenario", type=Path, help="scenario file (.toml)")
    sim.add_argument("--json", type=Path, metavar="PATH", help="also write the figures here")
    sim.add_argument("--seed", type=int, help="override the scenario's seed")
    sim.add_argument("--quiet", action="store_true", help="no progress lines")
    sim.set_defaults(run=cmd_simulate)


def cmd_simulate(args: argparse.Namespace) -> int:
    from sim.report import progress_line, render, to_json
    from sim.runner import WireLevelUnavailable, simulate
    from sim.scenario import ScenarioError, load_scenario

    try:
        scenario = load_scenario(args.scenario)
    except ScenarioError as exc:
        error(str(exc))
        return EXIT_USAGE
    print(f"simulating {scenario.name}: {scenario.agent_count} agents, "
          f"{scenario.duration_s:g} s, {scenario.level} level", flush=True)  # fmt: skip
    if scenario.level == "wire":
        return _simulate_wire(args, scenario)

    def show(p: Any) -> None:
        print(progress_line(p), flush=True)

    try:
        result = simulate(scenario, seed=args.seed, progress=None if args.quiet else show)
    except WireLevelUnavailable as exc:
        error(str(exc))
        return EXIT_FAILURE
    except ScenarioError as exc:
        error(str(exc))
        return EXIT_USAGE
    print()
    print(render(result))
    if args.json is not None:
        args.json.write_text(json.dumps(to_json(result), indent=2) + "\n")
        print(f"\nfigures written to {args.json}")
    if result.protocol_errors:
        print(f"contactor simulate: {len(result.protocol_errors)} protocol error(s)",
              file=sys.stderr)  # fmt: skip
        return EXIT_FAILURE
    return EXIT_OK


def _simulate_wire(args: argparse.Namespace, scenario: Any) -> int:
    """SIP phones and callers against the center of ``--data``/``--config`` (see sim.wire)."""
    from cli.common import config_path, data_dir
    from sim.scenario import ScenarioError
    from sim.wire.report import progress_line, render
    from sim.wire.result import as_json
    from sim.wire.runner import WireSetupError, simulate_wire

    def show(p: Any) -> None:
        print(progress_line(p), flush=True)

    try:
        result = simulate_wire(scenario, config_path=config_path(args), data_dir=data_dir(args),
                               seed=args.seed, progress=None if args.quiet else show)
    except ScenarioError as exc:
        error(str(exc))
        return EXIT_USAGE
    except WireSetupError as exc:
        error(str(exc))
        return EXIT_FAILURE
    print()
    print(render(result))
    if args.json is not None:
        args.json.write_text(json.dumps(as_json(result), indent=2) + "\n")
        print(f"\nfigures written to {args.json}")
    if not result.accounting.complete:
        error(f"{len(result.accounting.missing)} call(s) missing from the CDRs")
    if result.errors:
        error(f"{len(result.errors)} simulator error(s), first: {result.errors[0]}")
    return EXIT_OK if result.ok else EXIT_FAILURE
