"""The port's and the call actors' shared memo of SIP messages by their bytes, both ways."""

from __future__ import annotations

import pytest

from sip.message import Request
from sip.serializer import serialize
from telephony.wire import Wire, WireFormatError
from tests.actors.call.support import request_text


def test_bytes_parsed_once_give_the_same_message_and_back_the_same_bytes() -> None:
    wire = Wire()
    data = request_text("INVITE", call_id="c1", from_tag="x", body=b"v=0\r\n")
    message = wire.request(data)
    assert wire.request(data) is message and (wire.hits, wire.misses) == (1, 1)
    assert wire.dump(message) is data  # relayed as received: not serialised again


def test_a_built_message_is_serialised_once() -> None:
    wire = Wire()
    message = wire.request(request_text("BYE", call_id="c1", from_tag="x", to_tag="y"))
    changed = message.with_headers(message.headers.replaced("Max-Forwards", "69"))
    data = wire.dump(changed)
    assert data == serialize(changed) and wire.dump(changed) is data
    assert wire.request(data) is changed


def test_both_memos_stay_within_their_size() -> None:
    wire = Wire(size=3)
    messages = [wire.request(request_text("OPTIONS", call_id=f"c{i}", from_tag="x"))
                for i in range(10)]
    assert len(wire._items) == 3 and len(wire._bytes) == 3
    oldest = messages[0]
    again = wire.dump(oldest)  # forgotten: serialised anew, still right
    assert again == serialize(oldest)
    assert isinstance(wire.parse(again), Request)


def test_a_response_where_a_request_belongs_is_refused() -> None:
    wire = Wire()
    with pytest.raises(WireFormatError):
        wire.response(request_text("OPTIONS", call_id="c1", from_tag="x"))
