"""Run every benchmark in scripts/bench/, write one JSON file, print each figure by its target.

    python scripts/bench/run_all.py [--quick] [--only bus,acd] [--json bench_results.json]

Each benchmark runs as its own process (``--json`` to a temporary file; ``media_core.py``,
which has no JSON output, has its printed lines kept) with a wall-clock limit, so the whole run
is bounded: about 6 minutes in full, about 1.5 in ``--quick`` (smaller runs: the figures are
rougher, the targets the same). A benchmark script that is not there is listed as absent; one
that fails or overruns is reported with the end of its output, and the others still run.

Exit status: 0 when every measured figure meets its target, 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]


@dataclass(frozen=True, slots=True)
class Target:
    key: str
    op: str  # ">=" or "<"
    value: float

    def met(self, got: float) -> bool:
        return got >= self.value if self.op == ">=" else got < self.value


@dataclass(frozen=True, slots=True)
class Bench:
    name: str
    script: str
    full: tuple[str, ...]
    quick: tuple[str, ...]
    timeout_s: float
    targets: tuple[Target, ...] = ()
    #: writes ``--json PATH``; otherwise its stdout lines are kept
    has_json: bool = True
    #: other figures shown in the table (no target)
    extra: tuple[str, ...] = field(default=())


BENCHES: tuple[Bench, ...] = (
    Bench("bus", "bus.py", (), ("--messages", "100000", "--asks", "1000"), 180,
          (Target("in_process_msgs_per_s", ">=", 500_000),
           Target("cross_process_msgs_per_s", ">=", 200_000),
           Target("ask_p99_us", "<", 300))),
    Bench("acd", "acd.py", ("--seconds", "8"), ("--seconds", "2"), 120,
          (Target("decisions_per_s", ">=", 10_000), Target("decision_p99_us", "<", 1000)),
          extra=("decision_p50_us", "messages_per_s")),
    Bench("media_core", "media_core.py", (), (), 120, has_json=False),
    Bench("media", "media.py", (), ("--calls", "100,300,500", "--seconds", "2",
                                     "--warmup", "0.5"), 300,
          (Target("max_calls", ">=", 500),)),
    Bench("sip_cps", "sip_cps.py", ("--vs-sippy",), ("--rates", "50,100,200", "--step-s", "3"),
          420, (Target("ratio_vs_sippy", ">=", 2),), extra=("max_cps", "invite_200_p99_ms")),
)  # fmt: skip


def run_bench(b: Bench, quick: bool) -> dict[str, Any]:
    """Run one benchmark; its figures, or ``error`` with the end of its output."""
    script = HERE / b.script
    if not script.exists():
        return {"status": "absent"}
    args = list(b.quick if quick else b.full)
    env = {**os.environ, "PYTHONPATH": f"{REPO}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    with tempfile.TemporaryDirectory(prefix="contactor-bench-") as tmp:
        out_json = Path(tmp) / f"{b.name}.json"
        if b.has_json:
            args += ["--json", str(out_json)]
        t0 = time.monotonic()
        try:
            # run_path from the repo root, not ``python script``: the script's own folder
            # first on sys.path would let scripts/bench/media.py shadow the media package
            boot = ("import runpy, sys; sys.argv = sys.argv[1:]; "
                    "runpy.run_path(sys.argv[0], run_name='__main__')")
            proc = subprocess.run(
                [sys.executable, "-c", boot, str(script), *args], cwd=REPO, env=env,
                capture_output=True, text=True, timeout=b.timeout_s, check=False,
            )  # fmt: skip
        except subprocess.TimeoutExpired as exc:
            tail = (exc.stdout or b"")[-800:]
            text = tail.decode(errors="replace") if isinstance(tail, bytes) else tail
            return {"status": "timeout", "error": f"over {b.timeout_s:.0f} s", "output": text}
        wall = round(time.monotonic() - t0, 1)
        if proc.returncode != 0:
            return {"status": "failed", "wall_s": wall, "error": f"exit {proc.returncode}",
                    "output": (proc.stdout + proc.stderr)[-1500:]}  # fmt: skip
        if not b.has_json:
            return {"status": "ok", "wall_s": wall, "lines": proc.stdout.splitlines()}
        try:
            figures = json.loads(out_json.read_text())
        except (OSError, ValueError) as exc:
            return {"status": "failed", "wall_s": wall, "error": f"no JSON written: {exc}",
                    "output": proc.stdout[-1500:]}  # fmt: skip
        return {"status": "ok", "wall_s": wall, "figures": figures}


def judge(b: Bench, result: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    """Table rows ``(figure, value, target, verdict)`` for one benchmark's result."""
    rows: list[tuple[str, str, str, str]] = []
    status = result.get("status")
    figures = result.get("figures", {})
    for t in b.targets:
        want = f"{t.op} {t.value:,.0f}"
        if status != "ok":
            rows.append((t.key, "-", want, status or "?"))
            continue
        got = figures.get(t.key)
        if not isinstance(got, int | float) or isinstance(got, bool):
            rows.append((t.key, "-", want, "not measured"))
            continue
        rows.append((t.key, f"{got:,.1f}", want, "ok" if t.met(got) else "MISSED"))
    for key in b.extra:
        got = figures.get(key)
        if isinstance(got, int | float):
            rows.append((key, f"{got:,.1f}", "", ""))
    if not b.targets and status != "ok":
        rows.append(("(run)", "-", "", status or "?"))
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="shorter runs (rougher figures)")
    ap.add_argument("--only", default="", help="comma-separated names: "
                    + ",".join(b.name for b in BENCHES))  # fmt: skip
    ap.add_argument("--json", type=Path, default=Path("bench_results.json"))
    a = ap.parse_args(argv)
    wanted = {x for x in a.only.split(",") if x}
    unknown = wanted - {b.name for b in BENCHES}
    if unknown:
        ap.error(f"--only: unknown benchmark(s) {', '.join(sorted(unknown))}")
    results: dict[str, Any] = {}
    table: list[tuple[str, str, str, str, str]] = []
    for b in BENCHES:
        if wanted and b.name not in wanted:
            continue
        print(f"running {b.name} ({b.script}{', quick' if a.quick else ''}) ...", flush=True)
        r = run_bench(b, a.quick)
        results[b.name] = r
        if r["status"] not in ("ok", "absent"):
            print(f"  {b.name}: {r['status']}: {r.get('error', '')}\n{r.get('output', '')}")
        for row in judge(b, r):
            table.append((b.name, *row))
        if b.name == "media_core" and r["status"] == "ok":
            for line in r["lines"]:
                print(f"  {line}")
    a.json.write_text(json.dumps({"quick": a.quick, "at": time.strftime("%Y-%m-%dT%H:%M:%S"),
                                  "results": results}, indent=2) + "\n")  # fmt: skip
    lines = [("bench", "figure", "value", "target", "verdict"), *table]
    widths = [max(len(str(line[i])) for line in lines) for i in range(5)]
    print()
    for line in lines:
        print("  ".join(str(c).ljust(w) for c, w in zip(line, widths, strict=True)).rstrip())
    print(f"\nwritten to {a.json}")
    missed = [r for r in table if r[4] in ("MISSED", "failed", "timeout")]
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
