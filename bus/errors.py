"""Errors of the bus layer. Each has a stable ``code`` that clients and logs can match on."""

from __future__ import annotations

from typing import Any


class BusError(Exception):
    """Base of every bus error; ``code`` is stable and shown to users."""

    code = "bus.error"


class DecodeError(BusError, ValueError):
    """Bytes that are not a valid bus message."""

    code = "bus.decode"


class UnknownMessage(DecodeError):
    code = "bus.unknown_message"

    def __init__(self, tag: object) -> None:
        super().__init__(f"unknown message tag {tag!r}")
        self.tag = tag


class VersionMismatch(DecodeError):
    code = "bus.version"

    def __init__(self, tag: str, got: object, want: int) -> None:
        super().__init__(
            f"message {tag!r}: version {got!r} is not supported (this node speaks {want})"
        )
        self.tag = tag


class FieldError(DecodeError):
    """A field failed validation; ``path`` names it (``queue.enqueue.priority``)."""

    code = "bus.field"

    def __init__(self, path: str, expected: str, got: Any) -> None:
        shown = repr(got)
        if len(shown) > 80:
            shown = shown[:77] + "..."
        super().__init__(f"{path}: expected {expected}, got {type(got).__name__} {shown}")
        self.path = path


class AskTimeout(BusError, TimeoutError):
    code = "bus.timeout"


class NoRoute(BusError, LookupError):
    """No host serves the address's kind, or the peer is gone."""

    code = "bus.no_route"


class RemoteError(BusError):
    """The receiving side answered an ask with an error (``code`` from the remote)."""

    def __init__(self, code: str, text: str) -> None:
        super().__init__(f"{code}: {text}")
        self.code = code
        self.text = text
