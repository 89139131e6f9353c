"""scripts/bench/run_all.py: its judging of figures against targets, and how it runs a script."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

import pytest

PATH = Path(__file__).parents[2] / "scripts" / "bench" / "run_all.py"


@pytest.fixture(scope="module")
def run_all() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_run_all", PATH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_run_all"] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def test_every_target_of_the_brief_is_checked(run_all: ModuleType) -> None:
    targets = {(b.name, t.key, t.op, t.value) for b in run_all.BENCHES for t in b.targets}
    assert targets == {
        ("bus", "in_process_msgs_per_s", ">=", 500_000),
        ("bus", "cross_process_msgs_per_s", ">=", 200_000),
        ("bus", "ask_p99_us", "<", 300),
        ("acd", "decisions_per_s", ">=", 10_000),
        ("acd", "decision_p99_us", "<", 1000),
        ("media", "max_calls", ">=", 500),
        ("sip_cps", "ratio_vs_sippy", ">=", 2),
    }


def test_judge_marks_met_missed_and_unmeasured(run_all: ModuleType) -> None:
    acd = next(b for b in run_all.BENCHES if b.name == "acd")
    rows = run_all.judge(acd, {"status": "ok", "figures": {
        "decisions_per_s": 12_000.0, "decision_p99_us": 1500.0, "decision_p50_us": 90.0}})
    verdicts = {r[0]: r[3] for r in rows}
    assert verdicts == {"decisions_per_s": "ok", "decision_p99_us": "MISSED",
                        "decision_p50_us": ""}  # fmt: skip
    sip = next(b for b in run_all.BENCHES if b.name == "sip_cps")
    rows = run_all.judge(sip, {"status": "ok", "figures": {"max_cps": 300}})
    assert ("ratio_vs_sippy", "-", ">= 2", "not measured") in rows
    rows = run_all.judge(acd, {"status": "timeout"})
    assert {r[3] for r in rows} == {"timeout"}


def test_runs_a_script_and_reads_its_json(
    run_all: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "fake.py").write_text(
        "import json, sys\n"
        "out = sys.argv[sys.argv.index('--json') + 1]\n"
        "json.dump({'max_calls': 600, 'argv': sys.argv[1:]}, open(out, 'w'))\n"
    )
    (tmp_path / "broken.py").write_text("raise SystemExit('no luck')\n")
    monkeypatch.setattr(run_all, "HERE", tmp_path)
    bench = run_all.Bench("fake", "fake.py", ("--full",), ("--quick",), 30,
                          (run_all.Target("max_calls", ">=", 500),))  # fmt: skip
    r = run_all.run_bench(bench, quick=True)
    assert r["status"] == "ok" and r["figures"]["max_calls"] == 600
    assert r["figures"]["argv"][0] == "--quick"
    assert run_all.judge(bench, r)[0][3] == "ok"
    broken = run_all.Bench("broken", "broken.py", (), (), 30)
    r = run_all.run_bench(broken, quick=False)
    assert r["status"] == "failed" and "no luck" in r["output"]
    assert run_all.run_bench(run_all.Bench("gone", "gone.py", (), (), 5), False) == {
        "status": "absent"}
    # the whole command: one JSON file with every result
    monkeypatch.setattr(run_all, "BENCHES", (bench, broken))
    out = tmp_path / "all.json"
    assert run_all.main(["--json", str(out)]) == 1  # broken failed
    saved = json.loads(out.read_text())
    assert set(saved["results"]) == {"fake", "broken"}
