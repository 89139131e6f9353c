"""The expression language, templates and calendar rules."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ivr.calendar_rules import RuleError, in_dates, in_times, parse_dates, parse_days, parse_times
from ivr.expr import ExprError, parse_expression, parse_template, text_of, truthy


def ev(text: str, **variables: str) -> str:
    return text_of(parse_expression(text).evaluate(variables))


@pytest.mark.parametrize(("text", "variables", "expected"), [
    ("1 + 2 * 3", {}, "7"),
    ("(1 + 2) * 3", {}, "9"),
    ("-n + 10", {"n": "4"}, "6"),
    ("7 % 3", {}, "1"),
    ("n / 4", {"n": "10"}, "2.5"),
    ("a + b", {"a": "fr", "b": "-FR"}, "fr-FR"),
    ("a + b", {"a": "2", "b": "3"}, "5"),
    ('n == "10"', {"n": "10.0"}, "true"),  # numbers compare as numbers
    ("n > 9", {"n": "10"}, "true"),
    ("s > 'abc'", {"s": "abd"}, "true"),  # text compares as text
    ("missing == ''", {}, "true"),
    ("vip and not blocked", {"vip": "true", "blocked": "false"}, "true"),
    ("vip or 'fallback'", {"vip": ""}, "fallback"),
    ("len(account) >= 6 and startswith(account, '33')", {"account": "331234"}, "true"),
    ("contains(lower(name), 'zo')", {"name": "ZOÉ"}, "true"),
    ("upper(lang)", {"lang": "fr"}, "FR"),
    ("'it\\'s'", {}, "it's"),
])
def test_evaluation(text: str, variables: dict[str, str], expected: str) -> None:
    assert ev(text, **variables) == expected


@pytest.mark.parametrize(("text", "message"), [
    ("a ==", "expected a value, got the end at column 5"),
    ("a == b == c", "comparisons do not chain; use 'and' at column 8"),
    ("(a", "expected ')', got the end at column 3"),
    ("a ; b", "unexpected character ';' at column 3"),
    ("open('x')", "unknown function 'open' (known: contains, len, lower, startswith, upper) "
     "at column 1"),
    ("len(a, b)", "len() takes 1 argument(s), got 2 at column 1"),
    ("a b", "unexpected 'b' at column 3"),
    ("__import__", None),  # a plain (unknown, empty) variable: nothing to execute
    ("  ", "empty expression"),
])
def test_syntax_errors(text: str, message: str | None) -> None:
    if message is None:
        assert ev(text) == ""
        return
    with pytest.raises(ExprError) as info:
        parse_expression(text)
    assert str(info.value) == message


def test_runtime_errors() -> None:
    with pytest.raises(ExprError, match="'/' by zero"):
        ev("1 / n", n="0")
    with pytest.raises(ExprError, match="'\\*' needs numbers, got 'abc'"):
        ev("s * 2", s="abc")


@settings(max_examples=200)
@given(st.integers(-10**6, 10**6), st.integers(-10**6, 10**6),
       st.sampled_from(["==", "!=", "<", "<=", ">", ">="]))
def test_numeric_comparison_matches_python(a: int, b: int, op: str) -> None:
    expected = {"==": a == b, "!=": a != b, "<": a < b, "<=": a <= b, ">": a > b,
                ">=": a >= b}[op]
    assert parse_expression(f"x {op} y").test({"x": str(a), "y": str(b)}) is expected


@settings(max_examples=200)
@given(st.integers(-10**6, 10**6), st.integers(-10**6, 10**6))
def test_arithmetic_matches_python(a: int, b: int) -> None:
    assert ev("x + y * 2 - x", x=str(a), y=str(b)) == str(b * 2)


def test_truthiness() -> None:
    assert [truthy(v) for v in ("", "0", "false", "FALSE", " ", "no", "1", "true")] == [
        False, False, False, False, False, True, True, True]
    assert truthy(0.5) and not truthy(0.0) and truthy(True)


def test_templates() -> None:
    t = parse_template("Hello ${name}, you owe $$${amount}")
    assert t.names == ("name", "amount") and not t.is_literal
    assert t.render({"name": "Zoé", "amount": "12"}) == "Hello Zoé, you owe $12"
    assert t.render({}) == "Hello , you owe $"
    assert parse_template("plain").is_literal
    for bad, message in (("${x", "'$' starts a placeholder ${name} (write $$ for a dollar "
                          "sign) at column 1"),
                         ("${a b}", "expected a variable name in ${...}, got 'a b' at column "
                          "1")):
        with pytest.raises(ExprError) as info:
            parse_template(bad)
        assert str(info.value) == message


@settings(max_examples=100)
@given(st.text(alphabet=st.characters(blacklist_characters="$"), max_size=20),
       st.text(max_size=20))
def test_template_renders_literal_text_and_values_verbatim(literal: str, value: str) -> None:
    assert parse_template(f"{literal}${{v}}{literal}").render({"v": value}) == \
        literal + value + literal


# -- calendar rules ------------------------------------------------------------------------


def at(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> dt.datetime:
    return dt.datetime(year, month, day, hour, minute)


def test_time_ranges_including_over_midnight() -> None:
    day = parse_times(["09:00-12:30", "14:00-18:00"])
    assert in_times(day, at(2025, 1, 1, 9, 0)) and in_times(day, at(2025, 1, 1, 12, 29))
    assert not in_times(day, at(2025, 1, 1, 12, 30)) and not in_times(day, at(2025, 1, 1, 18))
    night = parse_times("22:00-06:00")
    assert in_times(night, at(2025, 1, 1, 23, 59)) and in_times(night, at(2025, 1, 1, 5, 59))
    assert not in_times(night, at(2025, 1, 1, 6, 0))
    assert in_times(parse_times("00:00-24:00"), at(2025, 1, 1, 23, 59))


def test_days() -> None:
    assert parse_days("mon-fri") == frozenset(range(5))
    assert parse_days(["sat", "Sunday"]) == frozenset({5, 6})
    assert parse_days("fri-mon") == frozenset({4, 5, 6, 0})
    assert parse_days("mon,wed") == frozenset({0, 2})


def test_dates_with_and_without_years() -> None:
    rules = parse_dates(["12-24..01-02", "2025-07-14", dt.date(2025, 5, 1),
                         "2025-08-01..2025-08-15"])
    inside = [at(2025, 12, 31), at(2026, 1, 2), at(2024, 12, 24), at(2025, 7, 14),
              at(2025, 5, 1), at(2025, 8, 15)]
    outside = [at(2026, 1, 3), at(2026, 7, 14), at(2025, 8, 16), at(2024, 5, 1)]
    assert all(in_dates(rules, d) for d in inside)
    assert not any(in_dates(rules, d) for d in outside)
    assert in_dates(parse_dates("02-29"), at(2024, 2, 29))


@pytest.mark.parametrize(("parse", "value", "message"), [
    (parse_times, "9-17", "expected a time range 'HH:MM-HH:MM'; got '9-17'"),
    (parse_times, [], "expected a time range 'HH:MM-HH:MM' or a non-empty list of them; "
     "got []"),
    (parse_days, "mon-fro", "expected day names mon, tue, wed, thu, fri, sat, sun; got "
     "'mon-fro'"),
    (parse_dates, "2025-02-30", "expected a real date; got '2025-02-30' (day is out of range "
     "for month)"),
    (parse_dates, "2025-01-01..12-31", "expected both ends of a date range with a year or "
     "both without; got '2025-01-01..12-31'"),
    (parse_dates, "2025-02-01..2025-01-01", "expected a date range that does not end before "
     "it starts; got '2025-02-01..2025-01-01'"),
])
def test_rule_errors(parse: object, value: object, message: str) -> None:
    with pytest.raises(RuleError) as info:
        parse(value)  # type: ignore[operator]
    assert str(info.value) == message
