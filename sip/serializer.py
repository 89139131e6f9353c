"""Message serialization (RFC 3261 §7): full header names, Content-Length from the body."""

from __future__ import annotations

from sip.message import Message, Request

_CONTENT_LENGTH = "content-length"


def start_line(message: Message) -> str:
    if isinstance(message, Request):
        return f"{message.method} {message.uri} {message.version}"
    return f"{message.version} {message.status:03d} {message.reason}"


def serialize(message: Message) -> bytes:
    """Wire form of ``message``.

    Content-Length always states the body length: an existing field is
    rewritten in place, a missing one is appended. Values containing CR or LF
    are refused, since they would inject header lines.
    """
    first = start_line(message)
    if "\r" in first or "\n" in first:
        raise ValueError("start line contains CR or LF")
    lines = [first]
    length_written = False
    for f in message.headers:
        if "\r" in f.value or "\n" in f.value:
            raise ValueError(f"{f.name} value contains CR or LF")
        if f.name.lower() == _CONTENT_LENGTH:
            if length_written:
                continue
            lines.append(f"Content-Length: {len(message.body)}")
            length_written = True
            continue
        lines.append(f"{f.name}: {f.value}")
    if not length_written:
        lines.append(f"Content-Length: {len(message.body)}")
    lines.extend(("", ""))
    head = "\r\n".join(lines).encode("utf-8", "surrogateescape")
    return head + message.body
