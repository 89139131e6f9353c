"""A loaded IVR scheme: named nodes, each naming where the call goes next.

Built by ``ivr.loader`` from YAML and read by the interpreter, the checks and the diagram.
Every node class lists its outgoing ``edges()`` (field, target node) and its prompts.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any, ClassVar

from ivr.calendar_rules import DateRange, TimeRange, in_dates, in_times
from ivr.expr import Expression, Template

Edge = tuple[str, str]  # (field that names it, target node)


@dataclass(frozen=True, slots=True, kw_only=True)
class Condition:
    """Every part that is set must hold (they are ANDed)."""

    text: str  # how it reads, for logs and diagrams
    times: tuple[TimeRange, ...] = ()
    days: frozenset[int] | None = None
    dates: tuple[DateRange, ...] = ()
    holidays: tuple[str, ...] = ()  # names of the scheme's holiday lists (any of them)
    expr: Expression | None = None

    def holds(self, local: dt.datetime, variables: dict[str, str],
              holiday_lists: dict[str, tuple[DateRange, ...]]) -> bool:
        """May raise ``ExprError`` from ``expr`` (the interpreter logs it, the case fails)."""
        if self.times and not in_times(self.times, local):
            return False
        if self.days is not None and local.weekday() not in self.days:
            return False
        if self.dates and not in_dates(self.dates, local):
            return False
        if self.holidays and not any(in_dates(holiday_lists[h], local) for h in self.holidays):
            return False
        return self.expr is None or self.expr.test(variables)


@dataclass(frozen=True, slots=True, kw_only=True)
class Case:
    when: Condition
    goto: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Node:
    TYPE: ClassVar[str] = ""
    WAITS_FOR_CALLER: ClassVar[bool] = False  # reads digits: a loop through it can end

    name: str
    line: int | None = None

    def edges(self) -> tuple[Edge, ...]:
        return ()

    def prompts(self) -> tuple[tuple[str, Template], ...]:
        return ()


@dataclass(frozen=True, slots=True, kw_only=True)
class PlayNode(Node):
    TYPE = "play"
    prompt: Template
    next: str
    barge_in: bool = False

    def edges(self) -> tuple[Edge, ...]:
        return (("next", self.next),)

    def prompts(self) -> tuple[tuple[str, Template], ...]:
        return (("prompt", self.prompt),)


@dataclass(frozen=True, slots=True, kw_only=True)
class InputNode(Node):
    """Shared by menu and collect: a prompt, retries, and what to play on a retry."""

    WAITS_FOR_CALLER = True
    prompt: Template
    timeout_s: float = 5.0
    retries: int = 2  # after the first attempt
    invalid_prompt: Template | None = None
    no_input_prompt: Template | None = None
    failure: str = ""  # when retries are used up
    barge_in: bool = True

    def prompts(self) -> tuple[tuple[str, Template], ...]:
        found = [("prompt", self.prompt)]
        if self.invalid_prompt is not None:
            found.append(("invalid_prompt", self.invalid_prompt))
        if self.no_input_prompt is not None:
            found.append(("no_input_prompt", self.no_input_prompt))
        return tuple(found)


@dataclass(frozen=True, slots=True, kw_only=True)
class MenuNode(InputNode):
    TYPE = "menu"
    choices: dict[str, str] = field(default_factory=dict)  # digit -> node

    def edges(self) -> tuple[Edge, ...]:
        return (*((f"choices.{d}", t) for d, t in self.choices.items()),
                ("failure", self.failure))


@dataclass(frozen=True, slots=True, kw_only=True)
class CollectNode(InputNode):
    TYPE = "collect"
    into: str
    next: str
    min_digits: int = 1
    max_digits: int = 20
    terminator: str = "#"  # "" for none
    inter_digit_s: float = 3.0

    def edges(self) -> tuple[Edge, ...]:
        return (("next", self.next), ("failure", self.failure))


@dataclass(frozen=True, slots=True, kw_only=True)
class CallbackNode(Node):
    """Offer a callback: the accept digit registers it and goes to ``next``; anything else
    (another digit, silence) goes to ``decline``."""

    TYPE = "callback"
    WAITS_FOR_CALLER = True
    prompt: Template
    queue: Template
    number: Template
    next: str
    decline: str
    accept_digit: str = "1"
    timeout_s: float = 5.0

    def edges(self) -> tuple[Edge, ...]:
        return (("next", self.next), ("decline", self.decline))

    def prompts(self) -> tuple[tuple[str, Template], ...]:
        return (("prompt", self.prompt),)


@dataclass(frozen=True, slots=True, kw_only=True)
class BranchNode(Node):
    TYPE = "branch"
    cases: tuple[Case, ...]
    otherwise: str  # written "else"

    def edges(self) -> tuple[Edge, ...]:
        return (*((f"cases[{i}].goto", c.goto) for i, c in enumerate(self.cases)),
                ("else", self.otherwise))


@dataclass(frozen=True, slots=True, kw_only=True)
class SetNode(Node):
    """``values`` are templates, assigned first; then ``compute`` expressions, in order."""

    TYPE = "set"
    next: str
    values: dict[str, Template] = field(default_factory=dict)
    compute: dict[str, Expression] = field(default_factory=dict)

    def edges(self) -> tuple[Edge, ...]:
        return (("next", self.next),)


@dataclass(frozen=True, slots=True, kw_only=True)
class HttpNode(Node):
    TYPE = "http"
    method: str
    url: Template  # placeholders are percent-encoded
    next: str
    fallback: str  # on timeout, network failure or a status outside 2xx
    timeout_s: float = 3.0
    body: Any = None  # JSON-like structure whose strings are Templates
    headers: dict[str, Template] = field(default_factory=dict)
    save: dict[str, str] = field(default_factory=dict)  # variable -> dotted JSON path

    def edges(self) -> tuple[Edge, ...]:
        return (("next", self.next), ("fallback", self.fallback))


@dataclass(frozen=True, slots=True, kw_only=True)
class QueueNode(Node):
    TYPE = "queue"
    queue: Template
    priority: Template  # renders to an integer
    skills: dict[str, Template] = field(default_factory=dict)  # skill -> level


@dataclass(frozen=True, slots=True, kw_only=True)
class TransferNode(Node):
    TYPE = "transfer"
    agent: Template | None = None  # exactly one of agent, number
    number: Template | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class VoicemailNode(Node):
    TYPE = "voicemail"
    mailbox: Template
    max_s: float = 120.0
    prompt: Template | None = None

    def prompts(self) -> tuple[tuple[str, Template], ...]:
        return () if self.prompt is None else (("prompt", self.prompt),)


@dataclass(frozen=True, slots=True, kw_only=True)
class HangupNode(Node):
    TYPE = "hangup"
    prompt: Template | None = None

    def prompts(self) -> tuple[tuple[str, Template], ...]:
        return () if self.prompt is None else (("prompt", self.prompt),)


NODE_TYPES: dict[str, type[Node]] = {cls.TYPE: cls for cls in (
    PlayNode, MenuNode, CollectNode, CallbackNode, BranchNode, SetNode, HttpNode, QueueNode,
    TransferNode, VoicemailNode, HangupNode)}


@dataclass(frozen=True, slots=True, kw_only=True)
class Scheme:
    name: str
    version: str  # digest of the source text: the same file always gets the same version
    source: str  # file name, for messages
    start: str
    timezone: dt.tzinfo
    nodes: dict[str, Node]
    vars: dict[str, str] = field(default_factory=dict)  # defaults; call variables override
    holidays: dict[str, tuple[DateRange, ...]] = field(default_factory=dict)
    description: str = ""
