"""``contactor ivr check`` and ``contactor ivr draw``."""

from __future__ import annotations

import os
import struct
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from cli.main import main

REPO = Path(__file__).resolve().parents[2]
DEMO = REPO / "conf" / "ivr" / "main.yaml"

LIBRARY_SCHEME = """
    start: hello
    nodes:
      hello: {type: play, prompt: hello, next: menu}
      menu:
        type: menu
        prompt: menu
        choices: {1: sales}
        failure: sales
      sales: {type: queue, queue: sales}
"""


def write(tmp_path: Path, text: str, name: str = "s.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text).lstrip("\n"))
    return path


def test_check_the_demo_scheme(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ivr", "check", str(DEMO)]) == 0
    out, err = capsys.readouterr()
    assert out.startswith(f"{DEMO}: ok: scheme main, 14 nodes, version ")
    assert err == ""  # every prompt of the demo is tts: nothing left unchecked


def test_check_without_file_checks_the_configs_schemes(
        capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ivr", "check"]) == 0
    assert "main.yaml: ok: scheme main" in capsys.readouterr().out


def test_check_reports_every_problem_and_exits_2(tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, """
        start: a
        nodes:
          a:
            type: menu
            prompt: p
            choices: {1: b, 2: c}
            failure: a
          b: {type: queue, queue: salse}
          c: {type: transfer, agent: nobody}
          d: {type: hangup}
    """)
    assert main(["ivr", "check", str(path)]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.splitlines() == [
        f"{path}:8: node 'b': queue: unknown queue 'salse' (did you mean 'sales'?); known: "
        "sales, support",
        f"{path}:9: node 'c': agent: unknown agent 'nobody'; known: anna, bruno, chloe, "
        "david, emma",
        f"{path}:10: node 'd': unreachable from the start node 'a'"]
    assert main(["ivr", "check", "--standalone", str(path)]) == 2
    assert capsys.readouterr().err.splitlines() == [
        f"{path}:10: node 'd': unreachable from the start node 'a'"]


def test_check_prompts_against_a_sound_library(tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, LIBRARY_SCHEME)
    sounds = tmp_path / "sounds"
    sounds.mkdir()
    (sounds / "hello.wav").write_bytes(b"RIFF")
    assert main(["ivr", "check", str(path)]) == 0
    assert capsys.readouterr().err == "(2 library prompt(s) not checked: give --sounds DIR)\n"
    assert main(["ivr", "check", "--sounds", str(sounds), str(path)]) == 2
    assert capsys.readouterr().err == (
        f"{path}:6: node 'menu': prompt: no prompt 'menu' in the sound library\n")
    (sounds / "menu.wav").write_bytes(b"RIFF")
    assert main(["ivr", "check", "--sounds", str(sounds), str(path)]) == 0


def test_check_with_a_broken_config(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, LIBRARY_SCHEME)
    bad_config = write(tmp_path, "[center]\nname = 3\n", "bad.toml")
    assert main(["ivr", "check", "--config", str(bad_config), str(path)]) == 0
    assert "warning: queues and agents not checked" in capsys.readouterr().err
    assert main(["ivr", "check", "--config", str(bad_config)]) == 2  # nothing else to check


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def test_draw_svg_and_png(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    svg = tmp_path / "main.svg"
    assert main(["ivr", "draw", str(DEMO), "-o", str(svg)]) == 0
    assert capsys.readouterr().out == f"{DEMO}: drew 14 nodes to {svg}\n"
    text = svg.read_text()
    assert text.lstrip().startswith("<?xml") and "<svg" in text
    for name in ("main_menu", "ask_account", "lookup", "to_support", "key 3", "fallback"):
        assert name in text
    png = tmp_path / "main.png"
    assert main(["ivr", "draw", str(DEMO), "-o", str(png)]) == 0
    width, height = png_size(png)
    assert 600 < width < 3000 and 600 < height < 3000  # legible at 110 dpi, not a poster


def test_draw_marks_missing_nodes_and_refuses_broken_yaml(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    draft = write(tmp_path, """
        start: a
        nodes:
          a: {type: play, prompt: x, next: todo}
    """)
    dot = tmp_path / "draft.dot"
    assert main(["ivr", "draw", str(draft), "-o", str(dot)]) == 0
    assert '"todo" [shape=box, style="dashed", color=red' in dot.read_text()
    broken = write(tmp_path, "start: [", "broken.yaml")
    assert main(["ivr", "draw", str(broken), "-o", str(tmp_path / "x.svg")]) == 2
    assert "not valid YAML" in capsys.readouterr().err
    assert main(["ivr", "draw", str(draft), "-o", str(tmp_path / "x.gif")]) == 1
    assert "expected a format among svg, png, pdf, dot; got 'gif'" in capsys.readouterr().err


def test_the_installed_command_runs() -> None:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    done = subprocess.run([sys.executable, "-m", "cli.main", "ivr", "check", str(DEMO)],
                          capture_output=True, text=True, env=env, timeout=60, check=False,
                          cwd=REPO)
    assert done.returncode == 0, done.stderr
    assert "ok: scheme main" in done.stdout


def test_ivr_log_prints_the_calls_debug_log(tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    from ivr.debug_log import DebugLog
    from ivr.messages import Log

    data = tmp_path / "data"
    with DebugLog(data / "logs" / "ivr", "main", "c0ffee-1", 1764000000.0) as log:
        log.write(1764000000.0, [Log(kind="start", node="welcome", text="scheme main"),
                                 Log(kind="digit", node="menu", text="5")])
    assert main(["ivr", "log", "c0ffee-1", "--data", str(data)]) == 0
    out, _ = capsys.readouterr()
    assert [line.split()[2] for line in out.splitlines()] == ["start", "digit"]
    assert out.splitlines()[1].endswith("menu: 5")
    assert main(["ivr", "log", "c0ffee-1", "--path", "--data", str(data)]) == 0
    assert capsys.readouterr()[0].strip().endswith("main/debug_20251124-160000-c0ffee-1.log")
    assert main(["ivr", "log", "nope", "--data", str(data)]) == 1
    assert "no IVR debug log for call nope" in capsys.readouterr()[1]
