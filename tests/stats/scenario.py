"""A scripted morning in the sales queue, driven through the real queue/agent/matcher behaviours.

Times below are seconds after BASE (09:00:00 UTC on 2026-11-25, an interval boundary):

* c1 queued at 0, offered to anna at once, answered at 4 (in SL), talk to 64, wrap-up to 74;
* c2 queued at 10, hangs up at 13: a short abandon (3 s < 5 s);
* c3 queued at 20, hangs up at 50: abandoned after 30 s;
* c4 queued at 80, offered at once, answered at 110 (30 s: late), talk to 140, wrap-up to 150;
* c5 queued at 100, overflows at 140 (max wait 40 s) to support, hangs up there at 150 (10 s);
* anna pauses (coffee) at 170 and logs out at 200.
"""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from actors.agent.behaviour import AgentBehaviour
from actors.agent.messages import (
    AgentProfile,
    Answered,
    CallEnded,
    Configure,
    Login,
    Logout,
    Pause,
    Ready,
)
from actors.matcher.behaviour import MatcherBehaviour
from actors.matcher.pump import Pump
from actors.queue.behaviour import QueueBehaviour
from actors.queue.messages import (
    Abandon,
    ConfigureQueue,
    Enqueue,
    OverflowRule,
    QueueConfig,
)
from bus.message import as_dict
from store.journal import JournalRecord

BASE = 1_795_597_200.0  # 2026-11-25T09:00:00Z


def run_scenario() -> list[JournalRecord]:
    p = Pump([AgentBehaviour(), MatcherBehaviour(), QueueBehaviour()], now=0.0)
    p.ask("queue/sales", ConfigureQueue(config=QueueConfig(
        skills={"sales": 1}, ring_timeout_s=60,
        overflow=(OverflowRule(when="max_wait", kind="queue", target="support",
                               threshold=40),),
    )))  # fmt: skip
    p.ask("queue/support", ConfigureQueue(config=QueueConfig(skills={"tech": 1})))
    p.ask("agent/anna", Configure(profile=AgentProfile(skills={"sales": 5}, wrap_up_s=10)))
    p.ask("agent/anna", Login(phone_uri="sip:anna"))
    p.ask("agent/anna", Ready())
    p.ask("queue/sales", Enqueue(call_id="c1", caller="+331"))
    p.advance_to(4)
    p.tell("agent/anna", Answered(call_id="c1"))
    p.advance_to(10)
    p.ask("queue/sales", Enqueue(call_id="c2"))
    p.advance_to(13)
    p.tell("queue/sales", Abandon(call_id="c2"))
    p.advance_to(20)
    p.ask("queue/sales", Enqueue(call_id="c3"))
    p.advance_to(50)
    p.tell("queue/sales", Abandon(call_id="c3"))
    p.advance_to(64)
    p.tell("agent/anna", CallEnded(call_id="c1"))
    p.advance_to(80)  # wrap-up ended at 74
    p.ask("queue/sales", Enqueue(call_id="c4"))
    p.advance_to(100)
    p.ask("queue/sales", Enqueue(call_id="c5"))
    p.advance_to(110)
    p.tell("agent/anna", Answered(call_id="c4"))
    p.advance_to(140)  # c5 overflows at 140
    p.tell("agent/anna", CallEnded(call_id="c4"))
    p.run()
    p.ask("queue/support", Enqueue(call_id="c5", waiting_since=100.0))
    p.advance_to(150)
    p.tell("queue/support", Abandon(call_id="c5"))
    p.advance_to(170)
    p.ask("agent/anna", Pause(reason="coffee"))
    p.advance_to(200)
    p.ask("agent/anna", Logout())
    p.run()
    assert not p.fails, p.fails
    return records_of(p.journal)


def records_of(journal: list[tuple[str, Any]], first_seq: int = 1) -> list[JournalRecord]:
    """Pump journal entries as committed rows: ``ts`` is BASE + the event's ``at``."""
    out = []
    seqs: dict[str, int] = {}
    for i, (actor, event) in enumerate(journal):
        n = seqs[actor] = seqs.get(actor, -1) + 1
        out.append(JournalRecord(seq=first_seq + i, ts=BASE + event.at, actor=actor,
                                 actor_seq=n, kind=event.TAG, payload=as_dict(event)))
    return out


def write_journal(url: str, records: list[JournalRecord]) -> None:
    with psycopg.connect(url) as conn:
        for r in records:
            conn.execute(
                "INSERT INTO journal (seq, ts, actor, actor_seq, kind, payload)"
                " VALUES (%s, to_timestamp(%s), %s, %s, %s, %s)",
                (r.seq, r.ts, r.actor, r.actor_seq, r.kind, Jsonb(r.payload)))
        conn.execute("SELECT setval('journal_seq_seq', (SELECT max(seq) FROM journal))")
