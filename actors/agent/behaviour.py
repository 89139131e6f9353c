"""The agent actor ``agent/<login>``: the transition table in :mod:`actors.agent.states` plus
what each step does (ring the phone, time the no-answer and the wrap-up, tell the matcher).

Every transition is journaled and published on topic ``agents`` as an
:class:`AgentTransition`. The matcher hears a :class:`Presence` whenever the agent's
availability changes, and exactly one :class:`OfferOutcome` per Offer - the protocol that lets
it keep the agent reserved until the agent itself says the offer is over.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from actors.agent.help import HELP_TYPES, cancel_open_help, decide_help
from actors.agent.messages import (
    AgentTransition,
    Answered,
    CallEnded,
    CancelRing,
    Configure,
    ExtendWrapUp,
    ForceLogout,
    ForceRelease,
    GetAgent,
    Login,
    NoAnswerTimeout,
    Pause,
    Reject,
    RingPhone,
    WrapUpTimeout,
)
from actors.agent.states import (
    FREE,
    OFFERED,
    ON_CALL,
    PRESENCE,
    STALE_OK,
    STAY,
    AgentState,
    AgentStatus,
    Target,
    illegal_text,
    target_of,
)
from actors.effects import CancelTimer, Effect, Fail, Journal, Publish, Reply, Send, StartTimer
from actors.matcher.messages import (
    MATCHER,
    MAX_LEVEL,
    MIN_LEVEL,
    Offer,
    OfferOutcome,
    OfferWithdrawn,
    Outcome,
    Presence,
)
from actors.queue.messages import Abandon
from bus.message import Message, evolve

AGENTS_TOPIC = "agents"
ILLEGAL = "agent.illegal_transition"
WRONG_CALL = "agent.wrong_call"
NO_ANSWER_TIMER = "no_answer"
WRAP_UP_TIMER = "wrap_up"

#: messages an agent's desktop sends as asks: they get the new state as the reply
_CLIENT_TAGS = frozenset(
    {"agent.login", "agent.ready", "agent.pause", "agent.logout", "agent.reject",
     "agent.wrap_up_done", "agent.extend_wrap_up", "agent.force_logout", "agent.force_release"}
)  # fmt: skip


def presence_of(s: AgentState) -> Presence:
    return Presence(
        login=s.login,
        status=PRESENCE[s.status],
        skills=s.profile.skills,
        idle_since=s.idle_since,
        calls_handled=s.calls_handled,
        talk_time_s=s.talk_time_s,
    )


class AgentBehaviour:
    kind = "agent"

    def initial(self, address: str) -> AgentState:
        return AgentState(login=address.partition("/")[2])

    def decide(
        self, state: AgentState, msg: Message, now: float
    ) -> tuple[AgentState, Sequence[Effect]]:
        t = type(msg)
        if t is GetAgent:
            return state, (Reply(msg=state),)
        if t is Configure:
            return _configure(state, msg, now)  # type: ignore[arg-type]
        if t in HELP_TYPES:
            return decide_help(state, msg, now)
        target = target_of(state.status, msg)
        if target is None:
            if t is Offer:  # raced with the agent leaving ready: refuse, the matcher moves on
                return state, (_outcome(state, msg.call_id, "not_available"),)  # type: ignore[attr-defined]
            if msg.TAG in STALE_OK:
                return state, ()
            return state, (Fail(code=ILLEGAL, text=illegal_text(state.login, state.status, msg)),)
        call_id = getattr(msg, "call_id", None)
        if call_id is not None and t is not Offer and call_id != state.call_id:
            if msg.TAG in STALE_OK:
                return state, ()
            text = (
                f"agent/{state.login}: {msg.TAG} for call {call_id}, but the agent's call is "
                f"{state.call_id} (state {state.status})"
            )
            return state, (Fail(code=WRONG_CALL, text=text),)
        return _step(state, msg, target, now)


def _outcome(s: AgentState, call_id: str, outcome: Outcome) -> Send:
    msg = OfferOutcome(call_id=call_id, login=s.login, outcome=outcome, presence=presence_of(s))
    return Send(to=MATCHER, msg=msg)


def _configure(
    state: AgentState, msg: Configure, now: float
) -> tuple[AgentState, Sequence[Effect]]:
    p = msg.profile
    where = f"agent/{state.login}: profile"
    for skill, level in p.skills.items():
        if not skill or not MIN_LEVEL <= level <= MAX_LEVEL:
            text = f"{where}.skills[{skill!r}] = {level}: proficiency is {MIN_LEVEL}-{MAX_LEVEL}"
            return state, (Fail(code="agent.bad_profile", text=text),)
    if p.voice_capacity != 1:
        text = f"{where}.voice_capacity = {p.voice_capacity}: one voice call per agent is supported"
        return state, (Fail(code="agent.bad_profile", text=text),)
    if p.wrap_up_s < 0 or p.max_wrap_up_s < p.wrap_up_s:
        text = f"{where}: need 0 <= wrap_up_s ({p.wrap_up_s}) <= max_wrap_up_s ({p.max_wrap_up_s})"
        return state, (Fail(code="agent.bad_profile", text=text),)
    new = evolve(state, profile=p)
    effects: list[Effect] = [Reply(msg=new)]
    if state.status != "logged_out":
        effects.append(Send(to=MATCHER, msg=presence_of(new)))
    return new, effects


def _step(
    state: AgentState, msg: Message, target: Target, now: float
) -> tuple[AgentState, Sequence[Effect]]:
    old: AgentStatus = state.status
    changes: dict[str, Any] = {}
    effects: list[Effect] = []
    outcome: Outcome | None = None
    call_id = state.call_id
    reason = msg.TAG.partition(".")[2]

    if isinstance(msg, Pause):
        if target == STAY:  # during a call: takes effect after it
            new = evolve(state, pending_pause=msg.reason)
            return new, (Reply(msg=new),)
        reason = msg.reason
    elif isinstance(msg, Login):
        changes["phone_uri"] = msg.phone_uri
    elif isinstance(msg, Offer):
        call_id = msg.call_id
        changes.update(call_id=msg.call_id, queue=msg.queue)
        reason = f"offer from queue {msg.queue}"
        ring = RingPhone(
            call_id=msg.call_id,
            agent=state.login,
            phone_uri=state.phone_uri,
            ring_timeout_s=msg.ring_timeout_s,
        )
        effects.append(Send(to=f"call/{msg.call_id}", msg=ring))
        timeout = NoAnswerTimeout(call_id=msg.call_id)
        effects.append(StartTimer(key=NO_ANSWER_TIMER, after_s=msg.ring_timeout_s, msg=timeout))
    elif isinstance(msg, Answered):
        outcome = "answered"
        changes["talk_since"] = now
    elif isinstance(msg, Reject | NoAnswerTimeout):
        outcome = "rejected" if isinstance(msg, Reject) else "no_answer"
        reason = outcome
        assert call_id is not None
        cancel = CancelRing(call_id=call_id, agent=state.login, reason=outcome)
        effects.append(Send(to=f"call/{call_id}", msg=cancel))
    elif isinstance(msg, CallEnded | OfferWithdrawn | ForceRelease) and old in OFFERED:
        outcome = "withdrawn"
        if isinstance(msg, CallEnded):
            reason = "caller_gone"
            if state.queue:
                # The caller is gone: take the call out of its queue too, or the matcher
                # would offer it again (and again) to the next free agent.
                effects.append(Send(to=f"queue/{state.queue}", msg=Abandon(call_id=msg.call_id)))
        else:
            reason = msg.reason if isinstance(msg, OfferWithdrawn) else f"repair: {msg.reason}"
    elif isinstance(msg, ForceRelease):
        reason = f"repair: {msg.reason}"
    elif isinstance(msg, ForceLogout):
        reason = f"repair: {msg.reason}"
        if old in OFFERED:
            outcome = "not_available"
    elif isinstance(msg, ExtendWrapUp):
        return _extend(state, msg, now)

    to: AgentStatus
    if target == FREE:
        to = "not_ready" if state.pending_pause is not None else "ready"
        if state.pending_pause is not None:
            reason = state.pending_pause
    elif target == STAY:
        return state, (Reply(msg=state),) if msg.TAG in _CLIENT_TAGS else ()
    else:
        to = target

    if old in OFFERED and to not in OFFERED:
        effects.append(CancelTimer(key=NO_ANSWER_TIMER))
    if old == "wrap_up":
        effects.append(CancelTimer(key=WRAP_UP_TIMER))
    if to == "wrap_up":
        assert call_id is not None and state.talk_since is not None
        talked = now - state.talk_since
        changes.update(
            calls_handled=state.calls_handled + 1,
            talk_time_s=state.talk_time_s + talked,
            talk_since=None,
            wrap_started=now,
            wrap_until=now + state.profile.wrap_up_s,
        )
        done = WrapUpTimeout(call_id=call_id)
        effects.append(StartTimer(key=WRAP_UP_TIMER, after_s=state.profile.wrap_up_s, msg=done))
    elif to not in OFFERED and to not in ON_CALL:
        changes.update(
            call_id=None, queue=None, talk_since=None, wrap_until=None, wrap_started=None
        )
    if to == "ready":
        changes.update(idle_since=now, pending_pause=None)
    elif to in ("not_ready", "logged_out"):
        changes["pending_pause"] = None
    changes.update(status=to, reason=reason, since=now)
    new = evolve(state, **changes)
    if to == "logged_out":
        new, closing = cancel_open_help(new, now, "the agent logged out")
        effects.extend(closing)

    ev = AgentTransition(
        agent=state.login,
        from_state=old,
        to_state=to,
        reason=reason,
        call_id=call_id,
        queue=new.queue if new.queue is not None else state.queue,
        group=state.profile.group,
        phone_uri=new.phone_uri,
        at=now,
    )
    effects.append(Journal(event=ev))
    effects.append(Publish(topic=AGENTS_TOPIC, msg=ev))
    if outcome is not None:
        assert call_id is not None
        effects.append(_outcome(new, call_id, outcome))
    elif PRESENCE[to] != PRESENCE[old] and not isinstance(msg, Offer):
        # (an Offer's reservation is the matcher's own doing: it needs no news of it)
        effects.append(Send(to=MATCHER, msg=presence_of(new)))
    if msg.TAG in _CLIENT_TAGS:
        effects.append(Reply(msg=new))
    return new, effects


def _extend(
    state: AgentState, msg: ExtendWrapUp, now: float
) -> tuple[AgentState, Sequence[Effect]]:
    who = f"agent/{state.login}"
    if msg.seconds <= 0:
        return state, (Fail(code="agent.bad_request", text=f"{who}: extend by {msg.seconds} s?"),)
    assert state.wrap_until is not None and state.wrap_started is not None
    limit = state.wrap_started + state.profile.max_wrap_up_s
    until = min(state.wrap_until + msg.seconds, limit)
    if until <= state.wrap_until:
        text = f"{who}: wrap-up already at its limit of {state.profile.max_wrap_up_s:.0f} s"
        return state, (Fail(code="agent.wrap_up_limit", text=text),)
    assert state.call_id is not None
    new = evolve(state, wrap_until=until)
    ev = AgentTransition(
        agent=state.login,
        from_state="wrap_up",
        to_state="wrap_up",
        reason=f"extended by {until - state.wrap_until:.0f} s",
        call_id=state.call_id,
        queue=state.queue,
        group=state.profile.group,
        phone_uri=state.phone_uri,
        at=now,
    )
    done = WrapUpTimeout(call_id=state.call_id)
    return new, (
        Journal(event=ev),
        Publish(topic=AGENTS_TOPIC, msg=ev),
        StartTimer(key=WRAP_UP_TIMER, after_s=until - now, msg=done),
        Reply(msg=new),
    )
