"""Validation at load time: each kind of problem, with its exact message."""

from __future__ import annotations

import dataclasses
import textwrap
from pathlib import Path

import pytest

from conf.load import load_config
from ivr.center import load_center_schemes, sound_library
from ivr.loader import load_scheme, parse_scheme
from ivr.problems import SchemeError
from ivr.scheme import MenuNode

REPO = Path(__file__).resolve().parents[2]
DEMO_CONFIG = REPO / "conf" / "contactor.toml"


def problems(text: str, **kwargs: object) -> list[str]:
    with pytest.raises(SchemeError) as info:
        parse_scheme(textwrap.dedent(text).lstrip("\n"), source="s.yaml",
                     **kwargs)  # type: ignore[arg-type]
    return [str(p) for p in info.value.problems]


def test_unknown_node_type() -> None:
    assert problems("""
        start: a
        nodes:
          a:
            type: quene
            queue: sales
    """) == ["s.yaml:4: node 'a': type: unknown node type 'quene' (did you mean 'queue'?); "
             "expected one of branch, callback, collect, hangup, http, menu, play, queue, set, "
             "transfer, voicemail"]


def test_missing_target() -> None:
    assert problems("""
        start: a
        nodes:
          a:
            type: menu
            prompt: menu
            choices:
              1: salse
            failure: sales
          sales:
            type: queue
            queue: sales
    """) == ["s.yaml:7: node 'a': choices.1: no node named 'salse' (did you mean 'sales'?)"]


def test_missing_start_node() -> None:
    assert problems("""
        start: welcome
        nodes:
          a:
            type: hangup
    """) == ["s.yaml:1: start: no node named 'welcome'"]  # and no cascade of unreachables


def test_unreachable_node() -> None:
    assert problems("""
        start: a
        nodes:
          a:
            type: hangup
          old:
            type: hangup
    """) == ["s.yaml:5: node 'old': unreachable from the start node 'a'"]


def test_loop_without_a_way_out() -> None:
    assert problems("""
        start: a
        nodes:
          a:
            type: play
            prompt: x
            next: b
          b:
            type: set
            values:
              v: "1"
            next: a
    """) == ["s.yaml:3: node 'a': loop without a way out: a -> b -> a (no node in it waits "
             "for the caller and no edge leaves it)"]


def test_self_loop_is_a_loop() -> None:
    assert problems("""
        start: a
        nodes:
          a: {type: play, prompt: x, next: a}
    """) == ["s.yaml:3: node 'a': loop without a way out: a -> a (no node in it waits for "
             "the caller and no edge leaves it)"]


def test_loops_with_an_input_node_or_an_exit_are_fine() -> None:
    parse_scheme(textwrap.dedent("""
        start: a
        nodes:
          a: {type: play, prompt: x, next: m}
          m: {type: menu, prompt: p, choices: {1: a}, failure: a}
    """))
    parse_scheme(textwrap.dedent("""
        start: a
        nodes:
          a: {type: set, compute: {n: n + 1}, next: b}
          b:
            type: branch
            cases: [{if: n < 3, goto: a}]
            else: c
          c: {type: hangup}
    """))


def test_prompt_missing_from_the_sound_library() -> None:
    library = {"welcome", "bye"}
    assert problems("""
        start: a
        nodes:
          a:
            type: play
            prompt: welcom
            next: b
          b:
            type: hangup
            prompt: "tts:Goodbye ${name}"
    """, prompt_exists=library.__contains__) == [
        "s.yaml:5: node 'a': prompt: no prompt 'welcom' in the sound library"]


def test_tone_prompts_are_generated_not_looked_up_and_must_parse() -> None:
    assert problems("""
        start: a
        nodes:
          a:
            type: play
            prompt: "tone:1000/500"
            next: b
          b:
            type: play
            prompt: "tone:9000/100"
            next: c
          c:
            type: hangup
            prompt: "tone:beep"
    """, prompt_exists=set().__contains__) == [
        "s.yaml:9: node 'b': prompt: tone prompt 'tone:9000/100': frequency must be 20-3999 Hz "
        "and length 1-5000 ms",
        "s.yaml:13: node 'c': prompt: tone prompt 'tone:beep': expected tone:<hz>/<ms>, "
        "e.g. tone:1000/500"]


def test_unknown_queue_and_agent() -> None:
    assert problems("""
        start: a
        nodes:
          a:
            type: menu
            prompt: p
            choices:
              1: q
              2: t
            failure: v
          q:
            type: queue
            queue: sals
          t:
            type: transfer
            agent: bob
          v:
            type: queue
            queue: "${chosen}"
    """, queues=["sales", "support"], agents=["anna"]) == [
        "s.yaml:12: node 'q': queue: unknown queue 'sals' (did you mean 'sales'?); known: "
        "sales, support",
        "s.yaml:15: node 't': agent: unknown agent 'bob'; known: anna"]


def test_field_problems() -> None:
    assert problems("""
        start: a
        nodes:
          a:
            type: play
            prompt: x
            nxt: b
          b:
            type: menu
            prompt: p
            choices:
              "*": a
              12: a
            timeout_s: -1
            failure: a
    """) == [
        "s.yaml:3: node 'a': next: required for a play node",
        "s.yaml:6: node 'a': nxt: unknown field for a play node (did you mean 'next'?)",
        "s.yaml:7: node 'b': unreachable from the start node 'a'",
        "s.yaml:12: node 'b': choices.12: expected one key 0-9, *, # (quote * and #); got '12'",
        "s.yaml:13: node 'b': timeout_s: expected a number > 0; got -1"]


def test_expression_and_calendar_problems() -> None:
    assert problems("""
        start: a
        nodes:
          a:
            type: branch
            cases:
              - if: 'vip == '
                goto: b
              - if:
                  days: mon-fry
                  holiday: xmas
                  time: "25:00-26:00"
                goto: b
            else: b
          b:
            type: hangup
    """) == [
        "s.yaml:6: node 'a': cases[0].if: bad expression: expected a value, got the end at "
        "column 8",
        "s.yaml:9: node 'a': cases[1].if.days: expected day names mon, tue, wed, thu, fri, "
        "sat, sun; got 'mon-fry'",
        "s.yaml:10: node 'a': cases[1].if.holiday: no holiday list 'xmas' under 'holidays' "
        "(none defined)",
        "s.yaml:11: node 'a': cases[1].if.time: expected hours 00-24 and minutes 00-59; got "
        "'25:00-26:00'"]


def test_yaml_syntax_error_and_duplicates() -> None:
    assert problems("""
        start: a
        nodes:
          a: {type: play, prompt: x
    """) == ["s.yaml:4: not valid YAML: while parsing a flow mapping (from line 3): expected "
             "',' or '}', but got '<stream end>'"]
    assert problems("""
        start: a
        nodes:
          a:
            type: hangup
          a:
            type: hangup
            prompt: x
            prompt: y
    """) == ["s.yaml:5: node 'a': defined twice (first at line 3)"]


def test_the_scheme_name_must_match_the_center_name() -> None:
    assert problems("name: shop\nstart: a\nnodes: {a: {type: hangup}}\n", name="main") == [
        "s.yaml:1: name: expected 'main' (the name the center knows it by); got 'shop'"]


def test_every_node_type_loads(tmp_path: Path) -> None:
    scheme = load_scheme(REPO / "conf" / "ivr" / "main.yaml")
    assert {n.TYPE for n in scheme.nodes.values()} >= {
        "play", "branch", "menu", "collect", "http", "set", "queue", "callback", "hangup",
        "transfer", "voicemail"}
    menu = scheme.nodes["main_menu"]
    assert isinstance(menu, MenuNode) and menu.line == 34 and menu.choices["0"] == "operator"
    assert scheme.name == "main" and len(scheme.version) == 12
    # the version is the text's: a copy elsewhere has the same one
    copy = tmp_path / "copy.yaml"
    copy.write_text((REPO / "conf" / "ivr" / "main.yaml").read_text())
    assert load_scheme(copy).version == scheme.version


def test_center_schemes_from_the_demo_config() -> None:
    config = load_config(DEMO_CONFIG)
    registry = load_center_schemes(config, prompt_exists=None)
    assert registry.names() == ["main"]
    assert str(registry.current("main").timezone) == "Europe/Paris"


def test_center_schemes_are_checked_against_the_config(tmp_path: Path) -> None:
    config = load_config(DEMO_CONFIG)
    broken = tmp_path / "broken.yaml"
    broken.write_text("start: a\nnodes:\n  a:\n    type: transfer\n    agent: zed\n")
    config = dataclasses.replace(config, ivrs=(
        *config.ivrs, dataclasses.replace(config.ivrs[0], name="broken", scheme=broken)))
    with pytest.raises(SchemeError) as info:
        load_center_schemes(config, prompt_exists=None)
    assert str(info.value) == (f"{broken}:5: node 'a': agent: unknown agent 'zed'; known: "
                               "anna, bruno, chloe, david, emma")


def test_sound_library(tmp_path: Path) -> None:
    (tmp_path / "fr").mkdir()
    (tmp_path / "welcome.wav").write_bytes(b"RIFF")
    (tmp_path / "fr" / "bonjour.flac").write_bytes(b"fLaC")
    exists = sound_library(tmp_path)
    assert exists("welcome") and exists("welcome.wav") and exists("fr/bonjour")
    assert not exists("goodbye") and not exists("../welcome") and not exists("/etc/passwd")
    assert not exists("fr")  # a folder is not a prompt
