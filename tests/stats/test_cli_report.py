"""``contactor report``: tables, CSV and PNG from the scripted morning, and ``report rebuild``."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import psycopg
import pytest

from cli.main import main
from tests.stats.scenario import run_scenario, write_journal

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def config(db_url: str, tmp_path: Path) -> Path:
    shutil.copytree(REPO / "conf" / "ivr", tmp_path / "ivr")
    text = (REPO / "conf" / "contactor.toml").read_text()
    marker = '# url = "postgresql://'
    assert marker in text
    text = text.replace(marker, f'url = "{db_url}"\n# was: url = "postgresql://', 1)
    path = tmp_path / "contactor.toml"
    path.write_text(text)
    write_journal(db_url, run_scenario())
    return path


def _report(config: Path, *args: str) -> int:
    return main(["report", *args, "--config", str(config), "--data", str(config.parent / "var")])


def test_queues_report_table_csv_png(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out_csv, out_png = config.parent / "q.csv", config.parent / "q.png"
    # the demo center's timezone is Europe/Paris: 09:00 UTC is 10:00 there
    status = _report(config, "queues", "--from", "2026-11-25T10:00", "--to",
                     "2026-11-25T11:00", "--interval", "30", "--csv", str(out_csv),
                     "--png", str(out_png))
    assert status == 0
    text = capsys.readouterr().out
    lines = text.splitlines()
    assert lines[0].split()[:3] == ["interval", "queue", "offered"]
    sales = [line for line in lines if " sales " in f" {line} " and line.startswith("total")]
    assert sales and sales[0].split()[2:9] == ["5", "2", "1", "1", "1", "1", "33.3%"]
    with out_csv.open() as f:
        rows = list(csv.DictReader(f))
    first = next(r for r in rows if r["queue"] == "sales")
    assert first["interval"] == "2026-11-25 10:00" and first["offered"] == "5"
    assert float(first["asa_s"]) == 17.0 and float(first["abandon_rate"]) == 0.25
    assert out_png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and out_png.stat().st_size > 5000


def test_agents_and_calls_reports(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _report(config, "agents", "--from", "2026-11-25", "--to", "2026-11-26",
                   "--agent", "anna") == 0
    total = [line for line in capsys.readouterr().out.splitlines() if line.startswith("total")]
    assert total[0].split()[1:6] == ["anna", "2", "55.0", "84.7%", "72.0%"]
    assert _report(config, "calls", "--from", "2026-11-25", "--to", "2026-11-26",
                   "--queue", "support") == 0
    out = capsys.readouterr().out
    assert [line.split()[0] for line in out.splitlines()[2:]] == ["c5"]


def test_rebuild_and_bad_usage(config: Path, db_url: str,
                               capsys: pytest.CaptureFixture[str]) -> None:
    assert _report(config, "rebuild") == 0
    assert "from 26 journal records" in capsys.readouterr().out
    with psycopg.connect(db_url) as conn:
        assert conn.execute("SELECT count(*) FROM report_call").fetchone() == (5,)
    assert _report(config, "queues", "--from", "yesterday-ish") == 2
    assert "is not YYYY-MM-DD" in capsys.readouterr().err
    assert _report(config, "agents", "--from", "2026-11-25", "--to", "2026-11-24") == 2
    assert _report(config, "agents", "--png", str(config.parent / "x.png"), "--from",
                   "2026-11-25", "--to", "2026-11-26") == 1
    assert "queues report only" in capsys.readouterr().err
