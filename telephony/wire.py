"""SIP messages by their wire bytes, shared by the SIP port and the call actors it hosts.

Port and call actors hand each other SIP messages as bytes (see ``telephony.messages``):
plain data that survives journals, dead letters and restarts. Within one process the same
bytes would otherwise be parsed again on each side; a :class:`Wire` remembers the message
each byte string was made from or parsed into. Messages are immutable, so sharing them is
safe, and a miss just parses: the cache changes how fast, never what.
"""

from __future__ import annotations

from sip.message import Request, Response
from sip.parser import parse_datagram
from sip.serializer import serialize

DEFAULT_SIZE = 8192


class WireFormatError(ValueError):
    """Bytes that should hold a request hold a response, or the other way round."""


class Wire:
    __slots__ = ("_items", "hits", "misses", "size")

    def __init__(self, size: int = DEFAULT_SIZE) -> None:
        self.size = size
        self._items: dict[bytes, Request | Response] = {}
        self.hits = 0
        self.misses = 0

    def parse(self, data: bytes) -> Request | Response:
        message = self._items.get(data)
        if message is not None:
            self.hits += 1
            return message
        self.misses += 1
        message = parse_datagram(data)
        self._remember(data, message)
        return message

    def request(self, data: bytes) -> Request:
        message = self.parse(data)
        if not isinstance(message, Request):
            raise WireFormatError("expected a SIP request, got a response")
        return message

    def response(self, data: bytes) -> Response:
        message = self.parse(data)
        if not isinstance(message, Response):
            raise WireFormatError("expected a SIP response, got a request")
        return message

    def dump(self, message: Request | Response) -> bytes:
        data = serialize(message)
        self._remember(data, message)
        return data

    def _remember(self, data: bytes, message: Request | Response) -> None:
        items = self._items
        if len(items) >= self.size:
            del items[next(iter(items))]  # oldest first: dicts keep insertion order
        items[data] = message
