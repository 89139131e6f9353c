"""Help requests (HRM): an agent raises one, one supervisor of the agent's group takes it.

The agent actor is the arbiter - accepts arrive in its mailbox one by one, so the second
supervisor to accept gets ``help.taken`` naming the first. Every step is journaled and
published on topic ``help`` (subscribers filter on ``group``). When the request concerns a
call and the supervisor joins it, the call actor is asked to have the media pool mix them in.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NoReturn

from actors.agent.messages import (
    AcceptHelp,
    CancelHelp,
    ChangeHelpMode,
    HelpEvent,
    HelpRequest,
    JoinMode,
    RequestHelp,
    ResolveHelp,
    SupervisorJoin,
    SupervisorLeave,
)
from actors.agent.states import ON_CALL, AgentState
from actors.effects import Effect, Fail, Journal, Publish, Reply, Send
from bus.message import Message, evolve

HELP_TYPES: tuple[type[Message], ...] = (
    RequestHelp,
    CancelHelp,
    AcceptHelp,
    ChangeHelpMode,
    ResolveHelp,
)
HELP_TOPIC = "help"


def _event(
    state: AgentState, h: HelpRequest, step: str, now: float, note: str = ""
) -> list[Effect]:
    ev = HelpEvent(
        help_id=h.help_id,
        agent=state.login,
        group=state.profile.group,
        step=step,  # type: ignore[arg-type]
        call_id=h.call_id,
        supervisor=h.supervisor,
        mode=h.mode,
        note=note or h.note,
        at=now,
    )
    return [Journal(event=ev), Publish(topic=HELP_TOPIC, msg=ev)]


def _join(state: AgentState, h: HelpRequest, supervisor: str, mode: JoinMode) -> list[Effect]:
    if h.call_id is None:
        return []
    msg = SupervisorJoin(call_id=h.call_id, agent=state.login, supervisor=supervisor, mode=mode)
    return [Send(to=f"call/{h.call_id}", msg=msg)]


def _leave(h: HelpRequest) -> list[Effect]:
    if h.call_id is None or h.supervisor is None:
        return []
    msg = SupervisorLeave(call_id=h.call_id, supervisor=h.supervisor)
    return [Send(to=f"call/{h.call_id}", msg=msg)]


def cancel_open_help(state: AgentState, now: float, note: str) -> tuple[AgentState, list[Effect]]:
    """Close any open request (the agent logged out); the state keeps no dangling flag."""
    h = state.help
    if h is None:
        return state, []
    return evolve(state, help=None), [*_event(state, h, "cancelled", now, note), *_leave(h)]


def _fail(code: str, text: str) -> NoReturn:
    raise _Refused(code, text)


class _Refused(Exception):
    def __init__(self, code: str, text: str) -> None:
        super().__init__(text)
        self.code = code
        self.text = text


def decide_help(
    state: AgentState, msg: Message, now: float
) -> tuple[AgentState, Sequence[Effect]]:
    try:
        return _decide(state, msg, now)
    except _Refused as r:
        return state, (Fail(code=r.code, text=r.text),)


def _open(state: AgentState, msg: Message) -> HelpRequest:
    h = state.help
    if h is None:
        _fail("help.none", f"agent/{state.login} has no open help request ({msg.TAG})")
    return h


def _decide(state: AgentState, msg: Message, now: float) -> tuple[AgentState, Sequence[Effect]]:
    who = f"agent/{state.login}"
    if isinstance(msg, RequestHelp):
        if state.status == "logged_out":
            _fail("help.not_logged_in", f"{who} must log in before asking for help")
        if state.help is not None:
            _fail("help.already_open", f"{who} already has help request {state.help.help_id}")
        seq = state.help_seq + 1
        h = HelpRequest(
            help_id=f"{state.login}-{seq}",
            raised_at=now,
            call_id=state.call_id if state.status in ON_CALL else None,
            note=msg.note,
        )
        new = evolve(state, help=h, help_seq=seq)
        return new, [*_event(new, h, "raised", now), Reply(msg=h)]

    h = _open(state, msg)
    if isinstance(msg, AcceptHelp):
        if h.supervisor is not None:
            _fail("help.taken", f"help {h.help_id} of {who} is already taken by {h.supervisor}")
        h = evolve(h, supervisor=msg.supervisor, mode=msg.mode)
        new = evolve(state, help=h)
        return new, [*_event(new, h, "accepted", now), *_join(new, h, msg.supervisor, msg.mode),
                     Reply(msg=h)]  # fmt: skip
    if isinstance(msg, ChangeHelpMode):
        if h.supervisor != msg.supervisor:
            _fail("help.not_yours", f"help {h.help_id} of {who} is held by {h.supervisor}")
        h = evolve(h, mode=msg.mode)
        new = evolve(state, help=h)
        return new, [*_event(new, h, "mode", now), *_join(new, h, msg.supervisor, msg.mode),
                     Reply(msg=h)]  # fmt: skip
    if isinstance(msg, ResolveHelp):
        if h.supervisor is not None and h.supervisor != msg.supervisor:
            _fail("help.not_yours", f"help {h.help_id} of {who} is held by {h.supervisor}")
        closed = evolve(h, supervisor=msg.supervisor)
        new = evolve(state, help=None)
        note = msg.note or "resolved"
        return new, [*_event(new, closed, "resolved", now, note), *_leave(h), Reply(msg=closed)]
    if isinstance(msg, CancelHelp):
        new, effects = cancel_open_help(state, now, "cancelled by the agent")
        return new, [*effects, Reply(msg=h)]
    raise TypeError(f"not a help message: {msg.TAG}")
