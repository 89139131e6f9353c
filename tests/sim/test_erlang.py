from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sim import erlang


def erlang_c_textbook(c: int, a: float) -> float:
    """The formula as printed (factorials): fine for small c."""
    top = a**c / math.factorial(c) * c / (c - a)
    return top / (sum(a**k / math.factorial(k) for k in range(c)) + top)


def test_two_agents_one_erlang_wait_one_call_in_three() -> None:
    assert erlang.erlang_c(2, 1.0) == pytest.approx(1 / 3)


def test_erlang_b_of_one_server() -> None:
    assert erlang.erlang_b(1, 3.0) == pytest.approx(3 / 4)


def test_classic_table_value() -> None:
    # 10 agents, 8 erlangs: P(wait) 0.4092 (published Erlang C tables)
    assert erlang.erlang_c(10, 8.0) == pytest.approx(0.4092, abs=5e-4)


@settings(max_examples=200)
@given(c=st.integers(1, 60), rho=st.floats(0.01, 0.99))
def test_recursion_equals_textbook_formula(c: int, rho: float) -> None:
    a = rho * c
    assert erlang.erlang_c(c, a) == pytest.approx(erlang_c_textbook(c, a), rel=1e-9)


@settings(max_examples=200)
@given(c=st.integers(1, 2000), rho=st.floats(0.01, 0.99))
def test_probability_monotone_in_load_and_agents(c: int, rho: float) -> None:
    a = rho * c
    p = erlang.erlang_c(c, a)
    assert 0.0 <= p < 1.0  # (underflows to 0 for a huge, idle center)
    assert erlang.erlang_c(c, a * 0.99) <= p
    assert erlang.erlang_c(c + 1, a) <= p


def test_asa_and_service_level_follow_the_formulas() -> None:
    c, a, aht = 20, 18.0, 10.0
    p = erlang.erlang_c(c, a)
    assert erlang.asa(c, a, aht) == pytest.approx(p * aht / (c - a))
    assert erlang.service_level(c, a, aht, 0.0) == pytest.approx(1 - p)
    assert erlang.service_level(c, a, aht, 5.0) == pytest.approx(1 - p * math.exp(-1.0))
    assert erlang.service_level(c, a, aht, 1e6) == pytest.approx(1.0)


def test_large_center_does_not_overflow() -> None:
    # factorials of 1000 overflow a float; the recursion does not
    p = erlang.erlang_c(1000, 980.0)
    assert 0.3 < p < 0.5


def test_figures_none_without_steady_state() -> None:
    assert erlang.figures(10, 1.0, 10.0, 20.0) is None  # 10 erlangs on 10 agents
    f = erlang.figures(10, 0.8, 10.0, 5.0)
    assert f is not None and f.occupancy == pytest.approx(0.8)


@pytest.mark.parametrize(("c", "a"), [(0, 0.5), (5, 5.0), (5, 7.0), (5, -1.0)])
def test_outside_the_model_is_an_error(c: int, a: float) -> None:
    with pytest.raises(erlang.ErlangError, match="agents|load"):
        erlang.erlang_c(c, a)
