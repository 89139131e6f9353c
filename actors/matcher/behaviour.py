"""The global matcher: the one decision point pairing waiting calls with ready agents.

Invariant kept after every message: no ready, unreserved agent can serve any waiting call.
Hence only what a message changed can form a new pair - the call that arrived, returned or had
its requirements relaxed (the queue's strategy picks among ready agents), or the agent that
became free (it takes the highest-priority, longest-waiting call it can serve, whichever queue
that call sits in). Each decision reserves its agents *before* the Offer leaves, and an agent
stays reserved until its own outcome for that call arrives or the safety timer fires.

``decide`` is pure in what it returns: the indices are derived from the state and cached on the
behaviour under the state object they describe; handed any other state (a replay, a reloaded
snapshot) the behaviour rebuilds them from it.
"""

from __future__ import annotations

from collections.abc import Sequence

from actors.effects import CancelTimer, Effect, Fail, Journal, Reply, Send, StartTimer
from actors.matcher.cow import CowMap
from actors.matcher.index import ReadyIndex, WaitingIndex, build, satisfies
from actors.matcher.messages import (
    MATCHER,
    Connected,
    Decision,
    GetMatcher,
    MatchAgent,
    MatchCall,
    Matched,
    MatcherState,
    MatcherStats,
    Offer,
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


class _Work:
    """One decide's working copy: copy-on-write maps, the indices, the effects so far."""

    def __init__(
        self, state: MatcherState, ready: ReadyIndex, waiting: WaitingIndex, now: float
    ) -> None:
        self.state = state
        self.ready = ready
        self.waiting = waiting
        self.now = now
        self.agents: CowMap[MatchAgent] = CowMap(state.agents)
        self.calls: CowMap[MatchCall] = CowMap(state.calls)
        self.rotation = state.rotation
        self.rng = state.rng
        self.seq = state.seq
        self.decisions = state.decisions
        self.changed = False
        self._own_rotation = False
        self.effects: list[Effect] = []
        self.pending_agents: list[str] = []
        self.pending_calls: list[str] = []

    # ------------------------------------------------------------- copy-on-write stores

    def put_agent(self, a: MatchAgent) -> None:
        self.agents.put(a.login, a)
        self.changed = True
        # Indexed lazily in settle(): a freed agent that finds a waiting call at once never
        # costs an index insert and delete (the common case while calls queue up).
        self.ready.remove(a.login)
        if a.ready and a.offer is None:
            self.pending_agents.append(a.login)

    def drop_agent(self, login: str) -> None:
        self.agents.drop(login)
        self.ready.remove(login)
        self.changed = True

    def put_call(self, c: MatchCall) -> None:
        self.calls.put(c.call_id, c)
        self.changed = True
        if c.offered_to:
            self.waiting.remove(c.call_id)
        else:
            self.waiting.add(c)
            self.pending_calls.append(c.call_id)

    def drop_call(self, call_id: str) -> None:
        self.calls.drop(call_id)
        self.waiting.remove(call_id)
        self.changed = True

    def result(self) -> MatcherState:
        if not self.changed:
            return self.state
        return MatcherState(
            address=self.state.address,
            agents=self.agents.outer,
            calls=self.calls.outer,
            rotation=self.rotation,
            rng=self.rng,
            seq=self.seq,
            decisions=self.decisions,
        )

    # ------------------------------------------------------------- messages

    def presence(self, p: Presence, *, offer_over: bool = False) -> None:
        """Apply an agent's own word (``offer_over``: its reservation has just ended)."""
        old = self.agents.get(p.login)
        held = None if old is None or offer_over else old.offer
        if p.status == "offline":
            if old is None:
                return
            if held is not None:
                self.effects.append(CancelTimer(key=offer_timer(held, p.login)))
                if held in self.calls:
                    self.release(held, p.login, "not_available")
            self.drop_agent(p.login)
            self.report_unstaffed()
            return
        new = MatchAgent(
            login=p.login,
            skills=p.skills,
            ready=p.status == "ready",
            idle_since=p.idle_since,
            calls_handled=p.calls_handled,
            talk_time_s=p.talk_time_s,
            offer=held,
        )
        if new != old:
            self.put_agent(new)

    def outcome(self, o: OfferOutcome) -> None:
        a = self.agents.get(o.login)
        if a is None or a.offer != o.call_id:  # stale (timed out, or a second answer)
            self.presence(o.presence)
            return
        self.effects.append(CancelTimer(key=offer_timer(o.call_id, o.login)))
        c = self.calls.get(o.call_id)
        if c is not None and o.outcome == "answered":
            # (the queue journals the answer: CallAnswered)
            self.drop_call(c.call_id)
            self.send(f"queue/{c.queue}", Connected(call_id=c.call_id, agent=o.login))
            for other in c.offered_to:
                if other != o.login:
                    why = f"answered by {o.login}"
                    self.send(f"agent/{other}", OfferWithdrawn(call_id=c.call_id, reason=why))
        elif c is not None:
            self.release(c.call_id, o.login, o.outcome)
        self.presence(o.presence, offer_over=True)

    def expired(self, e: OfferExpired) -> None:
        a = self.agents.get(e.login)
        if a is None or a.offer != e.call_id:
            return
        # Until the agent speaks again we do not know it is free: not ready, not reserved.
        self.put_agent(MatchAgent(
            login=a.login, skills=a.skills, ready=False, idle_since=a.idle_since,
            calls_handled=a.calls_handled, talk_time_s=a.talk_time_s, offer=None,
        ))  # fmt: skip
        why = "the agent did not answer the offer in time"
        self.send(f"agent/{e.login}", OfferWithdrawn(call_id=e.call_id, reason=why))
        if e.call_id in self.calls:
            self.release(e.call_id, e.login, "timeout")

    def release(self, call_id: str, login: str, outcome: Outcome) -> None:
        """``login`` holds no offer of ``call_id`` any more: if nobody does, the call waits."""
        c = self.calls.get(call_id)
        assert c is not None
        self.journal_result(call_id, login, outcome)
        rest = tuple(x for x in c.offered_to if x != login)
        self.put_call(_with_offer(c, rest))
        if not rest:
            self.send(f"queue/{c.queue}", Returned(call_id=call_id, reason=outcome))

    def send(self, to: str, msg: Message) -> None:
        self.effects.append(Send(to=to, msg=msg))

    def journal_result(self, call_id: str, login: str, outcome: Outcome) -> None:
        self.effects.append(
            Journal(event=OfferResult(call_id=call_id, agent=login, outcome=outcome, at=self.now))
        )

    def submit(self, s: Submit) -> None:
        old = self.calls.get(s.call_id)
        if old is not None and old.queue == s.queue:
            if not old.offered_to:  # the same queue re-submitting (after its restart): refresh
                self.put_call(_with_skills(old, s.skills, s.callback))
            return
        # New - or moved: overflowed into another queue whose Submit overtook the old queue's
        # Withdraw (different senders: no order between them). The new queue owns it now.
        self.seq += 1
        c = MatchCall(
            call_id=s.call_id, queue=s.queue, priority=s.priority, waiting_since=s.waiting_since,
            skills=s.skills, strategy=s.strategy, ring_timeout_s=s.ring_timeout_s,
            ring_all_max=max(1, s.ring_all_max), check_staffed=s.check_staffed,
            callback=s.callback, seq=self.seq, offered_to=() if old is None else old.offered_to,
        )  # fmt: skip
        self.put_call(c)
        if s.check_staffed and not self.staffed(c.skills):
            self.send(f"queue/{c.queue}", Unstaffed(call_id=c.call_id))

    def update(self, u: Update) -> None:
        c = self.calls.get(u.call_id)
        if c is not None:
            self.put_call(_with_skills(c, u.skills, u.callback))

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
        for c in self.calls.values():
            if c.check_staffed and not c.offered_to and not self.staffed(c.skills):
                self.send(f"queue/{c.queue}", Unstaffed(call_id=c.call_id))

    # ------------------------------------------------------------- deciding

    def settle(self) -> None:
        """Restore the invariant: try every agent that became free, then every new call."""
        ready, waiting, agents, calls = self.ready, self.waiting, self.agents, self.calls
        for login in self.pending_agents:
            a = agents.get(login)
            if a is None or not a.ready or a.offer is not None or login in ready:
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
        pending = self.pending_calls
        if len(pending) > 1:  # better calls choose first
            found = [c for c in map(calls.get, dict.fromkeys(pending)) if c is not None]
            found.sort(key=lambda c: (-c.priority, c.waiting_since, c.seq))
            pending = [c.call_id for c in found]
        for call_id in pending:
            c = calls.get(call_id)
            if c is None or call_id not in waiting:
                continue
            choice = choose_agents(ready, c, self.now, self.rotation.get(c.queue), self.rng)
            if choice is not None:
                self.rng = choice.rng
                self.decide(c, choice.agents, "call", choice.reason)

    def decide(self, c: MatchCall, logins: tuple[str, ...], trigger: str, reason: str) -> None:
        if not logins:  # an empty offer would put the call straight back: never decide that
            raise ValueError(f"matcher: decision for {c.call_id} names no agent")
        now = self.now
        offer = Offer(
            call_id=c.call_id, queue=c.queue, priority=c.priority, waiting_since=c.waiting_since,
            ring_timeout_s=c.ring_timeout_s, callback=c.callback,
        )  # fmt: skip
        effects = self.effects
        self.decisions += 1
        effects.append(Journal(event=Decision(
            call_id=c.call_id, queue=c.queue, agents=logins,
            trigger="agent" if trigger == "agent" else "call", strategy=c.strategy,
            reason=reason, priority=c.priority, waited_s=now - c.waiting_since, at=now,
            seq=self.decisions,
        )))  # fmt: skip
        for login in logins:
            a = self.agents.get(login)
            assert a is not None
            self.put_agent(MatchAgent(
                login=login, skills=a.skills, ready=a.ready, idle_since=a.idle_since,
                calls_handled=a.calls_handled, talk_time_s=a.talk_time_s, offer=c.call_id,
            ))  # fmt: skip
            effects.append(Send(to=f"agent/{login}", msg=offer))
            effects.append(StartTimer(
                key=offer_timer(c.call_id, login), after_s=c.ring_timeout_s + OFFER_GRACE_S,
                msg=OfferExpired(call_id=c.call_id, login=login),
            ))  # fmt: skip
        self.put_call(_with_offer(c, logins))
        effects.append(Send(to=f"queue/{c.queue}", msg=Matched(call_id=c.call_id, agents=logins)))
        if c.strategy == "round-robin":
            if not self._own_rotation:
                self.rotation, self._own_rotation = self.rotation.copy(), True
            self.rotation[c.queue] = logins[-1]

    def stats(self) -> MatcherStats:
        reserved = sum(1 for a in self.agents.values() if a.offer is not None)
        offered = sum(1 for c in self.calls.values() if c.offered_to)
        return MatcherStats(
            agents_logged_in=len(self.agents), agents_ready=len(self.ready),
            agents_reserved=reserved, calls_waiting=len(self.waiting), calls_offered=offered,
            decisions=self.decisions,
        )  # fmt: skip


def _with_offer(c: MatchCall, offered_to: tuple[str, ...]) -> MatchCall:
    return MatchCall(
        call_id=c.call_id, queue=c.queue, priority=c.priority, waiting_since=c.waiting_since,
        skills=c.skills, strategy=c.strategy, ring_timeout_s=c.ring_timeout_s,
        ring_all_max=c.ring_all_max, check_staffed=c.check_staffed, callback=c.callback,
        seq=c.seq, offered_to=offered_to,
    )  # fmt: skip


def _with_skills(c: MatchCall, skills: dict[str, int], callback: str | None) -> MatchCall:
    return MatchCall(
        call_id=c.call_id, queue=c.queue, priority=c.priority, waiting_since=c.waiting_since,
        skills=skills, strategy=c.strategy, ring_timeout_s=c.ring_timeout_s,
        ring_all_max=c.ring_all_max, check_staffed=c.check_staffed,
        callback=callback if callback is not None else c.callback, seq=c.seq,
        offered_to=c.offered_to,
    )  # fmt: skip


class MatcherBehaviour:
    kind = "matcher"

    def __init__(self) -> None:
        # address -> (the state these indices describe, ready index, waiting index)
        self._indices: dict[str, tuple[MatcherState, ReadyIndex, WaitingIndex]] = {}

    def initial(self, address: str) -> MatcherState:
        return MatcherState(address=address)

    def decide(
        self, state: MatcherState, msg: Message, now: float
    ) -> tuple[MatcherState, Sequence[Effect]]:
        cached = self._indices.get(state.address)
        if cached is not None and cached[0] is state:
            ready, waiting = cached[1], cached[2]
        else:
            ready, waiting = build(state)
        w = _Work(state, ready, waiting, now)
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
            w.settle()
        except BaseException:
            self._indices.pop(state.address, None)  # half-updated: rebuild next time
            raise
        new = w.result()
        self._indices[state.address] = (new, ready, waiting)
        return new, w.effects


__all__ = ["MATCHER", "OFFER_GRACE_S", "MatcherBehaviour", "offer_timer"]
