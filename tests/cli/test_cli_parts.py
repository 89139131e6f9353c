"""The CLI's pieces in-process: the command registry, status rendering, log reading."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest

from cli.logs_view import follow, format_line, log_files, recent, tail_lines
from cli.main import build_parser, command_modules
from cli.status_view import format_duration, format_stats, status_table


def test_command_modules_are_discovered_and_share_options() -> None:
    assert "cli.commands_ops" in [m.__name__ for m in command_modules()]
    parser = build_parser()
    for argv in (["up", "--detach"], ["down"], ["status", "--json"], ["restart", "core"],
                 ["logs", "core", "-f"]):
        args = parser.parse_args([*argv, "--data", "/srv/c", "--config", "/etc/c.toml"])
        assert args.data == Path("/srv/c") and args.config == Path("/etc/c.toml")
        assert callable(args.run)
    with pytest.raises(SystemExit):
        parser.parse_args([])


def test_status_table_plain_and_coloured() -> None:
    doc = {
        "data_dir": "/srv/c", "phase": "running", "failure": None, "database": None,
        "supervisor": {"pid": 10, "admin_port": 4000, "bind_host": "127.0.0.1",
                       "uptime_s": 4000.0},
        "processes": [
            {"name": "core", "pid": 11, "state": "running", "restarts": 0, "uptime_s": 65.0,
             "stats": {"actors_by_kind": {"call": 2}, "msgs_per_s": 3.5}, "last_error": None},
            {"name": "media-1", "pid": None, "state": "failed", "restarts": 4,
             "uptime_s": None, "stats": {}, "last_error": "Traceback...\nOSError: port"},
        ],
    }
    plain = status_table(doc, colour=False)
    assert "\x1b[" not in plain
    assert "core     running  11   0         1m05s   actors_by_kind.call=2 msgs_per_s=3.5" in plain
    assert "media-1: OSError: port" in plain
    coloured = status_table(doc, colour=True)
    assert "\x1b[31mfailed" in coloured and "\x1b[32mrunning" in coloured


def test_format_helpers() -> None:
    assert [format_duration(s) for s in (None, 2.25, 61, 7322, 90000)] == [
        "-", "2.2s", "1m01s", "2h02m", "1d01h"]
    assert format_stats({"b": 1, "a": {"x": 2, "y": {}}}) == "a.x=2 b=1"


def _write(path: Path, *events: dict[str, object]) -> None:
    with path.open("a") as f:
        for event in events:
            f.write(json.dumps(event) + "\n")


def test_recent_merges_files_by_time(tmp_path: Path) -> None:
    _write(tmp_path / "a.log", {"timestamp": "2026-01-01T00:00:01Z", "event": "a1"},
           {"timestamp": "2026-01-01T00:00:03Z", "event": "a3"})
    _write(tmp_path / "b.log", {"timestamp": "2026-01-01T00:00:02Z", "event": "b2"})
    (tmp_path / "thespian.log").write_text("not json\n")
    files = log_files(tmp_path, None)
    assert [p.name for p in files] == ["a.log", "b.log"]
    assert [json.loads(line)["event"] for line in recent(files, 2)] == ["b2", "a3"]
    assert log_files(tmp_path, "thespian") == [tmp_path / "thespian.log"]
    with pytest.raises(FileNotFoundError, match="known: a, b, thespian"):
        log_files(tmp_path, "nope")


def test_tail_lines_reads_from_the_end(tmp_path: Path) -> None:
    path = tmp_path / "big.log"
    path.write_text("".join(f"line {i}\n" for i in range(5000)))
    assert tail_lines(path, 3) == ["line 4997", "line 4998", "line 4999"]
    assert tail_lines(path, 0) == []


def test_follow_sees_appends_and_rotation(tmp_path: Path) -> None:
    path = tmp_path / "svc.log"
    path.write_text("old\n")
    stop = threading.Event()
    seen: list[str] = []

    def reader() -> None:
        for line in follow(lambda: [path], poll_s=0.01, stop=stop.is_set):
            seen.append(line)

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        time.sleep(0.05)
        with path.open("a") as f:
            f.write("new 1\nnew ")
        time.sleep(0.05)
        with path.open("a") as f:
            f.write("2\n")
        time.sleep(0.05)
        path.rename(tmp_path / "svc.log.1")
        path.write_text("after rotation\n")
        deadline = time.monotonic() + 5
        while len(seen) < 3 and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        stop.set()
        thread.join(5)
    assert seen == ["new 1", "new 2", "after rotation"]


def test_format_line_for_humans() -> None:
    line = json.dumps({"timestamp": "2026-01-01T10:11:12.345678Z", "level": "warning",
                       "service": "core", "event": "child.exited", "child": "a", "pid": 3,
                       "n": [1, 2]})
    assert format_line(line, colour=False) == (
        "10:11:12.345 warning core       child.exited child=a n=[1, 2]")
    assert format_line("plain text", colour=False) == "plain text"
