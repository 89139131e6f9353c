"""What a simulated user agent (:mod:`sim.wire.ua`) tells the script driving it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True, slots=True, kw_only=True)
class Registered:
    """A REGISTER got its final answer (after answering a digest challenge)."""

    user: str
    ok: bool
    status: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Incoming:
    """A new INVITE; ring, answer or reject it through the user agent."""

    call_id: str
    user: str  # the Request-URI user (which phone)
    caller: str  # the From URI


@dataclass(frozen=True, slots=True, kw_only=True)
class Provisional:
    call_id: str
    status: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Answered:
    """Our INVITE got a 2xx (ACKed already)."""

    call_id: str
    status: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Failed:
    """Our INVITE failed: a final 3xx-6xx, 487 after our CANCEL, or 408 for no answer at all."""

    call_id: str
    status: int


@dataclass(frozen=True, slots=True, kw_only=True)
class MediaUpdated:
    """Offer/answer completed (2xx, ACK or re-INVITE): the call's media has a new far end."""

    call_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Ended:
    """The call is over: ``by`` which side, ``how`` (bye, cancel, no_ack)."""

    call_id: str
    by: Literal["local", "remote"]
    how: str


@dataclass(frozen=True, slots=True, kw_only=True)
class InfoDone:
    """The final answer to an in-dialog INFO we sent (408: none came)."""

    call_id: str
    status: int


UaEvent = Registered | Incoming | Provisional | Answered | Failed | MediaUpdated | Ended | InfoDone
