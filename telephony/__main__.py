"""Run the telephony service alone, outside a supervision tree (benchmarks, debugging):

    python -m telephony --config contactor.toml --data var [--media relay] [--arg key=value]
                        [--ready-file PATH]

It uses the config's database (``[store] url``, else the embedded one under ``--data``,
which must already be migrated: ``contactor up`` does that). Prints ``ready <listen>`` once
it serves (and writes it to ``--ready-file``, for scripts that do not read its output);
stops on SIGTERM/SIGINT or when stdin closes.
"""

from __future__ import annotations

import argparse
import json
import os
import select
import signal
import sys
import threading
from pathlib import Path

import structlog

from supervision.service import ServiceRunner, load_entry


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="python -m telephony")
    ap.add_argument("--config", type=Path, required=True)
    ap.add_argument("--data", type=Path, required=True)
    ap.add_argument("--media", choices=("auto", "relay", "anchored"), default="auto")
    ap.add_argument("--ready-file", type=Path)
    ap.add_argument("--arg", action="append", default=[], metavar="KEY=VALUE",
                    help="extra service args (numbers are parsed as JSON)")
    return ap.parse_args(argv)


def _value(text: str) -> object:
    try:
        return json.loads(text)
    except ValueError:
        return text


def main(argv: list[str] | None = None) -> int:
    a = _parse_args(argv)
    args: dict[str, object] = {"media": a.media}
    for item in a.arg:
        key, _, value = item.partition("=")
        args[key] = _value(value)
    runner = ServiceRunner(load_entry("telephony.service:main"), name="telephony",
                           config_path=a.config.resolve(), data_dir=a.data.resolve(),
                           args=args, log=structlog.get_logger().bind(service="telephony"))
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    runner.start()
    announced = False
    while not stop.is_set() and not runner.is_done:
        ready, _, _ = select.select([runner.wake_fd, sys.stdin], [], [], 0.5)
        if sys.stdin in ready and not os.read(sys.stdin.fileno(), 1024):
            break
        runner.drain_wakeups()
        if runner.is_ready and not announced:
            announced = True
            line = f"ready {json.dumps(runner.stats.get('sip_listen'))}"
            print(line, flush=True)
            if a.ready_file is not None:
                a.ready_file.write_text(line + "\n")
    runner.stop_and_join(5.0)
    if runner.error:
        print(runner.error, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
