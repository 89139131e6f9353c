"""Helpers shared by the SIP tests (imported as a plain module from this folder)."""

from __future__ import annotations

from sip.message import Request, Response
from sip.parser import parse_datagram
from sip.serializer import serialize


def fields_without_length(message: Request | Response) -> list[tuple[str, str]]:
    return [(f.name, f.value) for f in message.headers if f.name != "Content-Length"]


def assert_round_trip(message: Request | Response) -> None:
    """serialize -> parse gives the same message (Content-Length is recomputed)."""
    wire = serialize(message)
    again = parse_datagram(wire)
    assert type(again) is type(message)
    if isinstance(message, Request):
        assert isinstance(again, Request)
        assert (again.method, again.uri, again.version) == (
            message.method, message.uri, message.version,
        )  # fmt: skip
    else:
        assert isinstance(again, Response)
        assert (again.status, again.reason) == (message.status, message.reason)
    assert again.body == message.body
    assert fields_without_length(again) == fields_without_length(message)
    assert again.headers.get("Content-Length") == str(len(message.body))
    # A second pass is byte-identical: serialization is a fixed point.
    assert serialize(again) == wire
