"""The contract between an entity actor and the host that runs it.

A behaviour is a kind of actor (``call``, ``agent``, ``queue``, ``campaign``...): how to make the
first state for an address and the pure transition function. State is one frozen record
(a :class:`bus.message.Message` so that the codec can persist it as a snapshot).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, TypeVar

from actors.effects import Effect
from bus.message import Message

S = TypeVar("S", bound=Message)


class Behaviour(Protocol[S]):
    #: the address prefix this behaviour serves (``agent`` serves ``agent/<login>``)
    kind: str

    def initial(self, address: str) -> S:
        """State of an actor that has never run (no snapshot)."""
        ...

    def decide(self, state: S, msg: Message, now: float) -> tuple[S, Sequence[Effect]]:
        """Pure: the next state and the effects to perform. ``now`` is injected time (s)."""
        ...


def kind_of(address: str) -> str:
    kind, sep, rest = address.partition("/")
    if not sep or not kind or not rest:
        raise ValueError(f"actor address must be 'kind/id', got {address!r}")
    return kind
