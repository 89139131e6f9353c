"""Reconciler: repair agents whose world moved on without them (pure).

Given what the agents believe (their state, or the last ``AgentTransition`` of each), the call
ids that are really live and the phone URIs that are really registered, it

* logs out an agent whose phone is no longer registered (``ForceLogout``), and
* frees an agent reserved, ringing, talking or on hold for a call that no longer exists
  (``ForceRelease``: offered -> ready, on a call -> wrap-up), and
* drops a call still waiting in a queue whose call actor is gone (``Abandon`` to the queue,
  which withdraws it from the matcher), so a dead call is not offered again and again,

journaling a :class:`Repair` for each. Run it periodically (the ``reconciler`` behaviour below
wraps it for a host) or after a crash of a call or registrar process.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import field

from actors.agent.messages import AgentTransition, ForceLogout, ForceRelease, Repair
from actors.agent.states import OFFERED, ON_CALL, AgentState
from actors.effects import Effect, Fail, Journal, Reply, Send
from actors.queue.messages import Abandon
from bus.message import Message, message


@message("agent.view")
class AgentView(Message):
    login: str
    status: str
    call_id: str | None
    phone_uri: str


@message("reconciler.run")
class Reconcile(Message):
    agents: tuple[AgentView, ...]
    live_calls: tuple[str, ...]
    registered: tuple[str, ...]
    #: calls waiting in queues: call id -> queue name
    waiting: dict[str, str] = field(default_factory=dict)


@message("reconciler.done")
class Reconciled(Message):
    repairs: int


@message("reconciler.state")
class ReconcilerState(Message):
    runs: int = 0
    repairs: int = 0


def view_of(s: AgentState) -> AgentView:
    return AgentView(login=s.login, status=s.status, call_id=s.call_id, phone_uri=s.phone_uri)


def views_from(events: Iterable[Message]) -> dict[str, AgentView]:
    """Each agent's latest view, folded from ``AgentTransition`` events (topic ``agents``)."""
    out: dict[str, AgentView] = {}
    for e in events:
        if isinstance(e, AgentTransition):
            call = e.call_id if e.to_state in (*OFFERED, *ON_CALL, "wrap_up") else None
            out[e.agent] = AgentView(
                login=e.agent, status=e.to_state, call_id=call, phone_uri=e.phone_uri
            )
    return out


def reconcile(
    agents: Iterable[AgentView],
    live_calls: Collection[str],
    registered: Collection[str],
    now: float,
    waiting: Mapping[str, str] | None = None,
) -> list[Effect]:
    effects: list[Effect] = []
    # dead calls leave their queues first, so a freed agent is not offered one of them again
    for call_id, queue in sorted((waiting or {}).items()):
        if call_id not in live_calls:
            why = f"call {call_id} is gone"
            effects.append(Send(to=f"queue/{queue}", msg=Abandon(call_id=call_id)))
            repair = Repair(agent="", action="drop", call_id=call_id, reason=why, at=now)
            effects.append(Journal(event=repair))
    for v in sorted(agents, key=lambda v: v.login):
        if v.status == "logged_out":
            continue
        to = f"agent/{v.login}"
        if v.phone_uri not in registered:
            why = f"phone {v.phone_uri or '(none)'} is not registered"
            effects.append(Send(to=to, msg=ForceLogout(reason=why)))
            repair = Repair(agent=v.login, action="logout", call_id=v.call_id, reason=why, at=now)
            effects.append(Journal(event=repair))
        elif v.status in (*OFFERED, *ON_CALL) and v.call_id not in live_calls:
            why = f"call {v.call_id} is gone"
            assert v.call_id is not None
            effects.append(Send(to=to, msg=ForceRelease(call_id=v.call_id, reason=why)))
            repair = Repair(agent=v.login, action="release", call_id=v.call_id, reason=why, at=now)
            effects.append(Journal(event=repair))
    return effects


class ReconcilerBehaviour:
    """``reconciler/<name>``: runs :func:`reconcile` on the snapshot a Reconcile carries."""

    kind = "reconciler"

    def initial(self, address: str) -> ReconcilerState:
        return ReconcilerState()

    def decide(
        self, state: ReconcilerState, msg: Message, now: float
    ) -> tuple[ReconcilerState, Sequence[Effect]]:
        if not isinstance(msg, Reconcile):
            text = f"cannot handle {msg.TAG}"
            return state, (Fail(code="reconciler.unknown_message", text=text),)
        live = set(msg.live_calls)
        effects = reconcile(msg.agents, live, set(msg.registered), now, msg.waiting)
        n = sum(1 for e in effects if isinstance(e, Journal))
        new = ReconcilerState(runs=state.runs + 1, repairs=state.repairs + n)
        return new, [*effects, Reply(msg=Reconciled(repairs=n))]


RECONCILER_MESSAGES: tuple[type[Message], ...] = (
    AgentView,
    Reconcile,
    Reconciled,
    ReconcilerState,
)
