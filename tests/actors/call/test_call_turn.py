"""A turn writes into one copy of the call state it was given, never into that state."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from actors.call.behaviour import CallBehaviour
from actors.call.messages import CallState, Leg
from actors.call.turn import Turn
from actors.effects import Effect
from bus.catalogue import default_codec
from bus.message import Message
from telephony.messages import SendRequest
from tests.actors.call.support import Calls, as_request, settings
from tests.actors.call.test_call_setup import CALL, caller_request, connected

CODEC = default_codec()


class Watched(CallBehaviour):
    """Checks, around every decide, that the state it was given is left as it was."""

    def __init__(self) -> None:
        super().__init__(settings())
        self.turns = 0

    def decide(self, state: CallState, msg: Message,
               now: float) -> tuple[CallState, Sequence[Effect]]:
        before = CODEC.encode(state)
        new, effects = super().decide(state, msg, now)
        assert CODEC.encode(state) == before, f"decide changed its input on {msg.TAG}"
        self.turns += 1
        return new, effects


def test_a_whole_call_never_changes_the_states_it_was_given() -> None:
    watched = Watched()
    calls = Calls(behaviour=watched)
    invite_b = connected(calls)
    calls.peer_request(CALL, "a", caller_request("BYE", 2))
    bye = next(as_request(m.request) for m in calls.take(CALL) if isinstance(m, SendRequest))
    calls.answer(CALL, "b", bye, 200)
    assert calls.state(CALL).phase == "ended" and invite_b.method == "INVITE"
    assert watched.turns == 7  # INVITE, Located, 180, 200, ACK, BYE, 200 to BYE


def test_a_turn_that_changes_nothing_hands_back_the_same_record() -> None:
    state = CallState(call_id=CALL, legs={"a": Leg(name="a", role="uas")})
    t = Turn(settings(), state, 1.0)
    assert t.s is state and t.result()[0] is state


def test_writes_go_to_one_copy_read_back_at_once() -> None:
    state = CallState(call_id=CALL)
    t = Turn(settings(), state, 1.0)
    t.put(Leg(name="a", role="uas"))
    first = t.s
    t.update(route="agent:anna", caller="+331")
    assert t.next_n() == 1 and t.next_n() == 2
    assert t.s is first and (t.s.route, t.s.caller, t.s.seq) == ("agent:anna", "+331", 2)
    assert set(t.s.legs) == {"a"}
    assert state == CallState(call_id=CALL)  # the input is untouched
    with pytest.raises(TypeError, match="no field 'nope'"):
        t.update(nope=1)
