"""The global matcher: the one decision point pairing waiting calls with ready agents.

Invariant kept after every message: no ready, unreserved agent can serve any waiting call.
Hence only what a message changed can form a new pair - the call that arrived, returned or had
its requirements relaxed (the queue's strategy picks among ready agents), or the agent that
became free (it takes the highest-priority, longest-waiting call it can serve, whichever queue
that call sits in). Each decision reserves its agents *before* the Offer leaves, and an agent
stays reserved until its own outcome for that call arrives or the safety timer fires.

``decide`` is pure in what it returns: flat mirrors of the state's maps and the indices are
derived from the state and cached on the behaviour under the state object they describe; handed
any other state (a replay, a reloaded snapshot) the behaviour rebuilds them from it.
"""

from __future__ import annotations

from collections.abc import Sequence

from actors.effects import Effect, Fail, Reply
from actors.matcher import cow, make
from actors.matcher.index import ReadyIndex, WaitingIndex, build, satisfies
from actors.matcher.messages import (
    MATCHER,
    GetMatcher,
    MatchAgent,
    MatchCall,
    MatcherState,
    MatcherStats,
    OfferExpired,
    OfferOutcome,
    OfferResult,
    OfferWithdrawn,
    Outcome,
    Presence,
    Returned,
    Submit,
    Unstaffed,
    Update,
    Withdraw,
)
from actors.matcher.strategies import choose_agents
from bus.message import Message

#: the matcher waits this much longer than the ring timeout before it stops trusting an agent
OFFER_GRACE_S = 5.0


def offer_timer(call_id: str, login: str) -> str:
    return f"offer:{call_id}:{login}"


class _Live:
    """Derived working data for one state: flat mirrors of its sharded maps, and the indices.

    A decide updates these in place and notes each change, so the new sharded maps are built
    once, at the end, from the notes (:func:`cow.with_changes`). They describe :attr:`state`
    only: handed any other state, the behaviour builds a fresh one from it.
    """

    __slots__ = ("agents", "calls", "ready", "state", "waiting")

    def __init__(self, state: MatcherState) -> None:
        self.state = state
        self.agents: dict[str, MatchAgent] = cow.flat(state.agents)
        self.calls: dict[str, MatchCall] = cow.flat(state.calls)
        self.ready, self.waiting = build(state)


class _Work:
    """One decide: the live data it changes, the changes it noted, the effects so far."""

    __slots__ = (
        "_own_rotation", "agent_changes", "agents", "call_changes", "calls", "decisions",
        "effects", "now", "pending_agents", "pending_calls", "ready", "rng", "rotation", "seq",
        "state", "waiting",
    )  # fmt: skip

    def __init__(self, state: MatcherState, live: _Live, now: float) -> None:
        self.state = state
        self.agents = live.agents
        self.calls = live.calls
        self.ready: ReadyIndex = live.ready
        self.waiting: WaitingIndex = live.waiting
        self.now = now
        self.agent_changes: dict[str, MatchAgent | None] = {}
        self.call_changes: dict[str, MatchCall | None] = {}
        self.rotation = state.rotation
        self._own_rotation = False
        self.rng = state.rng
        self.seq = state.seq
        self.decisions = state.decisions
        self.effects: list[Effect] = []
        self.pending_agents: list[str] = []
        # Calls that (again) wait, not yet in the waiting index: most find an agent at once
        # and never cost an index insert and delete (the common case while agents are free).
        self.pending_calls: list[str] = []

    # ------------------------------------------------------------- the live data

    def put_agent(self, a: MatchAgent) -> None:
        login = a.login
        self.agents[login] = a
        self.agent_changes[login] = a
        # Indexed lazily in settle(): a freed agent that finds a waiting call at once never
        # costs an index insert and delete (the common case while calls queue up).
        if login in self.ready.members:
            self.ready.remove(login)
        if a.ready and a.offer is None:
            self.pending_agents.append(login)

    def drop_agent(self, login: str) -> None:
        del self.agents[login]
        self.agent_changes[login] = None
        self.ready.remove(login)

    def put_call(self, c: MatchCall) -> None:
        call_id = c.call_id
        self.calls[call_id] = c
        self.call_changes[call_id] = c
        if call_id in self.waiting.members:
            self.waiting.remove(call_id)
        if not c.offered_to:
            self.pending_calls.append(call_id)

    def drop_call(self, call_id: str) -> None:
        del self.calls[call_id]
        self.call_changes[call_id] = None
        self.waiting.remove(call_id)

    def result(self) -> MatcherState:
        agent_changes, call_changes = self.agent_changes, self.call_changes
        if not agent_changes and not call_changes:
            return self.state
        state = self.state
        return make.state(
            state.address,
            cow.with_changes(state.agents, agent_changes) if agent_changes else state.agents,
            cow.with_changes(state.calls, call_changes) if call_changes else state.calls,
            self.rotation,
            self.rng,
            self.seq,
            self.decisions,
        )

    # ------------------------------------------------------------- messages

    def presence(self, p: Presence, *, offer_over: bool = False) -> None:
        """Apply an agent's own word (``offer_over``: its reservation has just ended)."""
        login = p.login
        old = self.agents.get(login)
        held = None if old is None or offer_over else old.offer
        if p.status == "offline":
            if old is None:
                return
            if held is not None:
                self.effects.append(make.cancel_timer(offer_timer(held, login)))
                if held in self.calls:
                    self.release(held, login, "not_available")
            self.drop_agent(login)
            self.report_unstaffed()
            return
        ready = p.status == "ready"
        if (
            old is not None
            and old.ready == ready
            and old.offer == held
            and old.idle_since == p.idle_since
            and old.calls_handled == p.calls_handled
            and old.talk_time_s == p.talk_time_s
            and old.skills == p.skills
        ):
            return  # nothing the matcher keeps has changed
        self.put_agent(make.agent(
            login, p.skills, ready, p.idle_since, p.calls_handled, p.talk_time_s, held
        ))  # fmt: skip

    def outcome(self, o: OfferOutcome) -> None:
        login, call_id = o.login, o.call_id
        a = self.agents.get(login)
        if a is None or a.offer != call_id:  # stale (timed out, or a second answer)
            self.presence(o.presence)
            return
        self.effects.append(make.cancel_timer(offer_timer(call_id, login)))
        c = self.calls.get(call_id)
        if c is not None and o.outcome == "answered":
            # (the queue journals the answer: CallAnswered)
            self.drop_call(call_id)
            self.send(f"queue/{c.queue}", make.connected(call_id, login))
            for other in c.offered_to:
                if other != login:
                    why = f"answered by {login}"
                    self.send(f"agent/{other}", OfferWithdrawn(call_id=call_id, reason=why))
        elif c is not None:
            self.release(call_id, login, o.outcome)
        self.presence(o.presence, offer_over=True)

    def expired(self, e: OfferExpired) -> None:
        a = self.agents.get(e.login)
        if a is None or a.offer != e.call_id:
            return
        # Until the agent speaks again we do not know it is free: not ready, not reserved.
        self.put_agent(make.agent(
            a.login, a.skills, False, a.idle_since, a.calls_handled, a.talk_time_s, None
        ))  # fmt: skip
        why = "the agent did not answer the offer in time"
        self.send(f"agent/{e.login}", OfferWithdrawn(call_id=e.call_id, reason=why))
        if e.call_id in self.calls:
            self.release(e.call_id, e.login, "timeout")

    def release(self, call_id: str, login: str, outcome: Outcome) -> None:
        """``login`` holds no offer of ``call_id`` any more: if nobody does, the call waits."""
        c = self.calls[call_id]
        self.journal_result(call_id, login, outcome)
        rest = tuple(x for x in c.offered_to if x != login)
        self.put_call(make.call_offered_to(c, rest))
        if not rest:
            self.send(f"queue/{c.queue}", Returned(call_id=call_id, reason=outcome))

    def send(self, to: str, msg: Message) -> None:
        self.effects.append(make.send(to, msg))

    def journal_result(self, call_id: str, login: str, outcome: Outcome) -> None:
        event = OfferResult(call_id=call_id, agent=login, outcome=outcome, at=self.now)
        self.effects.append(make.journal(event))

    def submit(self, s: Submit) -> None:
        old = self.calls.get(s.call_id)
        if old is not None and old.queue == s.queue:
            if not old.offered_to:  # the same queue re-submitting (after its restart): refresh
                self.put_call(make.call_needing(old, s.skills, s.callback))
            return
        # New - or moved: overflowed into another queue whose Submit overtook the old queue's
        # Withdraw (different senders: no order between them). The new queue owns it now.
        self.seq += 1
        c = make.call(
            s.call_id, s.queue, s.priority, s.waiting_since, s.skills, s.strategy,
            s.ring_timeout_s, max(1, s.ring_all_max), s.check_staffed, s.callback, self.seq,
            () if old is None else old.offered_to,
        )  # fmt: skip
        self.put_call(c)
        if s.check_staffed and not self.staffed(c.skills):
            self.send(f"queue/{c.queue}", Unstaffed(call_id=c.call_id))

    def update(self, u: Update) -> None:
        c = self.calls.get(u.call_id)
        if c is not None:
            self.put_call(make.call_needing(c, u.skills, u.callback))

    def withdraw(self, w: Withdraw) -> None:
        c = self.calls.get(w.call_id)
        if c is None or (w.queue and w.queue != c.queue):
            return  # gone already, or now owned by another queue
        self.drop_call(w.call_id)
        # The agents stay reserved until each confirms; the withdrawal just speeds that up.
        for login in c.offered_to:
            self.send(f"agent/{login}", OfferWithdrawn(call_id=w.call_id, reason=w.reason))

    def staffed(self, skills: dict[str, int]) -> bool:
        return any(satisfies(a.skills, skills) for a in self.agents.values())

    def report_unstaffed(self) -> None:
        # in the persisted maps' order, so the Unstaffed replies come out as they always did
        for c in cow.values(cow.with_changes(self.state.calls, self.call_changes)):
            if c.check_staffed and not c.offered_to and not self.staffed(c.skills):
                self.send(f"queue/{c.queue}", Unstaffed(call_id=c.call_id))

    # ------------------------------------------------------------- deciding

    def settle(self) -> None:
        """Restore the invariant: try every agent that became free, then every new call."""
        ready, waiting, calls = self.ready, self.waiting, self.calls
        pending = self.pending_calls
        indexed = False
        if self.pending_agents:
            if pending:  # the agents must see every call that waits now
                for call_id in pending:
                    c = calls.get(call_id)
                    if c is not None and not c.offered_to:
                        waiting.add(c)
                indexed = True
            agents = self.agents
            for login in self.pending_agents:
                a = agents.get(login)
                if a is None or not a.ready or a.offer is not None or login in ready.members:
                    continue
                c, n = waiting.best_for(a.skills, calls.get)
                if c is None:
                    ready.add(a)
                else:
                    reason = (
                        f"call {c.call_id} (queue {c.queue}, priority {c.priority}, waited "
                        f"{self.now - c.waiting_since:.0f} s): highest priority then longest wait "
                        f"among {n} waiting call(s) agent {login} can serve"
                    )
                    self.decide(c, (login,), "agent", reason)
        if not pending:
            return
        if len(pending) > 1:  # better calls choose first
            found = [c for c in map(calls.get, dict.fromkeys(pending)) if c is not None]
            found.sort(key=lambda c: (-c.priority, c.waiting_since, c.seq))
            pending = [c.call_id for c in found]
        for call_id in pending:
            c = calls.get(call_id)
            if c is None or c.offered_to:  # gone, or taken by a freed agent above
                continue
            choice = choose_agents(ready, c, self.now, self.rotation.get(c.queue), self.rng)
            if choice is not None:
                self.rng = choice.rng
                self.decide(c, choice.agents, "call", choice.reason)
            elif not indexed:
                waiting.add(c)

    def decide(self, c: MatchCall, logins: tuple[str, ...], trigger: str, reason: str) -> None:
        if not logins:  # an empty offer would put the call straight back: never decide that
            raise ValueError(f"matcher: decision for {c.call_id} names no agent")
        now = self.now
        call_id, queue = c.call_id, c.queue
        effects = self.effects
        self.decisions += 1
        effects.append(make.journal(make.decision(
            call_id, queue, logins, "agent" if trigger == "agent" else "call", c.strategy,
            reason, c.priority, now - c.waiting_since, now, self.decisions,
        )))  # fmt: skip
        offer = make.offer(
            call_id, queue, c.priority, c.waiting_since, c.ring_timeout_s, c.callback
        )
        expire_after = c.ring_timeout_s + OFFER_GRACE_S
        agents, agent_changes, ready = self.agents, self.agent_changes, self.ready
        for login in logins:
            a = agents[login]
            # (put_agent, for an agent that is reserved now: out of the ready index, not pending)
            agents[login] = agent_changes[login] = make.agent(
                login, a.skills, a.ready, a.idle_since, a.calls_handled, a.talk_time_s, call_id
            )
            if login in ready.members:
                ready.remove(login)
            effects.append(make.send(f"agent/{login}", offer))
            expired = make.offer_expired(call_id, login)
            effects.append(make.start_timer(offer_timer(call_id, login), expire_after, expired))
        self.put_call(make.call_offered_to(c, logins))
        effects.append(make.send(f"queue/{queue}", make.matched(call_id, logins)))
        if c.strategy == "round-robin":
            if not self._own_rotation:
                self.rotation, self._own_rotation = self.rotation.copy(), True
            self.rotation[queue] = logins[-1]

    def stats(self) -> MatcherStats:
        reserved = sum(1 for a in self.agents.values() if a.offer is not None)
        offered = sum(1 for c in self.calls.values() if c.offered_to)
        return MatcherStats(
            agents_logged_in=len(self.agents), agents_ready=len(self.ready),
            agents_reserved=reserved, calls_waiting=len(self.waiting), calls_offered=offered,
            decisions=self.decisions,
        )  # fmt: skip


class MatcherBehaviour:
    kind = "matcher"

    def __init__(self) -> None:
        # address -> the derived data of that matcher's latest state
        self._live: dict[str, _Live] = {}

    def initial(self, address: str) -> MatcherState:
        return MatcherState(address=address)

    def decide(
        self, state: MatcherState, msg: Message, now: float
    ) -> tuple[MatcherState, Sequence[Effect]]:
        live = self._live.get(state.address)
        if live is None or live.state is not state:
            live = self._live[state.address] = _Live(state)
        w = _Work(state, live, now)
        try:
            t = type(msg)
            if t is Presence:
                w.presence(msg)  # type: ignore[arg-type]
            elif t is OfferOutcome:
                w.outcome(msg)  # type: ignore[arg-type]
            elif t is Submit:
                w.submit(msg)  # type: ignore[arg-type]
            elif t is Withdraw:
                w.withdraw(msg)  # type: ignore[arg-type]
            elif t is Update:
                w.update(msg)  # type: ignore[arg-type]
            elif t is OfferExpired:
                w.expired(msg)  # type: ignore[arg-type]
            elif t is GetMatcher:
                return state, (Reply(msg=w.stats()),)
            else:
                text = f"{state.address}: cannot handle {msg.TAG}"
                return state, (Fail(code="matcher.unknown_message", text=text),)
            if w.pending_agents or w.pending_calls:
                w.settle()
            new = w.result()
        except BaseException:
            del self._live[state.address]  # half-updated: rebuilt from the state next time
            raise
        live.state = new
        return new, w.effects


__all__ = ["MATCHER", "OFFER_GRACE_S", "MatcherBehaviour", "offer_timer"]
