from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import structlog

from supervision.logs import RotatingLineFile, configure_logging


@pytest.fixture(autouse=True)
def _restore_structlog() -> Iterator[None]:
    yield
    structlog.reset_defaults()


def read_json_lines(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_json_lines_carry_bound_ids_level_and_utc_time(tmp_path: Path) -> None:
    log = configure_logging("media-1", tmp_path, console=False)
    log.bind(actor="call/42").info("call.answered", call_id="c-1")
    structlog.contextvars.bind_contextvars(call_id="c-2")
    try:
        structlog.get_logger().warning("call.slow", ms=250)
    finally:
        structlog.contextvars.clear_contextvars()
    first, second = read_json_lines(tmp_path / "media-1.log")
    assert list(first)[:4] == ["timestamp", "level", "service", "event"]
    assert first["service"] == "media-1" and first["actor"] == "call/42"
    assert first["event"] == "call.answered" and first["call_id"] == "c-1"
    assert first["level"] == "info" and str(first["timestamp"]).endswith("Z")
    assert second["call_id"] == "c-2" and second["level"] == "warning"


def test_exceptions_are_rendered_into_the_json_line(tmp_path: Path) -> None:
    log = configure_logging("svc", tmp_path, console=False)
    try:
        raise ValueError("bad header Via")
    except ValueError:
        log.exception("parse.failed")
    (line,) = read_json_lines(tmp_path / "svc.log")
    assert "ValueError: bad header Via" in str(line["exception"])


def test_level_filter(tmp_path: Path) -> None:
    log = configure_logging("svc", tmp_path, console=False, level="warning")
    log.info("hidden")
    log.error("shown")
    assert [e["event"] for e in read_json_lines(tmp_path / "svc.log")] == ["shown"]
    with pytest.raises(ValueError, match="log level"):
        configure_logging("svc", tmp_path, level="loud")


def test_console_gets_dev_form_not_json(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    console = io.StringIO()
    monkeypatch.setattr("sys.stderr", console)
    log = configure_logging("svc", None, console=True)
    log.info("hello", who="world")
    text = console.getvalue()
    assert "hello" in text and "who=world" in text and "service=svc" in text
    assert not text.lstrip().startswith("{")
    assert "\x1b[" not in text  # StringIO is no terminal: no colours


def test_rotation_keeps_n_backups(tmp_path: Path) -> None:
    path = tmp_path / "svc.log"
    sink = RotatingLineFile(path, max_bytes=100, backups=2)
    for i in range(20):
        sink.write_line(f"line {i:02d} " + "x" * 30)
    sink.close()
    files = sorted(p.name for p in tmp_path.iterdir())
    assert files == ["svc.log", "svc.log.1", "svc.log.2"]
    assert all(p.stat().st_size <= 100 for p in tmp_path.iterdir())
    assert path.read_text().splitlines()[-1].startswith("line 19")
    newest_backup = (tmp_path / "svc.log.1").read_text().splitlines()
    oldest_backup = (tmp_path / "svc.log.2").read_text().splitlines()
    assert newest_backup[0] > oldest_backup[-1]  # .1 is newer than .2


def test_reconfiguring_switches_files(tmp_path: Path) -> None:
    configure_logging("one", tmp_path, console=False).info("a")
    configure_logging("two", tmp_path, console=False).info("b")
    assert [e["event"] for e in read_json_lines(tmp_path / "one.log")] == ["a"]
    assert [e["event"] for e in read_json_lines(tmp_path / "two.log")] == ["b"]
