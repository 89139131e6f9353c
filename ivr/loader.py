"""Load a YAML scheme and validate it; every problem names the file, line, node and field.

A scheme file::

    name: main                    # optional; must match the [[ivr]] name when given
    start: welcome                # the first node
    timezone: Europe/Paris        # for time rules (default: the center's)
    vars: {lang: fr}              # defaults; the call's variables (caller, dialled...) win
    holidays:                     # named date lists for `branch` cases
      public: ["01-01", "05-01", "2025-04-21"]
    nodes:
      welcome: {type: play, prompt: welcome, next: menu}
      ...

Node types and their fields: ``docs/ivr-schemes.md`` (readers in ``ivr.node_readers``).
"""

from __future__ import annotations

import dataclasses
import hashlib
import zoneinfo
from collections.abc import Collection
from pathlib import Path
from typing import Any

from ivr import checks
from ivr.calendar_rules import DateRange, RuleError, parse_dates
from ivr.expr import NAME
from ivr.fields import Document, Fields, field_path
from ivr.node_readers import READERS, ReadContext
from ivr.problems import SchemeError, SchemeProblem, did_you_mean
from ivr.scheme import Node, Scheme
from ivr.yaml_source import YamlError, read_yaml

TOP_LEVEL = ("name", "description", "start", "timezone", "vars", "holidays", "nodes")


def load_scheme(path: Path | str, *, name: str | None = None,
                prompt_exists: checks.PromptExists | None = None,
                queues: Collection[str] | None = None, agents: Collection[str] | None = None,
                default_timezone: str = "UTC", check_graph: bool = True) -> Scheme:
    """Read and validate ``path``; :class:`SchemeError` lists every problem found.

    ``name``: the name the center knows the scheme by (default: the file's ``name``, else
    the file's stem). ``prompt_exists``/``queues``/``agents``: what to check names against
    (None: not checked). ``check_graph=False`` skips the whole-graph checks (for drawing a
    scheme that is still being written)."""
    source = Path(path)
    try:
        text = source.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise SchemeError([SchemeProblem(file=str(source), line=None, node=None, field="",
                                         message=f"cannot read: {exc}")]) from exc
    return parse_scheme(text, source=str(source), name=name or None,
                        prompt_exists=prompt_exists, queues=queues, agents=agents,
                        default_timezone=default_timezone, check_graph=check_graph,
                        default_name=source.stem)


def parse_scheme(text: str, *, source: str = "<string>", name: str | None = None,
                 prompt_exists: checks.PromptExists | None = None,
                 queues: Collection[str] | None = None, agents: Collection[str] | None = None,
                 default_timezone: str = "UTC", check_graph: bool = True,
                 default_name: str = "scheme") -> Scheme:
    """Like :func:`load_scheme`, on text."""
    try:
        data, lines, duplicates = read_yaml(text)
    except YamlError as exc:
        raise SchemeError([SchemeProblem(file=source, line=exc.line, node=None, field="",
                                         message=str(exc))]) from None
    doc = Document(source, lines)
    for path, line, first in duplicates:
        node = str(path[1]) if len(path) >= 2 and path[0] == "nodes" else None
        field = ".".join(str(p) for p in (path[2:] if node is not None else path))
        what = "defined twice" if node is not None and not field else "duplicate key"
        doc.problem(path, node, field, f"{what} (first at line {first})", line=line)
    if not isinstance(data, dict):
        doc.problem((), None, "", "expected a mapping with 'start' and 'nodes'")
        raise SchemeError(doc.problems)

    top = Fields(doc, data, (), None, "a scheme")
    scheme_name = top.text("name", name or default_name)
    if name is not None and scheme_name != name:
        top.problem("name", f"expected {name!r} (the name the center knows it by); got "
                    f"{scheme_name!r}")
        scheme_name = name
    description = top.text("description", "")
    start = top.target("start")
    timezone = _timezone(top, top.text("timezone", default_timezone))
    variables = {k: _var_text(top, k, v) for k, v in top.mapping("vars").items()}
    holidays = _holidays(top, top.mapping("holidays"))
    nodes = _nodes(doc, top.mapping("nodes", required=True),
                   ReadContext(scheme_name=scheme_name, holidays=holidays.keys()))
    top.finish()

    def report(node: str, field: str, message: str) -> None:
        doc.problem(("nodes", node, *field_path(field)), node, field, message)

    if start and start not in nodes and nodes:
        top.problem("start", f"no node named {start!r}{did_you_mean(start, nodes)}")
    if check_graph:
        checks.check_targets(nodes, report)
        checks.check_reachable(nodes, start, report)
        checks.check_loops(nodes, report)
        checks.check_tones(nodes, report)
        if prompt_exists is not None:
            checks.check_prompts(nodes, prompt_exists, report)
        checks.check_center(nodes, report, queues=queues, agents=agents)
    if doc.problems:
        raise SchemeError(sorted(doc.problems, key=lambda p: p.line or 0))
    return Scheme(name=scheme_name, version=scheme_version(text), source=source, start=start,
                  timezone=timezone, nodes=nodes, vars=variables, holidays=holidays,
                  description=description)


def scheme_version(text: str) -> str:
    """The version of a scheme text: the same text always has the same version, so a call
    resumed by a restarted process finds its scheme again if the file did not change."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]


def _nodes(doc: Document, raw_nodes: dict[str, Any], ctx: ReadContext) -> dict[str, Node]:
    nodes: dict[str, Node] = {}
    for node_name, raw in raw_nodes.items():
        path = ("nodes", node_name)
        if not NAME.fullmatch(node_name):
            doc.problem(path, node_name, "", "expected a node name of letters, digits, '_' "
                        "(starting with a letter or '_')")
            continue
        if not isinstance(raw, dict):
            doc.problem(path, node_name, "", "expected a mapping with a 'type'")
            continue
        node_type = raw.get("type")
        reader = READERS.get(str(node_type)) if node_type is not None else None
        if reader is None:
            fields = Fields(doc, raw, path, node_name, "a node")
            if node_type is None:
                fields.problem("type", f"required: one of {', '.join(sorted(READERS))}")
            else:
                hint = did_you_mean(str(node_type), READERS)
                fields.problem("type", f"unknown node type {node_type!r}{hint}; expected one "
                               f"of {', '.join(sorted(READERS))}")
            continue
        fields = Fields(doc, raw, path, node_name, f"a {node_type} node")
        fields.get("type")
        node = reader(fields, ctx)
        fields.finish()
        nodes[node_name] = dataclasses.replace(node, line=doc.lines.get(path))
    return nodes


def _timezone(top: Fields, name: str) -> zoneinfo.ZoneInfo:
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        top.problem("timezone", f"expected an IANA time zone like 'Europe/Paris'; got {name!r}")
        return zoneinfo.ZoneInfo("UTC")


def _var_text(top: Fields, key: str, value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        return str(value)
    top.problem(f"vars.{key}", "expected text or a number")
    return ""


def _holidays(top: Fields, raw: dict[str, Any]) -> dict[str, tuple[DateRange, ...]]:
    out: dict[str, tuple[DateRange, ...]] = {}
    for name, dates in raw.items():
        try:
            out[name] = parse_dates(dates)
        except RuleError as exc:
            top.problem(f"holidays.{name}", str(exc))
            out[name] = ()
    return out
