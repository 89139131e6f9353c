"""The queue actor ``queue/<name>``: its line of waiting calls and everything time does to them.

The queue owns *its* calls - their order (priority, then wait), announcements, requirement
relaxation, overflow and callbacks - and hands each to the global matcher, which alone decides
which agent takes which call across all queues. Every call that enters ends in exactly one of
``CallAnswered``, ``CallAbandoned`` or ``CallOverflowed`` in the journal.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from actors.effects import CancelTimer, Effect, Fail, Journal, Reply, Send, StartTimer
from actors.matcher.messages import (
    MATCHER,
    Connected,
    Matched,
    Returned,
    Submit,
    Unstaffed,
    Update,
    Withdraw,
)
from actors.queue.messages import (
    Abandon,
    Announce,
    AnnounceDue,
    CallAbandoned,
    CallAnswered,
    CallbackRequested,
    CallOverflowed,
    CallQueued,
    ConfigureQueue,
    Enqueue,
    GetQueue,
    MaxWaitDue,
    Overflow,
    OverflowRule,
    OverflowWhen,
    Queued,
    QueueEntry,
    QueueState,
    RelaxDue,
    RequestCallback,
    RequirementsRelaxed,
)
from actors.queue.rules import (
    config_problem,
    ewt,
    find,
    insert,
    next_interval,
    position,
    rule_for,
    waiting_count,
)
from bus.message import Message, evolve

Result = tuple[QueueState, Sequence[Effect]]


def _timers(call_id: str) -> list[Effect]:
    return [CancelTimer(key=f"{k}:{call_id}") for k in ("announce", "max_wait", "relax")]


def _timer(kind: str, call_id: str, after_s: float, msg: Message) -> StartTimer:
    return StartTimer(key=f"{kind}:{call_id}", after_s=after_s, msg=msg)


def _without(state: QueueState, i: int, **changes: Any) -> QueueState:
    return evolve(state, entries=state.entries[:i] + state.entries[i + 1 :], **changes)


def _overflow(
    state: QueueState, e: QueueEntry, when: OverflowWhen, rule: OverflowRule, now: float,
    submitted: bool,
) -> list[Effect]:  # fmt: skip
    """Effects that send ``e`` on per ``rule`` (the caller removes it from the line)."""
    ev = CallOverflowed(
        call_id=e.call_id, queue=state.name, reason=when, kind=rule.kind, target=rule.target,
        waited_s=now - e.enqueued_at, at=now,
    )  # fmt: skip
    out = Overflow(
        call_id=e.call_id, queue=state.name, reason=when, kind=rule.kind, target=rule.target,
        waiting_since=e.waiting_since,
    )  # fmt: skip
    effects: list[Effect] = [Journal(event=ev), Send(to=f"call/{e.call_id}", msg=out)]
    if submitted:
        withdraw = Withdraw(call_id=e.call_id, reason=f"overflow: {when}", queue=state.name)
        effects.append(Send(to=MATCHER, msg=withdraw))
        effects.extend(_timers(e.call_id))
    return effects


def _refused(
    effects: list[Effect], state: QueueState, e: QueueEntry, when: OverflowWhen,
    rule: OverflowRule, now: float,
) -> list[Effect]:  # fmt: skip
    """Overflow at the door: the Enqueue's answer is the Overflow itself."""
    out = _overflow(state, e, when, rule, now, submitted=False)
    sent = out[1]
    assert isinstance(sent, Send)
    return [*effects, *out, Reply(msg=sent.msg)]


def _announce(state: QueueState, e: QueueEntry) -> Send:
    pos = position(state.entries, e.call_id)
    msg = Announce(call_id=e.call_id, queue=state.name, position=pos, ewt_s=ewt(state, pos))
    return Send(to=f"call/{e.call_id}", msg=msg)


class QueueBehaviour:
    kind = "queue"

    def __init__(self) -> None:
        self._handlers: dict[type[Message], Callable[[QueueState, Any, float], Result]] = {
            Enqueue: self._enqueue,
            Matched: self._matched,
            Connected: self._connected,
            Returned: self._returned,
            Abandon: self._abandon,
            AnnounceDue: self._announce_due,
            MaxWaitDue: self._max_wait_due,
            RelaxDue: self._relax_due,
            RequestCallback: self._callback,
            Unstaffed: self._unstaffed,
            ConfigureQueue: self._configure,
            GetQueue: lambda s, m, now: (s, (Reply(msg=s),)),
        }

    def initial(self, address: str) -> QueueState:
        return QueueState(name=address.partition("/")[2])

    def decide(self, state: QueueState, msg: Message, now: float) -> Result:
        handler = self._handlers.get(type(msg))
        if handler is None:
            text = f"queue/{state.name}: cannot handle {msg.TAG}"
            return state, (Fail(code="queue.unknown_message", text=text),)
        return handler(state, msg, now)

    # ------------------------------------------------------------- the call actor

    def _configure(self, state: QueueState, m: ConfigureQueue, now: float) -> Result:
        problem = config_problem(state.name, m.config)
        if problem is not None:
            return state, (Fail(code="queue.bad_config", text=problem),)
        new = evolve(state, config=m.config)
        return new, (Reply(msg=new),)

    def _enqueue(self, state: QueueState, m: Enqueue, now: float) -> Result:
        if find(state.entries, m.call_id) >= 0:
            text = f"queue/{state.name}: call {m.call_id} is already waiting here"
            return state, (Fail(code="queue.duplicate", text=text),)
        cfg = state.config
        e = QueueEntry(
            call_id=m.call_id,
            priority=cfg.priority if m.priority is None else m.priority,
            waiting_since=now if m.waiting_since is None else m.waiting_since,
            enqueued_at=now,
            seq=state.seq + 1,
            caller=m.caller,
            skills=cfg.skills if m.skills is None else m.skills,
        )
        entries = insert(state.entries, e)
        pos = position(entries, e.call_id)
        queued = CallQueued(
            call_id=e.call_id, queue=state.name, priority=e.priority, caller=e.caller,
            waiting_since=e.waiting_since, position=pos, at=now,
        )  # fmt: skip
        effects: list[Effect] = [Journal(event=queued)]
        full = rule_for(cfg, "max_length")
        if full is not None and waiting_count(state.entries) >= full.threshold:
            return evolve(state, seq=e.seq), _refused(effects, state, e, "max_length", full, now)
        slow = rule_for(cfg, "ewt")
        if slow is not None and ewt(state, pos) > slow.threshold:
            return evolve(state, seq=e.seq), _refused(effects, state, e, "ewt", slow, now)
        new = evolve(state, entries=entries, seq=e.seq)
        submit = Submit(
            call_id=e.call_id, queue=state.name, priority=e.priority,
            waiting_since=e.waiting_since, skills=e.skills, strategy=cfg.strategy,
            ring_timeout_s=cfg.ring_timeout_s, ring_all_max=cfg.ring_all_max,
            check_staffed=rule_for(cfg, "no_agents") is not None,
        )  # fmt: skip
        effects.append(Send(to=MATCHER, msg=submit))
        patience = rule_for(cfg, "max_wait")
        if patience is not None:
            due = MaxWaitDue(call_id=e.call_id)
            effects.append(_timer("max_wait", e.call_id, patience.threshold, due))
        if cfg.announce_every_s > 0:
            effects.append(_announce(new, e))
            due_a = AnnounceDue(call_id=e.call_id)
            effects.append(_timer("announce", e.call_id, cfg.announce_every_s, due_a))
        if cfg.relax:
            due_r = RelaxDue(call_id=e.call_id, step=0)
            effects.append(_timer("relax", e.call_id, cfg.relax[0].after_s, due_r))
        reply = Queued(call_id=e.call_id, queue=state.name, position=pos, ewt_s=ewt(state, pos))
        effects.append(Reply(msg=reply))
        return new, effects

    def _abandon(self, state: QueueState, m: Abandon, now: float) -> Result:
        i = find(state.entries, m.call_id)
        if i < 0:
            return state, ()  # already answered or overflowed: the call actor raced us
        e = state.entries[i]
        ev = CallAbandoned(
            call_id=e.call_id, queue=state.name, waited_s=now - e.enqueued_at,
            position=position(state.entries, e.call_id), at=now,
        )  # fmt: skip
        withdraw = Withdraw(call_id=e.call_id, reason="abandoned", queue=state.name)
        effects = [Journal(event=ev), Send(to=MATCHER, msg=withdraw), *_timers(e.call_id)]
        return _without(state, i), effects

    def _callback(self, state: QueueState, m: RequestCallback, now: float) -> Result:
        i = find(state.entries, m.call_id)
        if i < 0:
            text = f"queue/{state.name}: call {m.call_id} is not waiting here"
            return state, (Fail(code="queue.unknown_call", text=text),)
        e = evolve(state.entries[i], callback=m.number)
        entries = (*state.entries[:i], e, *state.entries[i + 1 :])
        new = evolve(state, entries=entries)
        pos = position(entries, e.call_id)
        ev = CallbackRequested(
            call_id=e.call_id, queue=state.name, number=m.number, position=pos, at=now
        )
        update = Update(call_id=e.call_id, skills=e.skills, callback=m.number)
        reply = Queued(call_id=e.call_id, queue=state.name, position=pos, ewt_s=ewt(new, pos))
        return new, [
            Journal(event=ev), Send(to=MATCHER, msg=update),
            # the caller hangs up and keeps the place: no more prompts, no max-wait overflow
            CancelTimer(key=f"announce:{e.call_id}"), CancelTimer(key=f"max_wait:{e.call_id}"),
            Reply(msg=reply),
        ]  # fmt: skip

    # ------------------------------------------------------------- timers

    def _announce_due(self, state: QueueState, m: AnnounceDue, now: float) -> Result:
        i = find(state.entries, m.call_id)
        if i < 0 or state.entries[i].callback is not None:
            return state, ()
        e = state.entries[i]
        again = _timer("announce", e.call_id, state.config.announce_every_s, m)
        return state, ([again] if e.offered else [_announce(state, e), again])

    def _max_wait_due(self, state: QueueState, m: MaxWaitDue, now: float) -> Result:
        i = find(state.entries, m.call_id)
        rule = rule_for(state.config, "max_wait")
        if i < 0 or rule is None:
            return state, ()
        e = state.entries[i]
        if e.offered or e.callback is not None:
            return state, ()  # ringing an agent now; a returned call is checked again then
        return _without(state, i), _overflow(state, e, "max_wait", rule, now, submitted=True)

    def _relax_due(self, state: QueueState, m: RelaxDue, now: float) -> Result:
        i = find(state.entries, m.call_id)
        steps = state.config.relax
        if i < 0 or m.step >= len(steps) or state.entries[i].relax_next != m.step:
            return state, ()
        e = evolve(state.entries[i], skills=steps[m.step].skills, relax_next=m.step + 1)
        new = evolve(state, entries=(*state.entries[:i], e, *state.entries[i + 1 :]))
        ev = RequirementsRelaxed(
            call_id=e.call_id, queue=state.name, skills=e.skills,
            waited_s=now - e.enqueued_at, at=now,
        )  # fmt: skip
        effects: list[Effect] = [
            Journal(event=ev), Send(to=MATCHER, msg=Update(call_id=e.call_id, skills=e.skills)),
        ]  # fmt: skip
        if m.step + 1 < len(steps):
            after = max(0.0, e.enqueued_at + steps[m.step + 1].after_s - now)
            nxt = RelaxDue(call_id=e.call_id, step=m.step + 1)
            effects.append(_timer("relax", e.call_id, after, nxt))
        return new, effects

    # ------------------------------------------------------------- the matcher

    def _matched(self, state: QueueState, m: Matched, now: float) -> Result:
        return self._mark(state, m.call_id, offered=True), ()

    def _returned(self, state: QueueState, m: Returned, now: float) -> Result:
        new = self._mark(state, m.call_id, offered=False)
        i = find(new.entries, m.call_id)
        rule = rule_for(state.config, "max_wait")
        if i < 0 or rule is None:
            return new, ()
        e = new.entries[i]
        if e.callback is None and now - e.enqueued_at >= rule.threshold:
            return _without(new, i), _overflow(new, e, "max_wait", rule, now, submitted=True)
        return new, ()

    def _connected(self, state: QueueState, m: Connected, now: float) -> Result:
        i = find(state.entries, m.call_id)
        if i < 0:
            return state, ()
        e = state.entries[i]
        ev = CallAnswered(
            call_id=e.call_id, queue=state.name, agent=m.agent, waited_s=now - e.enqueued_at,
            total_wait_s=now - e.waiting_since, at=now,
        )  # fmt: skip
        new = _without(state, i, answer_interval_s=next_interval(state, now), last_answer_at=now)
        return new, [Journal(event=ev), *_timers(e.call_id)]

    def _unstaffed(self, state: QueueState, m: Unstaffed, now: float) -> Result:
        i = find(state.entries, m.call_id)
        rule = rule_for(state.config, "no_agents")
        if i < 0 or rule is None or state.entries[i].offered:
            return state, ()
        e = state.entries[i]
        return _without(state, i), _overflow(state, e, "no_agents", rule, now, submitted=True)

    @staticmethod
    def _mark(state: QueueState, call_id: str, *, offered: bool) -> QueueState:
        i = find(state.entries, call_id)
        if i < 0 or state.entries[i].offered == offered:
            return state
        e = evolve(state.entries[i], offered=offered)
        return evolve(state, entries=(*state.entries[:i], e, *state.entries[i + 1 :]))
