"""``[media] inband_dtmf_with_rfc4733``: whether legs that negotiated RFC 4733 are also
watched for in-band tones (default yes; no is Asterisk's dtmf_mode=auto)."""

from __future__ import annotations

import pytest

from conf.load import parse_config
from conf.schema import ConfigError


def test_default_watches_every_leg() -> None:
    media = parse_config("").media
    assert media.inband_dtmf and media.inband_dtmf_with_rfc4733


def test_auto_mode() -> None:
    media = parse_config("[media]\ninband_dtmf_with_rfc4733 = false\n").media
    assert media.inband_dtmf and not media.inband_dtmf_with_rfc4733


def test_a_wrong_value_names_the_key() -> None:
    with pytest.raises(ConfigError) as info:
        parse_config('[media]\ninband_dtmf_with_rfc4733 = "auto"\n', source="c.toml")
    assert "c.toml:2: media.inband_dtmf_with_rfc4733:" in str(info.value)
