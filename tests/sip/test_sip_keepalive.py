"""RFC 5626 keep-alives as the stream framer sees them: a CRLFCRLF ping between messages is a
:class:`KeepAlive` (the transport answers one CRLF, §4.4.1), and a lone CRLF between
messages (the pong form, or what RFC 3261 §7.5 lets precede a message) is skipped without an
error, however the bytes are cut into segments. On UDP only datagrams of CRLFs are
keep-alives; STUN is in test_sip_stun."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from sip.errors import SipParseError
from sip.message import Request
from sip.parser import KeepAlive, StreamFramer, is_keepalive, parse_datagram
from sip.serializer import serialize

PING = b"\r\n\r\n"


def options(branch: str) -> bytes:
    text = (f"OPTIONS sip:pbx@example.com SIP/2.0\r\nVia: SIP/2.0/TCP 192.0.2.1;branch={branch}"
            "\r\nMax-Forwards: 70\r\nFrom: <sip:a@example.com>;tag=1\r\n"
            "To: <sip:pbx@example.com>\r\nCall-ID: k1\r\nCSeq: 1 OPTIONS\r\n\r\n")
    return serialize(parse_datagram(text.encode()))  # in the serializer's own spelling


def feed_all(chunks: list[bytes]) -> list[object]:
    framer = StreamFramer()
    return [item for chunk in chunks for item in framer.feed(chunk)]


def test_pings_and_stray_crlfs_between_messages() -> None:
    first, second = options("z9hG4bK1"), options("z9hG4bK2")
    items = feed_all([PING + first + b"\r\n" + second + PING + PING])
    kinds = [type(item).__name__ for item in items]
    assert kinds == ["KeepAlive", "Request", "Request", "KeepAlive", "KeepAlive"]
    # a ping cut in two is one ping; a lone CRLF waits to see whether it is one
    framer = StreamFramer()
    assert framer.feed(b"\r\n") == [] and framer.buffered == 2
    assert framer.feed(b"\r\n") == [KeepAlive()] and framer.buffered == 0
    assert framer.feed(b"\r\n") == []
    (request,) = framer.feed(first)
    assert isinstance(request, Request) and request.top_via.branch == "z9hG4bK1"


def test_crlf_datagrams_are_keepalives_and_nothing_else_is() -> None:
    assert is_keepalive(b"\r\n") and is_keepalive(PING) and is_keepalive(b"\n")
    assert not is_keepalive(b"") and not is_keepalive(b"\r\n" + options("z9hG4bK1"))


@settings(max_examples=150, deadline=None)
@given(st.lists(st.sampled_from(["msg", "ping", "crlf"]), min_size=1, max_size=8), st.data())
def test_any_mix_of_messages_pings_and_crlfs_in_any_segments(plan: list[str],
                                                             data: st.DataObject) -> None:
    sent: list[bytes] = []
    stream = b""
    previous = ""
    for n, step in enumerate(plan):
        if step == "msg":
            message = options(f"z9hG4bK{n}")
            sent.append(message)
            stream += message
        elif step == "ping" or previous == "crlf":
            stream += PING  # two stray CRLFs in a row would be a ping anyway
        else:
            stream += b"\r\n"
        previous = step
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=6)))
    chunks = [stream[a:b] for a, b in zip([0, *cuts], [*cuts, len(stream)], strict=True)]
    items = feed_all(chunks)
    assert not any(isinstance(item, SipParseError) for item in items)
    assert [serialize(i) for i in items if isinstance(i, Request)] == sent
    assert all(isinstance(i, Request | KeepAlive) for i in items)
    assert sum(isinstance(i, KeepAlive) for i in items) >= plan.count("ping")
