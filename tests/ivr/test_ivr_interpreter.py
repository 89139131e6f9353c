"""The pure interpreter, driven by a scripted caller (digits, prompt ends, timers as events)."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bus.codec import Catalogue, Codec
from ivr.interpreter import MAX_HOPS
from ivr.messages import (
    IVR_MESSAGES,
    CallerHangup,
    Digit,
    Enqueue,
    Hangup,
    HttpFailed,
    HttpRequest,
    HttpResult,
    IvrState,
    OfferCallback,
    Play,
    PlayDone,
    RecordVoicemail,
    StartTimer,
    StopPlay,
    Timeout,
    TransferAgent,
    TransferExternal,
)
from tests.ivr.scripted import MENU_SCHEME, ScriptedCall, scheme_of

MENU = scheme_of(MENU_SCHEME)


def test_caller_walks_the_menu_to_a_queue() -> None:
    call = ScriptedCall(MENU)
    assert call.listen() == ["welcome", "main-menu"]
    assert call.state.phase == "input" and call.state.timer
    call.press("1")
    done = call.state
    assert done.phase == "done" and done.outcome == "queue"
    assert call.actions_of(Enqueue) == [Enqueue(queue="sales", priority=5,
                                                skills={"french": 3})]
    assert call.timers == {}  # the menu's timer was cancelled


def test_a_key_during_the_menu_prompt_stops_it_and_counts() -> None:
    call = ScriptedCall(MENU)
    call.prompt_ends()  # welcome
    assert call.playing == "main-menu"
    call.press("2")
    assert StopPlay() in call.history
    assert call.actions_of(Enqueue) == [Enqueue(queue="support", priority=0, skills={})]


def test_a_wrong_key_plays_the_invalid_prompt_and_asks_again() -> None:
    call = ScriptedCall(MENU)
    call.listen()
    call.press("7")
    assert call.state.node == "menu" and call.state.attempt == 1
    assert call.listen() == ["invalid", "main-menu"]
    call.press("2")
    assert call.state.outcome == "queue"
    assert "menu: 7 is not a choice; retry 1 of 2" in call.logs("retry")


def test_wrong_keys_past_the_retries_take_the_failure_edge() -> None:
    call = ScriptedCall(MENU)
    call.listen()
    for _ in range(3):
        call.press("9")
        call.listen()
    assert call.state.outcome == "hangup"
    assert [p.prompt for p in call.actions_of(Play)] == [
        "welcome", "main-menu", "invalid", "main-menu", "invalid", "main-menu", "goodbye"]
    assert call.actions_of(Hangup) == [Hangup()]


def test_no_input_times_out_as_designed() -> None:
    call = ScriptedCall(MENU)
    call.listen()
    started = call.now
    call.wait(4.9)
    assert call.state.attempt == 0  # 5 s not over yet
    call.wait(0.2)
    assert call.state.attempt == 1
    assert call.listen() == ["no-input", "main-menu"]
    call.wait(5.0)
    call.listen()
    call.wait(5.0)  # third silence: retries (2) used up
    assert call.state.node == "goodbye"
    # three 5 s silences; the clock had run 0.1 s past the first one before prompts replayed
    assert call.now - started == pytest.approx(15.1)
    assert call.listen() == ["goodbye"]
    assert call.state.outcome == "hangup"
    assert [t for t in call.logs("retry")] == [
        "menu: no key in 5s; retry 1 of 2", "menu: no key in 5s; retry 2 of 2",
        "menu: no key in 5s; no retries left -> goodbye"]


def test_stale_events_are_ignored() -> None:
    call = ScriptedCall(MENU)
    call.listen()
    old_timer = call.state.timer
    call.press("7")  # cancels the timer, replays prompts
    before = call.state
    call.send(Timeout(key=old_timer))  # fired while being cancelled
    call.send(PlayDone(prompt="main-menu"))  # end of the stopped prompt
    call.send(HttpResult(id="x-1", status=200, json={}))
    assert call.state == before
    assert len(call.logs("ignore")) == 3


COLLECT = scheme_of("""
    start: account
    nodes:
      account:
        type: collect
        prompt: enter-account
        into: account
        min: 4
        max: 6
        terminator: "#"
        timeout_s: 5
        inter_digit_s: 3
        retries: 1
        invalid_prompt: too-short
        next: thanks
        failure: bye
      thanks: {type: play, prompt: "tts:Thanks ${account}", next: bye}
      bye: {type: hangup}
""")


def test_collect_ends_on_the_terminator() -> None:
    call = ScriptedCall(COLLECT)
    call.press("1234#")
    assert call.state.vars["account"] == "1234"
    assert call.playing == "tts:Thanks 1234"


def test_collect_ends_at_max_digits() -> None:
    call = ScriptedCall(COLLECT)
    call.listen()
    call.press("12345678")  # the last two go nowhere: the play node ignores keys
    assert call.state.vars["account"] == "123456"


def test_collect_ends_after_the_inter_digit_timeout_with_enough_digits() -> None:
    call = ScriptedCall(COLLECT)
    call.listen()
    call.press("98765")
    call.wait(3.0)
    assert call.state.vars["account"] == "98765"


def test_collect_too_few_digits_retries_then_fails() -> None:
    call = ScriptedCall(COLLECT)
    call.press("12#")
    assert call.listen() == ["too-short", "enter-account"]
    call.press("1")
    call.wait(3.0)
    assert "account" not in call.state.vars
    assert call.state.outcome == "hangup"


TIME_AND_VARS = scheme_of("""
    start: hours
    timezone: Europe/Paris
    holidays:
      public: ["12-25", "2025-04-21"]
    nodes:
      hours:
        type: branch
        cases:
          - if: {holiday: public}
            goto: closed
          - if: {days: mon-fri, time: "09:00-18:00"}
            goto: count
        else: closed
      count:
        type: set
        values: {greeting: "hi ${caller}"}
        compute: {n: "len(caller) * 2", vip: 'startswith(caller, "+33")'}
        next: check
      check:
        type: branch
        cases:
          - if: 'vip and n > 10'
            goto: transfer
        else: outside
      transfer: {type: transfer, agent: anna}
      outside: {type: transfer, number: "+441234"}
      closed: {type: voicemail, prompt: closed, mailbox: "box-${caller}", max_s: 60}
""")


def paris(year: int, month: int, day: int, hour: int, minute: int = 0) -> float:
    """Paris in winter (UTC+1)."""
    return dt.datetime(year, month, day, hour, minute,
                       tzinfo=dt.timezone(dt.timedelta(hours=1))).timestamp()


def test_branch_on_time_of_day_and_variables() -> None:
    call = ScriptedCall(TIME_AND_VARS, now=paris(2025, 3, 4, 10, 0))
    assert call.state.vars["greeting"] == "hi +33612345678"
    assert call.state.vars["n"] == "24" and call.state.vars["vip"] == "true"
    assert call.actions_of(TransferAgent) == [TransferAgent(login="anna")]
    assert call.state.outcome == "agent"


def test_branch_outside_hours_and_on_holidays_goes_to_voicemail() -> None:
    for when in (paris(2025, 3, 4, 18, 0), paris(2025, 3, 8, 10, 0),
                 paris(2025, 12, 25, 10, 0), paris(2025, 4, 21, 10, 0)):
        call = ScriptedCall(TIME_AND_VARS, now=when)
        assert call.state.node == "closed", dt.datetime.fromtimestamp(when)
        call.listen()
        assert call.actions_of(RecordVoicemail) == [
            RecordVoicemail(mailbox="box-+33612345678", max_s=60.0)]
        assert call.state.outcome == "voicemail"


def test_variable_condition_false_takes_else() -> None:
    call = ScriptedCall(TIME_AND_VARS, call_vars={"caller": "0612"})
    assert call.actions_of(TransferExternal) == [TransferExternal(number="+441234")]


CALLBACK = scheme_of("""
    start: welcome
    nodes:
      welcome: {type: play, prompt: hello, barge_in: true, next: offer}
      offer:
        type: callback
        prompt: press-1-for-callback
        queue: sales
        next: booked
        decline: sales
      booked: {type: hangup, prompt: booked}
      sales: {type: queue, queue: sales}
""")


def test_callback_accepted() -> None:
    call = ScriptedCall(CALLBACK)
    call.listen()
    call.press("1")
    assert call.actions_of(OfferCallback) == [OfferCallback(queue="sales",
                                                            number="+33612345678")]
    call.listen()
    assert call.state.outcome == "hangup"


def test_callback_declined_by_silence() -> None:
    call = ScriptedCall(CALLBACK)
    call.listen()
    call.wait(5.0)
    assert call.state.outcome == "queue" and not call.actions_of(OfferCallback)


def test_typeahead_skips_a_barge_in_prompt_and_answers_the_next_question() -> None:
    call = ScriptedCall(CALLBACK)
    call.press("1")  # during "hello"
    assert call.actions_of(OfferCallback)
    assert [p.prompt for p in call.actions_of(Play)] == ["hello", "booked"]


TYPEAHEAD = scheme_of("""
    start: welcome
    nodes:
      welcome: {type: play, prompt: hello, barge_in: true, next: lookup}
      lookup: {type: http, url: "http://127.0.0.1:9/x", next: code, fallback: code}
      code:
        type: collect
        prompt: code
        into: code
        min: 2
        max: 4
        next: menu
        failure: bye
      menu: {type: menu, prompt: menu, choices: {1: bye}, failure: bye}
      bye: {type: hangup}
""")


def test_keys_pressed_during_a_lookup_answer_the_next_questions() -> None:
    call = ScriptedCall(TYPEAHEAD)
    call.press("4")  # barges into "hello"; the lookup starts
    assert call.state.phase == "http" and call.state.typeahead == "4"
    call.press("2#1")
    [request] = call.actions_of(HttpRequest)
    call.send(HttpFailed(id=request.id, reason="down"))
    assert call.state.vars["code"] == "42"
    assert [p.prompt for p in call.actions_of(Play)] == ["hello"]  # no question was asked
    assert call.state.outcome == "hangup"


def test_keys_pressed_one_by_one_stop_each_prompt() -> None:
    call = ScriptedCall(TYPEAHEAD)
    call.listen()
    call.send(HttpFailed(id=call.actions_of(HttpRequest)[0].id, reason="down"))
    call.press("42#")
    assert call.playing == "menu"
    call.press("1")
    assert [p.prompt for p in call.actions_of(Play)] == ["hello", "code", "menu"]
    assert len(call.actions_of(StopPlay)) == 2 and call.state.outcome == "hangup"


def test_caller_hangup_stops_everything() -> None:
    call = ScriptedCall(MENU)
    call.listen()
    timer = call.state.timer
    call.hang_up()
    assert call.state.phase == "done" and call.state.outcome == "caller-hangup"
    assert call.timers == {} and timer
    assert call.send(Digit(digit="1")) == ()


def test_http_node_success_failure_and_timeout() -> None:
    scheme = scheme_of("""
        start: ask
        vars: {crm: "http://127.0.0.1:9/api"}
        nodes:
          ask:
            type: http
            method: POST
            url: "${crm}/customers/${caller}"
            body: {ani: "${caller}", tags: [ivr]}
            headers: {X-Token: secret}
            timeout_s: 2
            save: {name: customer.name, first: orders.0.id, vip: vip}
            next: known
            fallback: unknown
          known: {type: queue, queue: vip}
          unknown: {type: queue, queue: other}
    """)
    call = ScriptedCall(scheme, call_vars={"caller": "+33 1/2"})
    [request] = call.actions_of(HttpRequest)
    assert request.url == "http://127.0.0.1:9/api/customers/%2B33%201%2F2"
    assert request.body == '{"ani": "+33 1/2", "tags": ["ivr"]}'
    assert request.headers == {"X-Token": "secret"} and request.timeout_s == 2.0
    call.send(HttpResult(id=request.id, status=200, json={
        "customer": {"name": "Zoé"}, "orders": [{"id": 17}], "vip": False}))
    assert {k: call.state.vars[k] for k in ("name", "first", "vip")} == {
        "name": "Zoé", "first": "17", "vip": "false"}
    assert call.state.outcome == "queue" and call.actions_of(Enqueue)[0].queue == "vip"

    for event in (HttpResult(id=request.id, status=404, json=None),
                  HttpFailed(id=request.id, reason="connection refused")):
        other = ScriptedCall(scheme)
        other.send(event)
        assert other.actions_of(Enqueue)[0].queue == "other"
    slow = ScriptedCall(scheme)
    slow.wait(2.0)
    assert slow.actions_of(Enqueue)[0].queue == "other"
    assert slow.send(HttpResult(id=request.id, status=200, json={})) == ()  # too late: done


def test_state_survives_the_codec_mid_call() -> None:
    """The call actor persists the state; a restarted actor resumes the caller."""
    codec = Codec(Catalogue(IVR_MESSAGES))
    call = ScriptedCall(COLLECT)
    call.listen()
    call.press("12")
    restored = codec.decode(codec.encode(call.state))
    assert isinstance(restored, IvrState) and restored == call.state
    resumed = ScriptedCall(COLLECT, state=restored, now=call.now)
    resumed.press("34#")
    assert resumed.state.vars["account"] == "1234"


def test_a_loop_of_branches_is_cut_at_max_hops() -> None:
    scheme = scheme_of("""
        start: a
        nodes:
          a: {type: set, compute: {n: "n + 1"}, next: b}
          b:
            type: branch
            cases: [{if: "n < 1000", goto: a}]
            else: done
          done: {type: hangup}
    """)
    call = ScriptedCall(scheme)
    assert call.state.outcome == "error"
    assert call.actions_of(Hangup) == [Hangup()]
    assert int(call.state.vars["n"]) == MAX_HOPS // 2


def test_another_scheme_version_takes_over_at_the_same_node() -> None:
    call = ScriptedCall(MENU)
    call.listen()
    changed = scheme_of(MENU_SCHEME.replace("main-menu", "new-menu"))
    call.scheme = changed
    call.send(Digit(digit="1"))  # dropped: the node is replayed on the new version
    assert call.state.version == changed.version
    assert call.playing == "new-menu" and not call.actions_of(Enqueue)
    assert any("is gone" in line for line in call.logs("reload"))


EVENTS = st.one_of(
    st.sampled_from("0123456789*#").map(lambda d: Digit(digit=d)),
    st.just("play"), st.just("timer"), st.floats(0.1, 10).map(lambda s: ("wait", s)),
    st.sampled_from([HttpFailed(id="ask-1", reason="x"), CallerHangup()]))


@settings(max_examples=150, deadline=None)
@given(st.lists(EVENTS, max_size=40))
def test_any_event_sequence_keeps_the_invariants(events: list[object]) -> None:
    for scheme in (MENU, COLLECT, CALLBACK, TYPEAHEAD):
        call = ScriptedCall(scheme)
        for event in events:
            if event == "play":
                if call.playing:
                    call.prompt_ends()
            elif event == "timer":
                call.wait(30.0)
            elif isinstance(event, tuple):
                call.wait(event[1])
            else:
                call.send(event)  # type: ignore[arg-type]
            state = call.state
            assert len(call.timers) <= 1
            assert set(call.timers) == ({state.timer} if state.timer else set())
            if state.phase == "done":
                assert state.outcome and not state.timer
            else:
                assert state.node in scheme.nodes
                # waiting for a key always means either a prompt plays or a timer runs
                if state.phase == "input":
                    assert bool(state.prompts) != bool(state.timer)
        starts = [a for a in call.history if isinstance(a, StartTimer)]
        assert len({s.key for s in starts}) == len(starts)  # keys never reused
