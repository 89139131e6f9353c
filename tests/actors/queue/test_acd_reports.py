"""Journal events are enough: explain a call, compute SL/ASA/AHT/abandon/occupancy, encode all."""

from __future__ import annotations

import pytest

from actors.agent import AGENT_MESSAGES
from actors.agent.behaviour import AgentBehaviour
from actors.agent.messages import AgentProfile, Answered, CallEnded, Configure, Login, Ready
from actors.matcher import MATCHER_MESSAGES
from actors.matcher.behaviour import MatcherBehaviour
from actors.matcher.explain import explain
from actors.matcher.pump import Pump
from actors.queue import QUEUE_MESSAGES
from actors.queue.behaviour import QueueBehaviour
from actors.queue.messages import Abandon, ConfigureQueue, Enqueue, QueueConfig, RelaxStep
from actors.queue.metrics import agent_figures, queue_figures
from bus.codec import Catalogue, Codec


def scenario() -> Pump:
    p = Pump([AgentBehaviour(), MatcherBehaviour(), QueueBehaviour()])
    p.ask("queue/sales", ConfigureQueue(config=QueueConfig(
        skills={"fr": 6}, relax=(RelaxStep(after_s=30, skills={"fr": 3}),),
    )))  # fmt: skip
    for login, fr in (("anna", 4), ("bob", 8)):
        p.ask(f"agent/{login}", Configure(profile=AgentProfile(skills={"fr": fr}, wrap_up_s=10)))
        p.ask(f"agent/{login}", Login(phone_uri=f"sip:{login}"))
    p.ask("agent/anna", Ready())
    p.ask("queue/sales", Enqueue(call_id="c1", caller="+33123"))  # nobody with fr>=6 ready
    p.advance(10)
    p.ask("queue/sales", Enqueue(call_id="c2"))
    p.advance(20)  # t=30: c1 relaxes to fr>=3 and goes to anna
    p.tell("agent/anna", Answered(call_id="c1"))
    p.advance(5)
    p.tell("queue/sales", Abandon(call_id="c2"))  # t=35, waited 25 s
    p.advance(55)
    p.tell("agent/anna", CallEnded(call_id="c1"))  # t=90: 60 s talk
    p.advance(10)  # wrap-up ends at t=100
    p.ask("agent/bob", Ready())
    p.ask("queue/sales", Enqueue(call_id="c3"))  # answered at once by bob
    p.tell("agent/bob", Answered(call_id="c3"))
    p.advance(20)
    p.tell("agent/bob", CallEnded(call_id="c3"))
    p.advance(10)
    return p


def test_explain_tells_the_story_with_the_reason() -> None:
    text = explain("c1", [e for _, e in scenario().journal])
    lines = text.splitlines()
    assert lines[0] == "call c1:"
    assert "queued in sales at position 1 (priority 0, caller +33123)" in lines[1]
    assert "+   30.0 s  requirements relaxed to fr>=3 after 30 s" in text
    assert "offered to anna after 30 s (strategy longest-idle): agent anna: longest idle" in text
    assert "answered by anna after 30 s in sales" in text
    assert "agent anna: talking -> wrap_up (call_ended)" in text
    assert explain("nope", []) == "call nope: no journal events"


def test_queue_and_agent_figures_from_events_only() -> None:
    events = [e for _, e in scenario().journal]
    (q,) = queue_figures(events, sl_threshold_s=20).values()
    assert (q.offered, q.answered, q.abandoned, q.overflowed) == (3, 2, 1, 0)
    assert q.asa_s == pytest.approx((30 + 0) / 2)
    assert q.service_level == pytest.approx(1 / 3)  # c3 in SL; c1 late; c2 abandoned after 20 s
    assert q.abandon_rate == pytest.approx(1 / 3)
    figs = agent_figures(events, until=130.0)
    anna, bob = figs["anna"], figs["bob"]
    assert anna.handled == 1 and anna.aht_s == pytest.approx(60 + 10)
    assert anna.seconds_in["ready"] == pytest.approx(30 + 30)  # 0-30 and 100-130
    assert anna.occupancy == pytest.approx(70 / 130)
    assert bob.handled == 1 and bob.aht_s == pytest.approx(30)  # 20 talk + 10 wrap-up


def test_every_acd_message_has_a_unique_tag_and_survives_the_codec() -> None:
    classes = [*AGENT_MESSAGES, *QUEUE_MESSAGES, *MATCHER_MESSAGES]
    codec = Codec(Catalogue(classes))  # raises on a duplicate tag or an unsupported field type
    assert len({c.TAG for c in classes}) == len(classes)
    p = scenario()
    for address, state in p.states.items():
        assert codec.decode(codec.encode(state)) == state, address
    for _, event in p.journal:
        assert codec.decode(codec.encode(event)) == event
