"""Pure helpers of the queue: line order, positions, estimated wait, rules and config checks."""

from __future__ import annotations

from bisect import bisect_right

from actors.matcher.messages import MAX_LEVEL, MIN_LEVEL, STRATEGIES
from actors.queue.messages import OverflowRule, OverflowWhen, QueueConfig, QueueEntry, QueueState

#: weight of the newest answer interval in the moving average behind the EWT
EWT_ALPHA = 0.2


def line_key(e: QueueEntry) -> tuple[int, float, int]:
    return (-e.priority, e.waiting_since, e.seq)


def insert(entries: tuple[QueueEntry, ...], e: QueueEntry) -> tuple[QueueEntry, ...]:
    keys = [line_key(x) for x in entries]
    i = bisect_right(keys, line_key(e))
    return (*entries[:i], e, *entries[i:])


def find(entries: tuple[QueueEntry, ...], call_id: str) -> int:
    for i, e in enumerate(entries):
        if e.call_id == call_id:
            return i
    return -1


def position(entries: tuple[QueueEntry, ...], call_id: str) -> int:
    """1-based place among calls still waiting (offered calls have left the line)."""
    n = 0
    for e in entries:
        if e.offered:
            continue
        n += 1
        if e.call_id == call_id:
            return n
    return 0


def waiting_count(entries: tuple[QueueEntry, ...]) -> int:
    return sum(1 for e in entries if not e.offered)


def ewt(state: QueueState, pos: int) -> float:
    """Estimated wait at ``pos``: measured time between answers, or the configured guess."""
    per = state.answer_interval_s
    if per is None:
        per = state.config.ewt_per_position_s
    return pos * per


def next_interval(state: QueueState, now: float) -> float | None:
    if state.last_answer_at is None:
        return state.answer_interval_s
    gap = now - state.last_answer_at
    if state.answer_interval_s is None:
        return gap
    return (1 - EWT_ALPHA) * state.answer_interval_s + EWT_ALPHA * gap


def rule_for(config: QueueConfig, when: OverflowWhen) -> OverflowRule | None:
    for r in config.overflow:
        if r.when == when:
            return r
    return None


def config_problem(name: str, c: QueueConfig) -> str | None:
    """What is wrong with ``c`` (naming the field), or None."""
    where = f"queue/{name}: config"
    if c.strategy not in STRATEGIES:
        return f"{where}.strategy {c.strategy!r} is not one of {', '.join(STRATEGIES)}"
    for label, skills in [("skills", c.skills)] + [
        (f"relax[{i}].skills", step.skills) for i, step in enumerate(c.relax)
    ]:
        for s, lvl in skills.items():
            if not s or not MIN_LEVEL <= lvl <= MAX_LEVEL:
                return f"{where}.{label}[{s!r}] = {lvl}: proficiency is {MIN_LEVEL}-{MAX_LEVEL}"
    last = 0.0
    for i, step in enumerate(c.relax):
        if step.after_s <= last:
            return f"{where}.relax[{i}].after_s = {step.after_s}: steps must grow from 0"
        last = step.after_s
    seen: set[str] = set()
    for i, r in enumerate(c.overflow):
        if r.when in seen:
            return f"{where}.overflow[{i}]: a second rule for {r.when}"
        seen.add(r.when)
        if r.threshold < 0:
            return f"{where}.overflow[{i}].threshold = {r.threshold}: must be >= 0"
        if r.kind in ("queue", "external") and not r.target:
            return f"{where}.overflow[{i}].target: {r.kind} overflow needs a target"
        if r.kind == "queue" and r.target == name:
            return f"{where}.overflow[{i}].target: a queue cannot overflow into itself"
    if c.ring_timeout_s <= 0:
        return f"{where}.ring_timeout_s = {c.ring_timeout_s}: must be > 0"
    if c.ring_all_max < 1:
        return f"{where}.ring_all_max = {c.ring_all_max}: must be >= 1"
    if c.announce_every_s < 0:
        return f"{where}.announce_every_s = {c.announce_every_s}: must be >= 0 (0: off)"
    return None
