from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conf.patterns import PatternError, compile_pattern
from conf.schema import TrunkConfig

_digits = st.text(alphabet="0123456789", min_size=1, max_size=15)


@pytest.mark.parametrize(
    ("pattern", "accepted", "rejected"),
    [
        ("2000", ["2000"], ["200", "20000", "2001"]),
        ("+33140000000", ["+33140000000"], ["33140000000"]),
        ("alice", ["alice"], ["alic"]),
        ("_XXX", ["000", "999"], ["99", "1000", "12a"]),
        ("_NZX", ["210", "919"], ["110", "201"]),
        ("_100[1-5]", ["1001", "1005"], ["1000", "1006"]),
        ("_1[05-7]", ["10", "15", "17"], ["14", "18"]),
        ("_0.", ["01", "0123456"], ["0", "10"]),
        ("_0!", ["0", "0123"], ["1"]),
        ("_*#+X", ["*#+1"], ["*#+"]),
    ],
)
def test_patterns_match_exactly(pattern: str, accepted: list[str], rejected: list[str]) -> None:
    regex = compile_pattern(pattern)
    assert [n for n in accepted if regex.fullmatch(n)] == accepted
    assert [n for n in rejected if regex.fullmatch(n)] == []


@pytest.mark.parametrize(
    ("pattern", "message"),
    [
        ("", "empty pattern"),
        ("_", "'_' alone matches nothing"),
        ("_1.2", r"'\.' at position 2 must be the last character"),
        ("_1[23", r"'\[' at position 2 is never closed"),
        ("_[]", r"empty \[\] at position 1"),
        ("_[a-c]", r"\[a-c\] at position 1 may only hold digits"),
        ("_12Y", r"unexpected 'Y' at position 3"),
    ],
)
def test_malformed_patterns(pattern: str, message: str) -> None:
    with pytest.raises(PatternError, match=message):
        compile_pattern(pattern)


@settings(max_examples=200)
@given(number=_digits, other=_digits)
def test_literal_pattern_matches_only_itself(number: str, other: str) -> None:
    regex = compile_pattern(number)
    assert regex.fullmatch(number)
    assert (regex.fullmatch(other) is not None) == (other == number)


@settings(max_examples=200)
@given(number=_digits)
def test_x_pattern_matches_numbers_of_its_length(number: str) -> None:
    assert compile_pattern("_" + "X" * len(number)).fullmatch(number)
    assert not compile_pattern("_" + "X" * (len(number) + 1)).fullmatch(number)
    assert compile_pattern("_" + number[0] + ".").fullmatch(number) or len(number) == 1


def test_to_e164() -> None:
    trunk = TrunkConfig(name="t", host="192.0.2.1", country_code="33")
    assert trunk.to_e164("01 40 00 00 00") == "+33140000000"
    assert trunk.to_e164("0044 20 7946 0000") == "+442079460000"
    assert trunk.to_e164("+1 (212) 555-0100") == "+12125550100"
    assert trunk.to_e164("140000000") == "+33140000000"
    us = TrunkConfig(name="us", host="192.0.2.1", country_code="1", national_prefix="1",
                     international_prefix="011")
    assert us.to_e164("1 212 555 0100") == "+12125550100"
    assert us.to_e164("011 33 1 40 00 00 00") == "+33140000000"
