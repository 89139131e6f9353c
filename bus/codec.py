"""The one place that turns messages into msgpack bytes and back.

Wire form of a message: ``[tag, version, [field, ...]]`` (positional fields keep frames small
and decoding cheap). Decoding validates the tag, the version and every field and raises a
:class:`bus.errors.DecodeError` subclass naming the offending place; it never returns a dict.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import msgpack

from bus.errors import DecodeError, UnknownMessage, VersionMismatch
from bus.message import Message, build, compiled_fields, to_wire


class Catalogue:
    """The set of message classes a node understands, by wire tag."""

    def __init__(self, classes: Iterable[type[Message]]) -> None:
        self._by_tag: dict[str, type[Message]] = {}
        for cls in classes:
            self.add(cls)

    def add(self, cls: type[Message]) -> None:
        if not cls.TAG:
            raise TypeError(f"{cls.__qualname__} has no TAG: declare it with @message(...)")
        seen = self._by_tag.get(cls.TAG)
        if seen is not None and seen is not cls:
            raise TypeError(
                f"tag {cls.TAG!r} used by both {seen.__qualname__} and {cls.__qualname__}"
            )
        compiled_fields(cls)  # fail at start-up, not on the first message
        self._by_tag[cls.TAG] = cls

    def get(self, tag: object) -> type[Message]:
        if type(tag) is not str:
            raise UnknownMessage(tag)
        cls = self._by_tag.get(tag)
        if cls is None:
            raise UnknownMessage(tag)
        return cls

    def __contains__(self, tag: object) -> bool:
        return tag in self._by_tag

    def tags(self) -> list[str]:
        return sorted(self._by_tag)


class Codec:
    def __init__(self, catalogue: Catalogue) -> None:
        self.catalogue = catalogue
        self._packer = msgpack.Packer(use_bin_type=True)

    def to_obj(self, msg: Message) -> list[Any]:
        return [msg.TAG, msg.VERSION, to_wire(msg)]

    def from_obj(self, obj: Any) -> Message:
        if not isinstance(obj, list | tuple) or len(obj) != 3:
            raise DecodeError(f"a message is [tag, version, fields]; got {type(obj).__name__}")
        tag, version, values = obj
        cls = self.catalogue.get(tag)
        if version != cls.VERSION:
            raise VersionMismatch(cls.TAG, version, cls.VERSION)
        return build(cls, values)

    def encode(self, msg: Message) -> bytes:
        packed: bytes = self._packer.pack(self.to_obj(msg))
        return packed

    def decode(self, data: bytes) -> Message:
        try:
            obj = msgpack.unpackb(data, raw=False, use_list=False, strict_map_key=False)
        except Exception as exc:  # msgpack raises several unrelated types
            raise DecodeError(f"not msgpack: {exc}") from None
        return self.from_obj(obj)
