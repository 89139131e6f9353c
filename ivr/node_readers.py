"""One reader per node type: YAML fields to a ``scheme`` node, problems into the document."""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Any

from ivr.calendar_rules import RuleError, parse_dates, parse_days, parse_times
from ivr.expr import Expression, Template
from ivr.fields import Fields
from ivr.messages import DTMF_DIGITS
from ivr.scheme import (
    BranchNode,
    CallbackNode,
    Case,
    CollectNode,
    Condition,
    HangupNode,
    HttpNode,
    MenuNode,
    Node,
    PlayNode,
    QueueNode,
    SetNode,
    TransferNode,
    VoicemailNode,
)

HTTP_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
CONDITION_KEYS = ("time", "days", "dates", "holiday", "expr")


def read_play(f: Fields, ctx: ReadContext) -> Node:
    return PlayNode(name=f.node or "", prompt=f.template("prompt"), next=f.target("next"),
                    barge_in=f.flag("barge_in", False))


def _input_fields(f: Fields) -> dict[str, Any]:
    return dict(
        name=f.node or "", prompt=f.template("prompt"),
        timeout_s=f.number("timeout_s", 5.0, above=True),
        retries=f.integer("retries", 2),
        invalid_prompt=f.optional_template("invalid_prompt"),
        no_input_prompt=f.optional_template("no_input_prompt"),
        failure=f.target("failure"), barge_in=f.flag("barge_in", True))


def read_menu(f: Fields, ctx: ReadContext) -> Node:
    common = _input_fields(f)
    choices: dict[str, str] = {}
    for digit, target in f.mapping("choices", required=True).items():
        field = f"choices.{digit}"
        if len(digit) != 1 or digit not in DTMF_DIGITS:
            f.problem(field, f"expected one key 0-9, *, # (quote * and #); got {digit!r}")
        else:
            choices[digit] = f.node_name(field, target)
    return MenuNode(**common, choices=choices)


def read_collect(f: Fields, ctx: ReadContext) -> Node:
    common = _input_fields(f)
    least = f.integer("min", 1)
    most = f.integer("max", 20, minimum=1)
    if least > most:
        f.problem("min", f"expected at most max ({most}); got {least}")
    terminator = f.text("terminator", "#")
    if terminator not in ("", *DTMF_DIGITS):
        f.problem("terminator", f"expected one key 0-9, *, # or \"\" for none; got "
                  f"{terminator!r}")
    into = f.get("into")
    return CollectNode(**common, into="" if into is None else f.variable("into", into),
                       next=f.target("next"),
                       min_digits=least, max_digits=most, terminator=terminator,
                       inter_digit_s=f.number("inter_digit_s", 3.0, above=True))


def read_callback(f: Fields, ctx: ReadContext) -> Node:
    accept = f.text("accept_digit", "1")
    if len(accept) != 1 or accept not in DTMF_DIGITS:
        f.problem("accept_digit", f"expected one key 0-9, *, #; got {accept!r}")
    return CallbackNode(name=f.node or "", prompt=f.template("prompt"),
                        queue=f.template("queue"), number=f.template("number", "${caller}"),
                        next=f.target("next"), decline=f.target("decline"),
                        accept_digit=accept,
                        timeout_s=f.number("timeout_s", 5.0, above=True))


def read_branch(f: Fields, ctx: ReadContext) -> Node:
    cases: list[Case] = []
    raw_cases = f.get("cases")
    if not isinstance(raw_cases, list) or not raw_cases:
        if raw_cases is not None:
            f.problem("cases", "expected a list of '- if: ... goto: ...' entries")
        raw_cases = []
    for i, raw in enumerate(raw_cases):
        field = f"cases[{i}]"
        if not isinstance(raw, dict):
            f.problem(field, "expected a mapping with 'if' and 'goto'")
            continue
        sub = Fields(f.doc, raw, (*f.path, "cases", i), f.node, "a branch case",
                     prefix=f"{field}.")
        condition = read_condition(sub, "if", sub.get("if"), ctx)
        goto = sub.target("goto")
        sub.finish()
        if condition is not None:
            cases.append(Case(when=condition, goto=goto))
    return BranchNode(name=f.node or "", cases=tuple(cases), otherwise=f.target("else"))


def read_condition(f: Fields, field: str, raw: Any, ctx: ReadContext) -> Condition | None:
    if isinstance(raw, str):
        expr = f.expression(field, raw)
        return None if expr is None else Condition(text=raw, expr=expr)
    if not isinstance(raw, dict) or not raw:
        if raw is not None:
            f.problem(field, f"expected an expression or a mapping of {', '.join(CONDITION_KEYS)}")
        return None
    parts: dict[str, Any] = {}
    for key, value in raw.items():
        where = f"{field}.{key}"
        try:
            if key == "time":
                parts["times"] = parse_times(value)
            elif key == "days":
                parts["days"] = parse_days(value)
            elif key == "dates":
                parts["dates"] = parse_dates(value)
            elif key == "holiday":
                parts["holidays"] = _holiday_names(f, where, value, ctx.holidays)
            elif key == "expr":
                parts["expr"] = f.expression(where, value)
            else:
                f.problem(where, f"expected one of {', '.join(CONDITION_KEYS)}")
        except RuleError as exc:
            f.problem(where, str(exc))
    text = ", ".join(f"{k} {_compact(v)}" for k, v in raw.items())
    return Condition(text=text, **parts)


def _holiday_names(f: Fields, field: str, value: Any, known: Collection[str]) -> tuple[str, ...]:
    names = value if isinstance(value, list) else [value]
    for name in names:
        if name not in known:
            listing = ", ".join(sorted(known)) or "none defined"
            f.problem(field, f"no holiday list {name!r} under 'holidays' ({listing})")
    return tuple(n for n in names if n in known)


def _compact(value: Any) -> str:
    if isinstance(value, list):
        return ",".join(str(v) for v in value)
    return str(value)


def read_set(f: Fields, ctx: ReadContext) -> Node:
    if not f.has("values") and not f.has("compute"):
        f.problem("values", "required for a set node (or 'compute')")
    values: dict[str, Template] = {}
    for name, item in f.mapping("values").items():
        field = f"values.{name}"
        if f.variable(field, name):
            values[name] = f.as_template(field, _scalar_text(f, field, item))
    compute: dict[str, Expression] = {}
    for name, item in f.mapping("compute").items():
        field = f"compute.{name}"
        if f.variable(field, name) and (expr := f.expression(field, item)) is not None:
            compute[name] = expr
    return SetNode(name=f.node or "", next=f.target("next"), values=values, compute=compute)


def _scalar_text(f: Fields, field: str, item: Any) -> str:
    if isinstance(item, bool):
        return "true" if item else "false"
    if isinstance(item, str | int | float):
        return str(item)
    f.problem(field, f"expected text or a number; got {type(item).__name__}")
    return ""


def read_http(f: Fields, ctx: ReadContext) -> Node:
    method = f.choice("method", "GET", HTTP_METHODS)
    url = f.template("url")
    if not url.text.lower().startswith(("http://", "https://", "${")):
        f.problem("url", f"expected an http:// or https:// URL; got {url.text!r}")
    save: dict[str, str] = {}
    for name, path in f.mapping("save").items():
        field = f"save.{name}"
        if f.variable(field, name):
            if not isinstance(path, str | int) or not str(path):
                f.problem(field, "expected a JSON field path like 'customer.name'")
            else:
                save[name] = str(path)
    headers = {k: f.as_template(f"headers.{k}", _scalar_text(f, f"headers.{k}", v))
               for k, v in f.mapping("headers").items()}
    return HttpNode(name=f.node or "", method=method, url=url, next=f.target("next"),
                    fallback=f.target("fallback"),
                    timeout_s=f.number("timeout_s", 3.0, above=True),
                    body=_json_template(f, "body", f.get("body", None)),
                    headers=headers, save=save)


def _json_template(f: Fields, field: str, value: Any) -> Any:
    if isinstance(value, str):
        return f.as_template(field, value)
    if isinstance(value, dict):
        return {k: _json_template(f, f"{field}.{k}", v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json_template(f, f"{field}[{i}]", v) for i, v in enumerate(value)]
    if value is None or isinstance(value, bool | int | float):
        return value
    f.problem(field, f"expected JSON-like values; got {type(value).__name__}")
    return None


def read_queue(f: Fields, ctx: ReadContext) -> Node:
    skills = {k: f.as_template(f"skills.{k}", _scalar_text(f, f"skills.{k}", v))
              for k, v in f.mapping("skills").items()}
    for skill, level in skills.items():
        if level.is_literal and not level.text.isdigit():
            f.problem(f"skills.{skill}", f"expected a level 1-10; got {level.text!r}")
    priority = f.as_template("priority", _scalar_text(f, "priority", f.get("priority", 0)))
    if priority.is_literal and not priority.text.lstrip("-").isdigit():
        f.problem("priority", f"expected a whole number; got {priority.text!r}")
    return QueueNode(name=f.node or "", queue=f.template("queue"), priority=priority,
                     skills=skills)


def read_transfer(f: Fields, ctx: ReadContext) -> Node:
    agent = f.optional_template("agent")
    number = f.optional_template("number")
    if (agent is None) == (number is None):
        f.problem("agent", "expected exactly one of 'agent' (a login) or 'number'")
    return TransferNode(name=f.node or "", agent=agent, number=number)


def read_voicemail(f: Fields, ctx: ReadContext) -> Node:
    return VoicemailNode(name=f.node or "", mailbox=f.template("mailbox", ctx.scheme_name),
                         max_s=f.number("max_s", 120.0, above=True),
                         prompt=f.optional_template("prompt"))


def read_hangup(f: Fields, ctx: ReadContext) -> Node:
    return HangupNode(name=f.node or "", prompt=f.optional_template("prompt"))


@dataclass(frozen=True, slots=True)
class ReadContext:
    scheme_name: str
    holidays: Collection[str]  # names of the scheme's holiday lists


READERS: dict[str, Callable[[Fields, ReadContext], Node]] = {
    "play": read_play, "menu": read_menu, "collect": read_collect, "callback": read_callback,
    "branch": read_branch, "set": read_set, "http": read_http, "queue": read_queue,
    "transfer": read_transfer, "voicemail": read_voicemail, "hangup": read_hangup,
}
