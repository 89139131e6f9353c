"""SIP messages by their wire bytes, shared by the SIP port and the call actors it hosts.

Port and call actors hand each other SIP messages as bytes (see ``telephony.messages``):
plain data that survives journals, dead letters and restarts. Within one process the same
bytes would otherwise be parsed again on each side; a :class:`Wire` remembers the message
each byte string was made from or parsed into. Messages are immutable, so sharing them is
safe, and a miss just parses: the cache changes how fast, never what.
"""

from __future__ import annotations

from collections import OrderedDict

from sip.message import Request, Response
from sip.parser import parse_datagram
from sip.serializer import serialize

DEFAULT_SIZE = 8192


class WireFormatError(ValueError):
    """Bytes that should hold a request hold a response, or the other way round."""


class Wire:
    """Messages by their bytes and bytes by their message, each bounded to ``size`` entries.

    ``dump`` of a message this wire parsed or serialised before returns those bytes again
    (they parse to an equal message: that is what the wire was given or made), so a
    response relayed from the far end or a request a call actor built is serialised once,
    not once per layer it passes."""

    __slots__ = ("_bytes", "_items", "hits", "misses", "size")

    def __init__(self, size: int = DEFAULT_SIZE) -> None:
        self.size = size
        # Ordered dicts: dropping the oldest entry of a plain dict (``next(iter(d))``) walks
        # every slot freed since the dict was last compacted, thousands in a full memo.
        self._items: OrderedDict[bytes, Request | Response] = OrderedDict()
        # id(message) -> (message, bytes): the entry holds the message, so the id stays its own
        self._bytes: OrderedDict[int, tuple[Request | Response, bytes]] = OrderedDict()
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
        known = self._bytes.get(id(message))
        if known is not None and known[0] is message:
            return known[1]
        data = serialize(message)
        self._remember(data, message)
        return data

    def _remember(self, data: bytes, message: Request | Response) -> None:
        items = self._items
        if len(items) >= self.size:
            items.popitem(last=False)  # the oldest
        items[data] = message
        by_id = self._bytes
        if len(by_id) >= self.size:
            by_id.popitem(last=False)
        by_id[id(message)] = (message, data)
