"""What a pure ``decide`` may ask its host to do. The host performs these, in order.

An actor never touches sockets, clocks or the database itself: it returns effects. That keeps
``decide`` a pure function that tests can drive message by message with a fake ``now``.
"""

from __future__ import annotations

from dataclasses import dataclass

from bus.message import Message


@dataclass(frozen=True, slots=True, kw_only=True)
class Send:
    """Tell ``to`` (an address ``kind/id``) ``msg``; location-transparent."""

    to: str
    msg: Message


@dataclass(frozen=True, slots=True, kw_only=True)
class Reply:
    """Answer the ask being handled (ignored when the message was a plain tell)."""

    msg: Message


@dataclass(frozen=True, slots=True, kw_only=True)
class Fail:
    """Answer the ask being handled with a typed error the sender sees (``code`` is stable)."""

    code: str
    text: str


@dataclass(frozen=True, slots=True, kw_only=True)
class StartTimer:
    """Deliver ``msg`` to this actor after ``after_s``; a timer with the same key is replaced."""

    key: str
    after_s: float
    msg: Message


@dataclass(frozen=True, slots=True, kw_only=True)
class CancelTimer:
    key: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Journal:
    """Append ``event`` to the durable journal under this actor's address.

    Sends and replies produced by the same ``decide`` are held back until the journal has
    committed the event, so nothing a peer saw acknowledged can be lost by a crash.
    """

    event: Message


@dataclass(frozen=True, slots=True, kw_only=True)
class Publish:
    """Broadcast ``msg`` on a pub/sub topic (``agents``, ``calls``, ``queues``, ``help``...)."""

    topic: str
    msg: Message


@dataclass(frozen=True, slots=True, kw_only=True)
class Stop:
    """This actor is done: the host drops it (its snapshot is deleted)."""


Effect = Send | Reply | Fail | StartTimer | CancelTimer | Journal | Publish | Stop
