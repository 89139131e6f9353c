"""``[sip] tcp_idle_timeout_s`` and ``tcp_max_connections_per_source``: defaults, the demo's
values, and every bad value refused with the key named."""

from __future__ import annotations

from pathlib import Path

import pytest

from conf.load import load_config, parse_config
from conf.schema import ConfigError, SipConfig

DEMO = Path(__file__).resolve().parents[2] / "conf" / "contactor.toml"


def sip_with(line: str) -> str:
    return f'[sip]\nlisten = "127.0.0.1:5060"\n{line}\n'


def test_defaults_are_the_transports_historic_limits() -> None:
    sip = parse_config("").sip
    assert (sip.tcp_idle_timeout_s, sip.tcp_max_connections_per_source) == (600.0, 64)
    assert sip == SipConfig()


def test_the_demo_config_spells_both_keys_out() -> None:
    text = DEMO.read_text(encoding="utf-8")
    assert "tcp_idle_timeout_s =" in text and "tcp_max_connections_per_source =" in text
    sip = load_config(DEMO).sip
    assert (sip.tcp_idle_timeout_s, sip.tcp_max_connections_per_source) == (600.0, 64)


@pytest.mark.parametrize(("line", "idle", "most"), [
    ("tcp_idle_timeout_s = 0", 0.0, 64),
    ("tcp_idle_timeout_s = 30", 30.0, 64),
    ("tcp_idle_timeout_s = 3600.5", 3600.5, 64),
    ("tcp_max_connections_per_source = 1", 600.0, 1),
    ("tcp_max_connections_per_source = 5000", 600.0, 5000),
])
def test_good_values_are_taken(line: str, idle: float, most: int) -> None:
    sip = parse_config(sip_with(line)).sip
    assert (sip.tcp_idle_timeout_s, sip.tcp_max_connections_per_source) == (idle, most)


@pytest.mark.parametrize(("line", "message"), [
    ('tcp_idle_timeout_s = "10m"',
     "sip.tcp_idle_timeout_s: expected a number from 0.0 to 86400.0; got '10m'"),
    ("tcp_idle_timeout_s = -1",
     "sip.tcp_idle_timeout_s: expected a number from 0.0 to 86400.0; got -1.0"),
    ("tcp_idle_timeout_s = 5",
     "sip.tcp_idle_timeout_s: expected 0 (never close) or a number from 30 to 86400; got 5"),
    ("tcp_idle_timeout_s = 100000",
     "sip.tcp_idle_timeout_s: expected a number from 0.0 to 86400.0; got 100000.0"),
    ("tcp_idle_timeout_s = true",
     "sip.tcp_idle_timeout_s: expected a number from 0.0 to 86400.0; got true"),
    ("tcp_max_connections_per_source = 0",
     "sip.tcp_max_connections_per_source: expected an integer from 1 to 100000; got 0"),
    ("tcp_max_connections_per_source = 2.5",
     "sip.tcp_max_connections_per_source: expected an integer from 1 to 100000; got 2.5"),
    ('tcp_max_connections_per_source = "64"',
     "sip.tcp_max_connections_per_source: expected an integer from 1 to 100000; got '64'"),
    ("tcp_max_connection_per_source = 8",
     "sip.tcp_max_connection_per_source: unknown key (did you mean "
     "'tcp_max_connections_per_source'?)"),
])
def test_a_bad_value_is_refused_naming_the_key(line: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(sip_with(line), source="center.toml")
    assert str(info.value) == f"center.toml:3: {message}"
