"""The simplified G.107 E-model for G.711 legs (media.quality)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from media.quality import (
    G711_BPL_NO_PLC,
    delay_impairment,
    loss_impairment,
    mos_from_r,
    one_way_delay_ms,
    r_factor,
)


def test_a_clean_call_scores_the_g711_ceiling() -> None:
    d = one_way_delay_ms(rtt_ms=None, jitter_ms=0.0)
    assert d == 20.0
    r = r_factor(loss_pct=0.0, one_way_ms=d)
    assert r == pytest.approx(93.2 - 0.48)
    assert mos_from_r(r) == pytest.approx(4.40, abs=0.005)


def test_known_points_of_the_model() -> None:
    # Ie_eff = 95 Ppl / (Ppl + Bpl): 1 % with concealment, 1 % without
    assert loss_impairment(1.0) == pytest.approx(95 / 26.1)
    assert loss_impairment(1.0, bpl=G711_BPL_NO_PLC) == pytest.approx(95 / 5.3)
    assert loss_impairment(100.0) == pytest.approx(95 * 100 / 125.1)
    # Id: linear to 177.3 ms, steeper beyond
    assert delay_impairment(100.0) == pytest.approx(2.4)
    assert delay_impairment(300.0) == pytest.approx(7.2 + 0.11 * 122.7)
    # one-way delay: half the round trip, twice the jitter, one frame
    assert one_way_delay_ms(rtt_ms=80.0, jitter_ms=5.0) == 40 + 10 + 20
    # G.107 Annex B anchors
    assert mos_from_r(0.0) == 1.0
    assert mos_from_r(100.0) == 4.5
    assert mos_from_r(50.0) == pytest.approx(1 + 1.75 + 7e-6 * 50 * -10 * 50)
    assert mos_from_r(80.0) == pytest.approx(4.02, abs=0.01)


def test_heavy_loss_and_delay_make_a_bad_call() -> None:
    r = r_factor(loss_pct=20.0, one_way_ms=one_way_delay_ms(rtt_ms=400.0, jitter_ms=40.0))
    assert r < 40
    assert mos_from_r(r) < 2.1


@settings(max_examples=200)
@given(loss=st.floats(0, 100), extra_loss=st.floats(0.01, 50), delay=st.floats(0, 800),
       extra_delay=st.floats(0.5, 400))
def test_more_loss_or_more_delay_never_scores_better(
    loss: float, extra_loss: float, delay: float, extra_delay: float
) -> None:
    r = r_factor(loss_pct=loss, one_way_ms=delay)
    assert 0.0 <= r <= 100.0
    assert r_factor(loss_pct=loss + extra_loss, one_way_ms=delay) <= r
    assert r_factor(loss_pct=loss, one_way_ms=delay + extra_delay) <= r
    assert 1.0 <= mos_from_r(r) <= 4.5
    assert mos_from_r(r_factor(loss_pct=loss + extra_loss, one_way_ms=delay)) <= mos_from_r(r)
