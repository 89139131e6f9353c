"""Help requests (HRM): raise, first accept wins, join modes, resolve/cancel, all published."""

from __future__ import annotations

from actors.agent.behaviour import AgentBehaviour
from actors.agent.messages import (
    AcceptHelp,
    AgentProfile,
    Answered,
    CancelHelp,
    ChangeHelpMode,
    Configure,
    HelpEvent,
    HelpRequest,
    Login,
    Logout,
    Ready,
    RequestHelp,
    ResolveHelp,
    SupervisorJoin,
    SupervisorLeave,
)
from actors.effects import Fail
from actors.matcher.messages import Offer
from actors.matcher.pump import Pump


def on_call() -> Pump:
    p = Pump([AgentBehaviour()])
    p.ask("agent/anna", Configure(profile=AgentProfile(group="team-fr")))
    p.ask("agent/anna", Login(phone_uri="sip:anna@pbx"))
    p.ask("agent/anna", Ready())
    p.tell("agent/anna", Offer(call_id="c1", queue="sales"))
    p.tell("agent/anna", Answered(call_id="c1"))
    p.run()
    return p


def help_steps(p: Pump) -> list[tuple[str, str | None, str | None]]:
    published = [m for topic, m in p.published if topic == "help"]
    journaled = p.events(HelpEvent)
    assert published == journaled  # every step both published and journaled
    return [(e.step, e.supervisor, e.mode) for e in published]  # type: ignore[attr-defined]


def test_first_supervisor_wins_second_gets_a_typed_fail() -> None:
    p = on_call()
    raised = p.ask("agent/anna", RequestHelp(note="angry customer"))
    assert isinstance(raised, HelpRequest) and raised.call_id == "c1"
    ok = p.ask("agent/anna", AcceptHelp(supervisor="sue", mode="whisper"))
    assert isinstance(ok, HelpRequest) and ok.supervisor == "sue"
    late = p.ask("agent/anna", AcceptHelp(supervisor="sam", mode="barge"))
    assert isinstance(late, Fail) and late.code == "help.taken" and "sue" in late.text
    assert p.sent_to("call", SupervisorJoin) == [
        ("call/c1", SupervisorJoin(call_id="c1", agent="anna", supervisor="sue", mode="whisper"))
    ]
    published = [m for t, m in p.published if t == "help"]
    assert all(isinstance(m, HelpEvent) and m.group == "team-fr" for m in published)
    assert help_steps(p) == [("raised", None, None), ("accepted", "sue", "whisper")]


def test_mode_change_only_by_the_holder_and_resolve_leaves_the_call() -> None:
    p = on_call()
    p.ask("agent/anna", RequestHelp())
    p.ask("agent/anna", AcceptHelp(supervisor="sue"))
    wrong = p.ask("agent/anna", ChangeHelpMode(supervisor="sam", mode="barge"))
    assert isinstance(wrong, Fail) and wrong.code == "help.not_yours"
    p.ask("agent/anna", ChangeHelpMode(supervisor="sue", mode="barge"))
    assert [m.mode for _, m in p.sent_to("call", SupervisorJoin)] == ["listen", "barge"]  # type: ignore[attr-defined]
    p.ask("agent/anna", ResolveHelp(supervisor="sue", note="refund agreed"))
    assert p.sent_to("call", SupervisorLeave) == [
        ("call/c1", SupervisorLeave(call_id="c1", supervisor="sue"))
    ]
    assert p.state("agent/anna").help is None
    assert [s for s, _, _ in help_steps(p)] == ["raised", "accepted", "mode", "resolved"]


def test_help_without_a_call_and_cancel_and_double_raise() -> None:
    p = Pump([AgentBehaviour()])
    refused = p.ask("agent/bob", RequestHelp())
    assert isinstance(refused, Fail) and refused.code == "help.not_logged_in"
    p.ask("agent/bob", Login(phone_uri="sip:bob@pbx"))
    h = p.ask("agent/bob", RequestHelp(note="how do I..."))
    assert isinstance(h, HelpRequest) and h.call_id is None
    again = p.ask("agent/bob", RequestHelp())
    assert isinstance(again, Fail) and again.code == "help.already_open"
    p.ask("agent/bob", AcceptHelp(supervisor="sue", mode="barge"))
    assert p.sent_to("call") == []  # nothing to mix without a call
    p.ask("agent/bob", CancelHelp())
    none = p.ask("agent/bob", ResolveHelp(supervisor="sue"))
    assert isinstance(none, Fail) and none.code == "help.none"
    assert [s for s, _, _ in help_steps(p)] == ["raised", "accepted", "cancelled"]


def test_logout_cancels_an_open_request() -> None:
    p = Pump([AgentBehaviour()])
    p.ask("agent/bob", Login(phone_uri="sip:bob@pbx"))
    p.ask("agent/bob", RequestHelp())
    p.ask("agent/bob", Logout())
    assert p.state("agent/bob").help is None
    assert [s for s, _, _ in help_steps(p)] == ["raised", "cancelled"]
    # a fresh request after logging back in gets a new id
    p.ask("agent/bob", Login(phone_uri="sip:bob@pbx"))
    h = p.ask("agent/bob", RequestHelp())
    assert isinstance(h, HelpRequest) and h.help_id == "bob-2"
