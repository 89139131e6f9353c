"""The queue actor ``queue/<name>``: its line of calls, announcements, overflow, callbacks."""

from __future__ import annotations

from actors.queue import messages as _m
from bus.message import Message

#: every message class of this package, for the bus catalogue
QUEUE_MESSAGES: tuple[type[Message], ...] = tuple(
    v
    for v in vars(_m).values()
    if isinstance(v, type) and issubclass(v, Message) and v is not Message
)
