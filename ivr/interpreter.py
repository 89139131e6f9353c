"""The pure IVR interpreter: ``start`` and ``step`` map (scheme, state, event, now) to a new
state and the actions the call actor performs. No I/O, no clocks, no timers of its own.

One invariant keeps it simple: at most one timer runs (``state.timer``) and events that do not
match what the state waits for (a stale timer key, another request id, the end of a prompt
already stopped) are logged and ignored, so a call actor may deliver late events freely.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from dataclasses import replace

from ivr.expr import ExprError, Template, text_of
from ivr.messages import (
    DTMF_DIGITS,
    CallerHangup,
    CancelTimer,
    Digit,
    Enqueue,
    Hangup,
    HttpFailed,
    HttpRequest,
    HttpResult,
    IvrAction,
    IvrEvent,
    IvrState,
    Log,
    OfferCallback,
    Outcome,
    Play,
    PlayDone,
    RecordVoicemail,
    StartTimer,
    StopPlay,
    Timeout,
    TransferAgent,
    TransferExternal,
)
from ivr.rendering import json_path, json_text, render_json, render_url, show_vars
from ivr.scheme import (
    BranchNode,
    CallbackNode,
    CollectNode,
    HangupNode,
    HttpNode,
    InputNode,
    MenuNode,
    Node,
    PlayNode,
    QueueNode,
    Scheme,
    SetNode,
    TransferNode,
    VoicemailNode,
)

#: nodes entered for one event without waiting for anything: a runaway loop, end the call
MAX_HOPS = 100
MAX_TYPEAHEAD = 32
LOG_TEXT_MAX = 500

Result = tuple[IvrState, tuple[IvrAction, ...]]


def start(scheme: Scheme, call_vars: Mapping[str, str], now: float) -> Result:
    """Begin a call at the scheme's start node. ``call_vars`` (caller, dialled, call_id...)
    override the scheme's ``vars``."""
    run = _Run(scheme, now)
    variables = {**scheme.vars, **{k: str(v) for k, v in call_vars.items()}}
    state = IvrState(scheme=scheme.name, version=scheme.version, node=scheme.start,
                     phase="play", vars=variables)
    run.log("start", scheme.start, f"scheme {scheme.name} version {scheme.version}; "
            f"variables {show_vars(variables)}")
    return run.enter(state, scheme.start), tuple(run.actions)


def step(scheme: Scheme, state: IvrState, event: IvrEvent, now: float) -> Result:
    """Apply one event. ``scheme`` should be the version the state names
    (``SchemeRegistry.scheme_for``); given another, the call carries on at the same node
    (replayed) of that version, or at its start if the node is gone."""
    run = _Run(scheme, now)
    if state.phase == "done":
        return state, ()
    if isinstance(event, CallerHangup):
        state = run.caller_hangup(state)
    elif state.version != scheme.version or state.node not in scheme.nodes:
        state = run.adopt(state)
    else:
        state = run.handle(state, event)
    return state, tuple(run.actions)


class _Run:
    """The actions of one start/step call, and the transitions that produce them."""

    def __init__(self, scheme: Scheme, now: float) -> None:
        self.scheme = scheme
        self.now = now
        self.actions: list[IvrAction] = []
        self.hops = 0

    # -- plumbing ------------------------------------------------------------------------

    def log(self, kind: str, node: str, text: str) -> None:
        if len(text) > LOG_TEXT_MAX:
            text = text[:LOG_TEXT_MAX] + "..."
        self.actions.append(Log(kind=kind, node=node, text=text))

    def render(self, template: Template, state: IvrState) -> str:
        return template.render(state.vars)

    def start_timer(self, state: IvrState, after_s: float) -> IvrState:
        state = self.cancel_timer(state)
        key = f"t{state.seq + 1}"
        self.actions.append(StartTimer(key=key, after_s=after_s))
        return replace(state, seq=state.seq + 1, timer=key)

    def cancel_timer(self, state: IvrState) -> IvrState:
        if not state.timer:
            return state
        self.actions.append(CancelTimer(key=state.timer))
        return replace(state, timer="")

    def play(self, state: IvrState, prompts: tuple[str, ...], barge_in: bool) -> IvrState:
        self.actions.append(Play(prompt=prompts[0], barge_in=barge_in))
        self.log("play", state.node, prompts[0])
        return replace(state, prompts=prompts, barge_in=barge_in)

    def finish(self, state: IvrState, outcome: Outcome, action: IvrAction, what: str) -> IvrState:
        state = self.cancel_timer(state)
        self.log("exit", state.node, f"{outcome}: {what}")
        self.actions.append(action)
        return replace(state, phase="done", outcome=outcome, prompts=(), typeahead="")

    # -- entering nodes ------------------------------------------------------------------

    def enter(self, state: IvrState, name: str) -> IvrState:
        self.hops += 1
        state = self.cancel_timer(state)
        if self.hops > MAX_HOPS:
            self.log("error", name, f"entered {MAX_HOPS} nodes without waiting for anything "
                     "(a loop?); hanging up")
            return self.finish(state, "error", Hangup(), "runaway loop")
        node = self.scheme.nodes[name]
        state = replace(state, node=name, prompts=(), barge_in=False, attempt=0, digits="",
                        http_id="")
        self.log("enter", name, node.TYPE)
        if isinstance(node, PlayNode):
            if node.barge_in and state.typeahead:
                self.log("play", name, "skipped: the caller already pressed keys")
                return self.enter(state, node.next)
            return self.play(replace(state, phase="play"),
                             (self.render(node.prompt, state),), node.barge_in)
        if isinstance(node, InputNode | CallbackNode):
            return self.enter_input(replace(state, phase="input"), node)
        if isinstance(node, BranchNode):
            return self.enter(state, self.branch(state, node))
        if isinstance(node, SetNode):
            return self.enter(self.assign(state, node), node.next)
        if isinstance(node, HttpNode):
            return self.request(state, node)
        if isinstance(node, QueueNode):
            return self.enqueue(state, node)
        if isinstance(node, TransferNode):
            if node.agent is not None:
                login = self.render(node.agent, state)
                return self.finish(state, "agent", TransferAgent(login=login), login)
            number = self.render(node.number or Template("", ()), state)
            return self.finish(state, "external", TransferExternal(number=number), number)
        if isinstance(node, VoicemailNode | HangupNode):
            if node.prompt is None:
                return self.after_play(state, node)
            return self.play(replace(state, phase="play"),
                             (self.render(node.prompt, state),), False)
        raise TypeError(f"no transition for node type {node.TYPE!r}")

    def after_play(self, state: IvrState, node: Node) -> IvrState:
        if isinstance(node, PlayNode):
            return self.enter(state, node.next)
        if isinstance(node, VoicemailNode):
            mailbox = self.render(node.mailbox, state)
            return self.finish(state, "voicemail",
                               RecordVoicemail(mailbox=mailbox, max_s=node.max_s),
                               f"mailbox {mailbox}, at most {node.max_s:g}s")
        return self.finish(state, "hangup", Hangup(), "hang up")

    def enter_input(self, state: IvrState, node: InputNode | CallbackNode) -> IvrState:
        if not state.typeahead:
            return self.play(state, (self.render(node.prompt, state),), _barge_in(node))
        self.log("digit", node.name, f"typed ahead: {state.typeahead}")
        while state.phase == "input" and state.node == node.name and state.typeahead \
                and not state.prompts:
            digit, rest = state.typeahead[0], state.typeahead[1:]
            state = self.input_digit(replace(state, typeahead=rest), digit)
        return state

    def branch(self, state: IvrState, node: BranchNode) -> str:
        local = dt.datetime.fromtimestamp(self.now, self.scheme.timezone)
        when = local.strftime("%a %Y-%m-%d %H:%M")
        for i, case in enumerate(node.cases):
            try:
                holds = case.when.holds(local, state.vars, self.scheme.holidays)
            except ExprError as exc:
                self.log("error", node.name, f"case {i} ({case.when.text}): {exc}; taken as "
                         "false")
                holds = False
            if holds:
                self.log("branch", node.name, f"case {i} ({case.when.text}) holds at {when} "
                         f"-> {case.goto}")
                return case.goto
        self.log("branch", node.name, f"no case holds at {when} -> else {node.otherwise}")
        return node.otherwise

    def assign(self, state: IvrState, node: SetNode) -> IvrState:
        variables = dict(state.vars)
        for name, template in node.values.items():
            variables[name] = template.render(variables)
            self.log("set", node.name, f"{name} = {variables[name]!r}")
        for name, expr in node.compute.items():
            try:
                variables[name] = text_of(expr.evaluate(variables))
            except ExprError as exc:
                self.log("error", node.name, f"{name} = {expr.text}: {exc}; set to ''")
                variables[name] = ""
            self.log("set", node.name, f"{name} = {variables[name]!r}")
        return replace(state, vars=variables)

    def request(self, state: IvrState, node: HttpNode) -> IvrState:
        seq = state.seq + 1
        request_id = f"{node.name}-{seq}"
        url = render_url(node.url, state.vars)
        body = None
        if node.body is not None:
            body = json.dumps(render_json(node.body, state.vars), ensure_ascii=False)
        headers = {k: v.render(state.vars) for k, v in node.headers.items()}
        self.actions.append(HttpRequest(id=request_id, method=node.method, url=url, body=body,
                                        timeout_s=node.timeout_s, headers=headers))
        self.log("http", node.name, f"{node.method} {url}" + (f" {body}" if body else ""))
        state = replace(state, phase="http", http_id=request_id, seq=seq)
        return self.start_timer(state, node.timeout_s)

    def enqueue(self, state: IvrState, node: QueueNode) -> IvrState:
        queue = self.render(node.queue, state)
        priority = self.whole(state, node, "priority", self.render(node.priority, state))
        skills = {skill: self.whole(state, node, f"skills.{skill}", level.render(state.vars))
                  for skill, level in node.skills.items()}
        what = f"queue {queue}, priority {priority}" + (f", skills {skills}" if skills else "")
        return self.finish(state, "queue", Enqueue(queue=queue, priority=priority,
                                                   skills=skills), what)

    def whole(self, state: IvrState, node: Node, field: str, text: str) -> int:
        try:
            return int(text.strip())
        except ValueError:
            self.log("error", node.name, f"{field}: {text!r} is not a whole number; using 0")
            return 0

    # -- events --------------------------------------------------------------------------

    def handle(self, state: IvrState, event: IvrEvent) -> IvrState:
        if isinstance(event, PlayDone):
            return self.play_done(state, event)
        if isinstance(event, Digit):
            return self.digit(state, event.digit)
        if isinstance(event, Timeout):
            return self.timeout(state, event.key)
        if isinstance(event, HttpResult | HttpFailed):
            return self.http_answer(state, event)
        raise TypeError(f"not an IVR event: {type(event).__name__}")

    def ignore(self, state: IvrState, what: str) -> IvrState:
        self.log("ignore", state.node, what)
        return state

    def play_done(self, state: IvrState, event: PlayDone) -> IvrState:
        if not state.prompts:
            return self.ignore(state, f"end of prompt {event.prompt!r}: none is playing")
        if event.prompt and event.prompt != state.prompts[0]:
            return self.ignore(state, f"end of prompt {event.prompt!r}: "
                               f"{state.prompts[0]!r} is playing")
        rest = state.prompts[1:]
        if rest:
            return self.play(state, rest, state.barge_in)
        state = replace(state, prompts=())
        node = self.scheme.nodes[state.node]
        if state.phase == "input":
            return self.start_timer(state, _first_timeout(node))
        return self.after_play(state, node)

    def digit(self, state: IvrState, digit: str) -> IvrState:
        if len(digit) != 1 or digit not in DTMF_DIGITS:
            return self.ignore(state, f"not a DTMF key: {digit!r}")
        self.log("digit", state.node, digit)
        if state.phase == "http":
            return replace(state, typeahead=(state.typeahead + digit)[-MAX_TYPEAHEAD:])
        if state.prompts and not state.barge_in:
            return self.ignore(state, f"key {digit}: the prompt cannot be interrupted")
        if state.prompts:
            self.actions.append(StopPlay())
            state = replace(state, prompts=())
        node = self.scheme.nodes[state.node]
        if state.phase == "play" and isinstance(node, PlayNode):
            return self.enter(replace(state, typeahead=state.typeahead + digit), node.next)
        if state.phase == "input":
            return self.input_digit(state, digit)
        return self.ignore(state, f"key {digit}: nothing is asked")

    def input_digit(self, state: IvrState, digit: str) -> IvrState:
        node = self.scheme.nodes[state.node]
        state = self.cancel_timer(state)
        if isinstance(node, MenuNode):
            if digit in node.choices:
                self.log("choice", node.name, f"{digit} -> {node.choices[digit]}")
                return self.enter(state, node.choices[digit])
            return self.retry(state, node, invalid=True, why=f"{digit} is not a choice")
        if isinstance(node, CollectNode):
            if node.terminator and digit == node.terminator:
                return self.collected(state, node)
            state = replace(state, digits=state.digits + digit)
            if len(state.digits) >= node.max_digits:
                return self.collected(state, node)
            return self.start_timer(state, node.inter_digit_s)
        if isinstance(node, CallbackNode):
            return self.callback(state, node, digit == node.accept_digit, f"key {digit}")
        raise TypeError(f"{node.TYPE} nodes take no digits")

    def collected(self, state: IvrState, node: CollectNode) -> IvrState:
        if len(state.digits) < node.min_digits:
            return self.retry(state, node, invalid=True, why=f"{len(state.digits)} digit(s), "
                              f"at least {node.min_digits} needed")
        self.log("set", node.name, f"{node.into} = {state.digits!r}")
        state = replace(state, vars={**state.vars, node.into: state.digits})
        return self.enter(state, node.next)

    def callback(self, state: IvrState, node: CallbackNode, accepted: bool,
                 why: str) -> IvrState:
        if not accepted:
            self.log("choice", node.name, f"{why}: callback declined -> {node.decline}")
            return self.enter(state, node.decline)
        queue, number = self.render(node.queue, state), self.render(node.number, state)
        self.log("choice", node.name, f"{why}: callback to {number} for queue {queue}")
        self.actions.append(OfferCallback(queue=queue, number=number))
        return self.enter(state, node.next)

    def retry(self, state: IvrState, node: InputNode, *, invalid: bool, why: str) -> IvrState:
        attempt = state.attempt + 1
        if attempt > node.retries:
            self.log("retry", node.name, f"{why}; no retries left -> {node.failure}")
            return self.enter(state, node.failure)
        self.log("retry", node.name, f"{why}; retry {attempt} of {node.retries}")
        extra = node.invalid_prompt if invalid else node.no_input_prompt
        prompts = (*(() if extra is None else (self.render(extra, state),)),
                   self.render(node.prompt, state))
        state = replace(state, attempt=attempt, digits="", typeahead="")
        return self.play(state, prompts, node.barge_in)

    def timeout(self, state: IvrState, key: str) -> IvrState:
        if not key or key != state.timer:
            return self.ignore(state, f"timer {key!r}: not running")
        state = replace(state, timer="")
        node = self.scheme.nodes[state.node]
        if isinstance(node, HttpNode):
            self.log("http", node.name, f"no answer in {node.timeout_s:g}s -> {node.fallback}")
            return self.enter(state, node.fallback)
        if isinstance(node, CallbackNode):
            return self.callback(state, node, False, f"no key in {node.timeout_s:g}s")
        if isinstance(node, CollectNode) and state.digits:
            if len(state.digits) >= node.min_digits:
                return self.collected(state, node)
            return self.retry(state, node, invalid=True, why=f"only {len(state.digits)} "
                              f"digit(s) before the {node.inter_digit_s:g}s timeout")
        if isinstance(node, InputNode):
            return self.retry(state, node, invalid=False,
                              why=f"no key in {node.timeout_s:g}s")
        return self.ignore(state, f"timer {key!r} in a {node.TYPE} node")

    def http_answer(self, state: IvrState, event: HttpResult | HttpFailed) -> IvrState:
        node = self.scheme.nodes[state.node]
        if state.phase != "http" or event.id != state.http_id or not isinstance(node, HttpNode):
            return self.ignore(state, f"HTTP answer {event.id!r}: not awaited")
        state = self.cancel_timer(replace(state, http_id=""))
        if isinstance(event, HttpFailed):
            self.log("http", node.name, f"failed: {event.reason} -> {node.fallback}")
            return self.enter(state, node.fallback)
        self.log("http", node.name, f"status {event.status}: {json_text(event.json)}")
        if not 200 <= event.status < 300:
            self.log("http", node.name, f"status {event.status} -> {node.fallback}")
            return self.enter(state, node.fallback)
        variables = dict(state.vars)
        for name, path in node.save.items():
            found = json_path(event.json, path)
            variables[name] = "" if found is None else found
            self.log("set", node.name, f"{name} = {variables[name]!r}"
                     + (f" ({path!r} is not in the answer)" if found is None else ""))
        return self.enter(replace(state, vars=variables), node.next)

    def caller_hangup(self, state: IvrState) -> IvrState:
        state = self.cancel_timer(state)
        self.log("hangup", state.node, "the caller hung up")
        return replace(state, phase="done", outcome="caller-hangup", prompts=(), typeahead="")

    def adopt(self, state: IvrState) -> IvrState:
        target = state.node if state.node in self.scheme.nodes else self.scheme.start
        self.log("reload", state.node, f"scheme version {state.version} is gone; going on "
                 f"with version {self.scheme.version} at node {target!r}")
        if state.prompts:
            self.actions.append(StopPlay())
        state = self.cancel_timer(replace(state, version=self.scheme.version))
        return self.enter(state, target)


def _barge_in(node: InputNode | CallbackNode) -> bool:
    return node.barge_in if isinstance(node, InputNode) else True


def _first_timeout(node: Node) -> float:
    if isinstance(node, InputNode | CallbackNode):
        return node.timeout_s
    raise TypeError(f"{node.TYPE} nodes wait for no input")
