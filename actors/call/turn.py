"""One ``decide`` of a call actor: the state being built and the effects collected.

``decide`` stays a pure function - a :class:`Turn` lives only inside one call and is turned
into ``(state, effects)`` at the end - but the SIP logic reads as steps ("answer leg a",
"cancel leg b") instead of threading a state and an effect list through every helper.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

from actors.call.legs import LocalSip
from actors.call.messages import CALLS_TOPIC, CallState, Leg, MediaMode
from actors.call.states import CallEvent, advance
from actors.effects import CancelTimer, Effect, Journal, Publish, Send, StartTimer, Stop
from bus.message import Message, evolve
from conf.schema import Config
from ivr.registry import SchemeRegistry
from sip.message import Request, Response
from telephony.messages import SIP_PORT, Peer, SendRequest, SendResponse
from telephony.wire import Wire


@dataclass(frozen=True, slots=True, kw_only=True)
class CallSettings:
    """What every call actor of one telephony process shares (immutable)."""

    config: Config
    local: LocalSip
    media: MediaMode = "relay"
    #: ringing a phone or a trunk longer than this gives up (Timer C is >3 min, RFC 3261
    #: §16.6; a contact center gives up long before)
    ring_timeout_s: float = 60.0
    #: a transferor that does not hang up after a successful transfer is released after this
    linger_s: float = 5.0
    #: the IVR schemes ``ivr:`` routes run (None: those routes are refused with 480)
    ivr: SchemeRegistry | None = field(default=None, compare=False)
    #: a prompt "plays" this long per character of its text (no media endpoint yet)
    prompt_s_per_char: float = 0.06
    #: parsed messages by their bytes, shared with the SIP port (a memo: never changes results)
    wire: Wire = field(default_factory=Wire, compare=False)


def _slot_setters(cls: type[CallState]) -> dict[str, Any]:
    return {f.name: cls.__dict__[f.name].__set__ for f in fields(cls)}


#: how a turn writes the fields of the record it owns (see :class:`Turn`)
_SETTERS = _slot_setters(CallState)


class Turn:
    __slots__ = ("_owned", "_state", "effects", "now", "settings")

    def __init__(self, settings: CallSettings, state: CallState, now: float) -> None:
        self.settings = settings
        self._state = state
        # Copy on first write: the state given to ``decide`` is never touched; the first
        # change copies it once, and later changes of this turn are written into that copy,
        # which nobody else can see before ``result`` hands it out (a call's turn changes
        # several fields, and reads them between changes: a new record per change or per
        # read was most of what a turn cost).
        self._owned = False
        self.now = now
        self.effects: list[Effect] = []

    @property
    def s(self) -> CallState:
        return self._state

    @property
    def call_id(self) -> str:
        return self._state.call_id

    @property
    def local(self) -> LocalSip:
        return self.settings.local

    # state

    def leg(self, name: str) -> Leg:
        return self._state.legs[name]

    def _set(self, name: str, value: Any) -> None:
        setter = _SETTERS.get(name)
        if setter is None:
            raise TypeError(f"CallState has no field {name!r}")
        if not self._owned:
            self._state = evolve(self._state)
            self._owned = True
        setter(self._state, value)

    def put(self, leg: Leg) -> Leg:
        self._set("legs", {**self._state.legs, leg.name: leg})
        return leg

    def update(self, **changes: Any) -> None:
        for name, value in changes.items():
            self._set(name, value)

    def go(self, event: CallEvent) -> None:
        self._set("phase", advance(self._state.phase, event))

    def next_n(self) -> int:
        n = self._state.seq + 1
        self._set("seq", n)
        return n

    def request(self, data: bytes) -> Request:
        return self.settings.wire.request(data)

    def response(self, data: bytes) -> Response:
        return self.settings.wire.response(data)

    def dump(self, message: Request | Response) -> bytes:
        return self.settings.wire.dump(message)

    def partner(self, name: str) -> Leg | None:
        """The leg ``name`` talks to, if it is bridged."""
        bridge = self.s.bridge
        if len(bridge) == 2 and name in bridge:
            other = bridge[1] if bridge[0] == name else bridge[0]
            return self.s.legs.get(other)
        return None

    def free_leg_name(self) -> str:
        for letter in "bcdefghijklmnopqrstuvwxyz":
            if letter not in self.s.legs and letter not in self.s.moved:
                return letter
        raise RuntimeError(f"call {self.call_id} has used every leg name")

    # effects

    def send(self, leg: Leg, request: Request, peer: Peer | None = None) -> None:
        msg = SendRequest(call_id=self.call_id, leg=leg.name, request=self.dump(request),
                          peer=peer)
        self.effects.append(Send(to=SIP_PORT, msg=msg))

    def respond(self, leg: Leg, tx: str, response: Response) -> None:
        msg = SendResponse(call_id=self.call_id, leg=leg.name, tx=tx,
                           response=self.dump(response))
        self.effects.append(Send(to=SIP_PORT, msg=msg))

    def tell(self, to: str, msg: Message) -> None:
        self.effects.append(Send(to=to, msg=msg))

    def journal(self, event: Message) -> None:
        self.effects.append(Journal(event=event))
        self.effects.append(Publish(topic=CALLS_TOPIC, msg=event))

    def timer(self, key: str, after_s: float, msg: Message) -> None:
        self.effects.append(StartTimer(key=key, after_s=after_s, msg=msg))

    def cancel_timer(self, key: str) -> None:
        self.effects.append(CancelTimer(key=key))

    def stop(self) -> None:
        self.effects.append(Stop())

    def result(self) -> tuple[CallState, list[Effect]]:
        return self.s, self.effects
