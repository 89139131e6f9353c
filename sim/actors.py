"""The simulated people: callers (standing in for the call actor) and agents at their desks.

Both are behaviours run by the real host next to the real agent, queue and matcher actors:

* ``call/<id>`` - :class:`CallerBehaviour`: enqueues, abandons when its patience runs out,
  answers the agent's ``RingPhone`` with ``Ring`` (the 180) and, when the agent picks up,
  ``Answered``; hangs up after the talk time with ``CallEnded``. Follows queue overflows.
* ``desk/<login>`` - :class:`DeskBehaviour`: logs the agent in and makes it ready, picks up
  after the answer delay (drawing the talk time), ends wrap-up with ``WrapUpDone`` after a
  drawn wrap-up, takes pauses, and comes back ready after a no-answer. It follows its agent
  through the ``agents`` topic (the desktop's subscription), so it reacts to the real state.

Callers are pure (their times come in :class:`CallerStart`). Desks draw their times from the
run's one seeded :class:`numpy.random.Generator`, given at construction; the host delivers
mail in a deterministic order, so a seed replays the same run.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Literal

import numpy as np

from actors.agent.messages import (
    AgentTransition,
    Answered,
    CallEnded,
    CancelRing,
    Login,
    Pause,
    Ready,
    Ring,
    RingPhone,
    WrapUpDone,
)
from actors.effects import CancelTimer, Effect, Send, StartTimer, Stop
from actors.queue.messages import Abandon, Enqueue, Overflow
from bus.message import Message, message
from sim.scenario import AgentGroup

#: wrap-up auto-timeout given to agents whose wrap-up the desk ends itself (never reached)
DESK_WRAP_CAP_S = 86_400.0

# ----------------------------------------------------------------- caller messages


@message("sim.caller_start")
class CallerStart(Message):
    queue: str
    priority: int | None = None
    skills: dict[str, int] | None = None
    #: seconds until the caller hangs up unanswered; None: never
    patience_s: float | None = None


@message("sim.pick_up")
class PickUp(Message):
    """The agent at the desk answered the ringing phone; the caller talks for ``talk_s``."""

    agent: str
    talk_s: float


@message("sim.patience_over")
class PatienceOver(Message):
    pass


@message("sim.hang_up")
class HangUp(Message):
    pass


CallerPhase = Literal["new", "waiting", "talking"]


@message("sim.caller")
class CallerState(Message):
    call_id: str
    phase: CallerPhase = "new"
    queue: str = ""
    priority: int | None = None
    skills: dict[str, int] | None = None
    ringing: tuple[str, ...] = ()
    agent: str = ""


class CallerBehaviour:
    kind = "call"

    def initial(self, address: str) -> CallerState:
        return CallerState(call_id=address.partition("/")[2])

    def decide(
        self, s: CallerState, msg: Message, now: float
    ) -> tuple[CallerState, Sequence[Effect]]:
        t = type(msg)
        cid = s.call_id
        if s.phase == "new":
            if t is not CallerStart:
                return s, (Stop(),)  # mail for a caller who has already gone
            m: CallerStart = msg  # type: ignore[assignment]
            enq = Enqueue(call_id=cid, priority=m.priority, skills=m.skills)
            effects: list[Effect] = [Send(to=f"queue/{m.queue}", msg=enq)]
            if m.patience_s is not None:
                effects.append(StartTimer(key="patience", after_s=m.patience_s, msg=PatienceOver()))
            new = CallerState(call_id=cid, phase="waiting", queue=m.queue, priority=m.priority,
                              skills=m.skills)  # fmt: skip
            return new, effects
        if t is RingPhone:
            ring: RingPhone = msg  # type: ignore[assignment]
            if s.phase != "waiting":
                return s, ()
            return replace(s, ringing=(*s.ringing, ring.agent)), (
                Send(to=f"agent/{ring.agent}", msg=Ring(call_id=cid)),
                Send(to=f"desk/{ring.agent}", msg=Ringing(call_id=cid)),
            )
        if t is CancelRing:
            gone: str = msg.agent  # type: ignore[attr-defined]
            return replace(s, ringing=tuple(a for a in s.ringing if a != gone)), ()
        if t is PickUp:
            up: PickUp = msg  # type: ignore[assignment]
            if s.phase != "waiting" or up.agent not in s.ringing:
                return s, ()  # ring-all: someone else was faster; or the ring was cancelled
            return replace(s, phase="talking", agent=up.agent, ringing=()), (
                Send(to=f"agent/{up.agent}", msg=Answered(call_id=cid)),
                CancelTimer(key="patience"),
                StartTimer(key="hang_up", after_s=up.talk_s, msg=HangUp()),
            )
        if t is PatienceOver:
            if s.phase != "waiting":
                return s, ()
            return s, (Send(to=f"queue/{s.queue}", msg=Abandon(call_id=cid)), Stop())
        if t is HangUp:
            return s, (Send(to=f"agent/{s.agent}", msg=CallEnded(call_id=cid)), Stop())
        if t is Overflow:
            o: Overflow = msg  # type: ignore[assignment]
            if o.kind != "queue":
                return s, (Stop(),)  # voicemail, callback, external: out of the ACD
            again = Enqueue(call_id=cid, priority=s.priority, skills=s.skills,
                            waiting_since=o.waiting_since)  # fmt: skip
            moved = replace(s, queue=o.target, ringing=())
            return moved, (Send(to=f"queue/{o.target}", msg=again),)
        return s, ()  # Queued, Announce, replies and errors (counted by the host's tap)


# ----------------------------------------------------------------- desk messages


@message("sim.desk_start")
class DeskStart(Message):
    group: str


@message("sim.ringing")
class Ringing(Message):
    """The agent's phone rings for ``call_id`` (the caller's INVITE reached it)."""

    call_id: str


@message("sim.pick_up_due")
class PickUpDue(Message):
    call_id: str


@message("sim.wrap_up_due")
class WrapUpDue(Message):
    pass


@message("sim.back_due")
class BackDue(Message):
    pass


@message("sim.pause_due")
class PauseDue(Message):
    pass


@message("sim.desk")
class DeskState(Message):
    login: str
    group: str = ""
    #: call whose ring the agent is about to pick up
    ringing: str = ""


_OFFERED = ("reserved", "ringing")


class DeskBehaviour:
    kind = "desk"

    def __init__(self, groups: Mapping[str, AgentGroup], rng: np.random.Generator) -> None:
        self.groups = groups
        self.rng = rng

    def initial(self, address: str) -> DeskState:
        return DeskState(login=address.partition("/")[2])

    def decide(self, s: DeskState, msg: Message, now: float) -> tuple[DeskState, Sequence[Effect]]:
        t = type(msg)
        agent = f"agent/{s.login}"
        if t is DeskStart:
            g = self.groups[msg.group]  # type: ignore[attr-defined]
            effects: list[Effect] = [
                Send(to=agent, msg=Login(phone_uri=f"sim:{s.login}")), Send(to=agent, msg=Ready()),
            ]  # fmt: skip
            if g.pauses is not None:
                effects.append(StartTimer(key="pause", after_s=g.pauses.every.draw(self.rng),
                                          msg=PauseDue()))  # fmt: skip
            return replace(s, group=g.group), effects
        if not s.group:
            return s, ()
        g = self.groups[s.group]
        if t is Ringing:
            cid: str = msg.call_id  # type: ignore[attr-defined]
            delay = g.answer_delay.draw(self.rng)
            if delay <= 0:
                return s, (self._pick_up(s, g, cid),)
            return replace(s, ringing=cid), (
                StartTimer(key="pick_up", after_s=delay, msg=PickUpDue(call_id=cid)),
            )
        if t is PickUpDue:
            due: str = msg.call_id  # type: ignore[attr-defined]
            if due != s.ringing:
                return s, ()
            return replace(s, ringing=""), (self._pick_up(s, g, due),)
        if t is AgentTransition:
            return self._follow(s, g, msg)  # type: ignore[arg-type]
        if t is WrapUpDue:
            return s, (Send(to=agent, msg=WrapUpDone()),)
        if t is BackDue:
            return s, (Send(to=agent, msg=Ready()),)
        if t is PauseDue and g.pauses is not None:
            # (during a call the agent keeps the pause for after it; the next one is drawn
            # when this one ends)
            return s, (Send(to=agent, msg=Pause(reason=g.pauses.reason)),)
        return s, ()  # the agent's replies (its new state) and errors

    def _pick_up(self, s: DeskState, g: AgentGroup, call_id: str) -> Send:
        return Send(to=f"call/{call_id}", msg=PickUp(agent=s.login, talk_s=g.talk.draw(self.rng)))

    def _follow(
        self, s: DeskState, g: AgentGroup, ev: AgentTransition
    ) -> tuple[DeskState, Sequence[Effect]]:
        effects: list[Effect] = []
        new = s
        if ev.from_state in _OFFERED and ev.to_state not in _OFFERED and s.ringing:
            new = replace(s, ringing="")
            effects.append(CancelTimer(key="pick_up"))
        if ev.from_state == "wrap_up" and ev.to_state != "wrap_up":
            effects.append(CancelTimer(key="wrap_up"))
        if ev.to_state == "wrap_up" and ev.from_state != "wrap_up" and g.wrap_up.kind != "fixed":
            wrap = min(g.wrap_up.draw(self.rng), DESK_WRAP_CAP_S / 2)
            effects.append(StartTimer(key="wrap_up", after_s=wrap, msg=WrapUpDue()))
        if ev.to_state == "not_ready" and ev.from_state != "logged_out":
            if ev.reason in ("no_answer", "rejected"):
                back = g.back_after_no_answer_s
                effects.append(StartTimer(key="back", after_s=back, msg=BackDue()))
            elif g.pauses is not None and ev.reason == g.pauses.reason:
                length = g.pauses.length.draw(self.rng)
                effects.append(StartTimer(key="back", after_s=length, msg=BackDue()))
                again = length + g.pauses.every.draw(self.rng)
                effects.append(StartTimer(key="pause", after_s=again, msg=PauseDue()))
        return new, effects
