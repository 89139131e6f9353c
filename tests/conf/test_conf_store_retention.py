"""``[store] tombstone_retention_s``: default a day, 0 keeps tombstones forever, anything
shorter than late messages need is refused with the key named."""

from __future__ import annotations

from pathlib import Path

import pytest

from conf.load import load_config, parse_config
from conf.schema import ConfigError

DEMO = Path(__file__).resolve().parents[2] / "conf" / "contactor.toml"


def test_default_and_demo() -> None:
    assert parse_config("").store.tombstone_retention_s == 86400.0
    assert "tombstone_retention_s =" in DEMO.read_text(encoding="utf-8")
    assert load_config(DEMO).store.tombstone_retention_s == 86400.0


@pytest.mark.parametrize(("value", "kept"), [("0", 0.0), ("600", 600.0), ("604800", 604800.0)])
def test_good_values(value: str, kept: float) -> None:
    text = f"[store]\ntombstone_retention_s = {value}\n"
    assert parse_config(text).store.tombstone_retention_s == kept


@pytest.mark.parametrize(("value", "message"), [
    ("60", "expected 0 (keep forever) or at least 600 seconds (late messages to ended "
           "calls); got 60"),
    ("-1", "expected a number >= 0.0; got -1.0"),
    ('"1d"', "expected a number >= 0.0; got '1d'"),
])
def test_bad_values_name_the_key(value: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(f"[store]\ntombstone_retention_s = {value}\n", source="c.toml")
    assert str(info.value) == f"c.toml:2: store.tombstone_retention_s: {message}"
