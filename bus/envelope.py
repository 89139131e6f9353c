"""Envelopes: a message plus where it goes and where its answer goes. Sans-IO framing.

Wire form of one envelope: ``[kind, to, reply_to, corr, tag, version, fields]``; a frame on a
ZeroMQ socket is a msgpack array of envelopes, so that peers batch under load for free.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any, NamedTuple

import msgpack

from bus.codec import Codec
from bus.errors import DecodeError
from bus.message import Message

TELL = 0
ASK = 1
REPLY = 2
ERROR = 3
KINDS = (TELL, ASK, REPLY, ERROR)


class Envelope(NamedTuple):
    """A named tuple rather than a dataclass: one is made per message, and tuples are cheap."""

    kind: int
    to: str
    msg: Message
    reply_to: str = ""
    corr: int = 0


@dataclass(frozen=True, slots=True)
class BadEnvelope:
    """One envelope of a frame that failed to decode; the rest of the frame still counts."""

    error: DecodeError
    reply_to: str
    corr: int
    kind: int


def encode_frame(codec: Codec, envelopes: Iterable[Envelope]) -> bytes:
    out = []
    for e in envelopes:
        tag, version, fields = codec.to_obj(e.msg)
        out.append((e.kind, e.to, e.reply_to, e.corr, tag, version, fields))
    return msgpack.packb(out, use_bin_type=True)  # type: ignore[no-any-return]


def decode_frame(codec: Codec, data: bytes) -> Iterator[Envelope | BadEnvelope]:
    """Yield each envelope of a frame; a broken one yields :class:`BadEnvelope`, never raises
    past the first level (a frame that is not msgpack at all raises ``DecodeError``)."""
    try:
        items = msgpack.unpackb(data, raw=False, use_list=False, strict_map_key=False)
    except Exception as exc:
        raise DecodeError(f"bus frame is not msgpack: {exc}") from None
    if not isinstance(items, tuple):
        raise DecodeError(f"bus frame must be an array of envelopes, got {type(items).__name__}")
    for item in items:
        yield _one(codec, item)


def _one(codec: Codec, item: Any) -> Envelope | BadEnvelope:
    if not isinstance(item, tuple) or len(item) != 7:
        return BadEnvelope(DecodeError("envelope must be an array of 7 items"), "", 0, TELL)
    kind, to, reply_to, corr, tag, version, fields = item
    if (
        kind not in KINDS
        or type(to) is not str
        or type(reply_to) is not str
        or type(corr) is not int
    ):
        err = DecodeError("envelope header must be [kind 0-3, to str, reply_to str, corr int]")
        safe_reply = reply_to if type(reply_to) is str else ""
        return BadEnvelope(err, safe_reply, corr if type(corr) is int else 0, TELL)
    try:
        msg = codec.from_obj((tag, version, fields))
    except DecodeError as exc:
        return BadEnvelope(exc, reply_to, corr, kind)
    return Envelope(kind, to, msg, reply_to, corr)
