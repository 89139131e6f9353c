"""Trunks by source address, E.164 numbers and the route table."""

from __future__ import annotations

from pathlib import Path

import pytest

from conf.load import parse_config
from conf.schema import Config
from sip.message import Request
from sip.parser import parse_datagram
from telephony.ids import leg_branch, leg_tag, new_call_id, parse_branch, parse_tag
from telephony.routing import (
    RoutingError,
    outbound_trunk,
    route_call,
    trunk_for_source,
    trunk_request_uri,
)
from tests.actors.call.support import CONFIG, request_text

CONFIG_TWO_TRUNKS = CONFIG + """
[[trunk]]
name = "backup"
host = "198.51.100.5"
port = 5080
transport = "tcp"
outbound_prefix = "9"
"""


def config() -> Config:
    return parse_config(CONFIG_TWO_TRUNKS, source=Path("t.toml"))


def invite(uri: str) -> Request:
    message = parse_datagram(request_text("INVITE", call_id="r", from_tag="x", uri=uri))
    assert isinstance(message, Request)
    return message


def test_trunks_are_recognised_by_allow_list_or_host() -> None:
    c = config()
    carrier = trunk_for_source(c, "192.0.2.10")
    assert carrier is not None and carrier.name == "carrier"
    backup = trunk_for_source(c, "198.51.100.5")
    assert backup is not None and backup.name == "backup"
    assert trunk_for_source(c, "192.0.2.11") is None
    assert trunk_for_source(c, "not-an-ip") is None


def test_trunk_numbers_become_e164_and_routes_match_either_spelling() -> None:
    c = config()
    national = route_call(c, invite("sip:0612345678@127.0.0.1"), c.trunk("carrier"))
    assert national.target == "external:+33612345678" and national.dialled == "+33612345678"
    assert national.caller == "+33140000001"
    internal = route_call(c, invite("sip:5000@127.0.0.1"), None)
    assert internal.target == "agent:anna" and internal.dialled == "5000"
    assert route_call(c, invite("sip:777@127.0.0.1"), None).target is None


def test_outbound_trunks_and_their_request_uris() -> None:
    c = config()
    assert outbound_trunk(c, None).name == "carrier"
    backup = outbound_trunk(c, "backup")
    assert trunk_request_uri(backup, "+3312") == "sip:9+3312@198.51.100.5:5080;transport=tcp"
    with pytest.raises(RoutingError, match="unknown trunk 'nope'"):
        outbound_trunk(c, "nope")


def test_our_tags_and_branches_name_the_call_and_leg() -> None:
    call = new_call_id()
    assert parse_tag(leg_tag(call, "b")) == (call, "b")
    assert parse_branch(leg_branch(call, "c", 12)) == (call, "c")
    assert parse_tag("1918181833n") is None and parse_branch("z9hG4bKkdjuw") is None
    assert parse_tag(None) is None
