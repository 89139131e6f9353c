"""Reading one YAML mapping's fields with typed accessors that record problems, not raise.

An accessor that finds a problem records it and returns a harmless stand-in, so one pass
reports every problem of a scheme at once.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from ivr.expr import NAME, ExprError, Expression, Template, parse_expression, parse_template
from ivr.problems import SchemeProblem, did_you_mean
from ivr.yaml_source import Path

T = TypeVar("T")
_MISSING = object()


class Document:
    """The file being read: where problems go and which line each key path is on."""

    def __init__(self, file: str, lines: dict[Path, int]) -> None:
        self.file = file
        self.lines = lines
        self.problems: list[SchemeProblem] = []

    def line_of(self, path: Path) -> int | None:
        while path:
            if path in self.lines:
                return self.lines[path]
            path = path[:-1]
        return self.lines.get(())

    def problem(self, path: Path, node: str | None, field: str, message: str,
                line: int | None = None) -> None:
        self.problems.append(SchemeProblem(
            file=self.file, line=line if line is not None else self.line_of(path), node=node,
            field=field, message=message))


class Fields:
    """The fields of one mapping (a node, or the top level when ``node`` is None)."""

    def __init__(self, doc: Document, raw: dict[str, Any], path: Path, node: str | None,
                 what: str, prefix: str = "") -> None:
        self.doc = doc
        self.prefix = prefix  # how problems name this mapping's fields: "cases[0]."
        self.raw = raw
        self.path = path
        self.node = node
        self.what = what  # "a menu node", "the scheme"
        self.used: set[str] = set()

    def problem(self, field: str, message: str) -> None:
        self.doc.problem((*self.path, *field_path(field)), self.node, self.prefix + field,
                         message)

    def has(self, key: str) -> bool:
        self.used.add(key)
        return key in self.raw

    def get(self, key: str, default: Any = _MISSING) -> Any:
        self.used.add(key)
        if key in self.raw:
            return self.raw[key]
        if default is _MISSING:
            self.problem(key, f"required for {self.what}")
            return None
        return default

    def finish(self) -> None:
        """Report fields nobody asked for (usually typos)."""
        for key in self.raw:
            if key not in self.used:
                known = sorted(self.used)
                self.problem(key, f"unknown field for {self.what}{did_you_mean(key, known)}")

    # -- typed accessors ----------------------------------------------------------------

    def text(self, key: str, default: Any = _MISSING) -> str:
        value = self.get(key, default)
        if value is None:
            return ""
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            self.problem(key, f"expected text; got {_show(value)}")
            return ""
        return str(value)

    def template(self, key: str, default: Any = _MISSING) -> Template:
        return self.as_template(key, self.text(key, default))

    def optional_template(self, key: str) -> Template | None:
        return self.template(key) if self.has(key) else self.get(key, None)

    def as_template(self, field: str, text: str) -> Template:
        try:
            return parse_template(text)
        except ExprError as exc:
            self.problem(field, f"bad placeholder: {exc}")
            return parse_template("")

    def expression(self, field: str, value: Any) -> Expression | None:
        if not isinstance(value, str):
            self.problem(field, f"expected an expression in quotes; got {_show(value)}")
            return None
        try:
            return parse_expression(value)
        except ExprError as exc:
            self.problem(field, f"bad expression: {exc}")
            return None

    def target(self, key: str) -> str:
        """A node name (whether it exists is checked with the whole graph)."""
        value = self.get(key)
        if value is None:
            return ""
        return self.node_name(key, value)

    def node_name(self, field: str, value: Any) -> str:
        if not isinstance(value, str) or not NAME.fullmatch(value):
            self.problem(field, f"expected a node name; got {_show(value)}")
            return ""
        return value

    def variable(self, field: str, value: Any) -> str:
        if not isinstance(value, str) or not NAME.fullmatch(value):
            self.problem(field, "expected a variable name (letters, digits, '_'); got "
                         f"{_show(value)}")
            return ""
        return value

    def number(self, key: str, default: float, *, minimum: float = 0.0,
               above: bool = False) -> float:
        value = self.get(key, default)
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        if ok and (value > minimum if above else value >= minimum):
            return float(value)
        bound = f"> {minimum:g}" if above else f">= {minimum:g}"
        self.problem(key, f"expected a number {bound}; got {_show(value)}")
        return default

    def integer(self, key: str, default: int, *, minimum: int = 0) -> int:
        value = self.get(key, default)
        if isinstance(value, int) and not isinstance(value, bool) and value >= minimum:
            return value
        self.problem(key, f"expected a whole number >= {minimum}; got {_show(value)}")
        return default

    def flag(self, key: str, default: bool) -> bool:
        value = self.get(key, default)
        if isinstance(value, bool):
            return value
        self.problem(key, f"expected true or false; got {_show(value)}")
        return default

    def choice(self, key: str, default: str, allowed: Iterable[str]) -> str:
        allowed = tuple(allowed)
        value = self.text(key, default)
        if value in allowed:
            return value
        self.problem(key, f"expected one of {', '.join(allowed)}; got {_show(value)}"
                     f"{did_you_mean(value, allowed)}")
        return default

    def mapping(self, key: str, *, required: bool = False) -> dict[str, Any]:
        value = self.get(key, _MISSING if required else {})
        if isinstance(value, dict):
            if required and not value:
                self.problem(key, "expected at least one entry")
            return value
        if value is not None:
            self.problem(key, f"expected a mapping (key: value lines); got {_show(value)}")
        return {}

    def each(self, key: str, value: dict[str, Any],
             read: Callable[[str, str, Any], T | None]) -> dict[str, T]:
        """``read(field, name, item)`` over a mapping, keeping the items read."""
        out: dict[str, T] = {}
        for name, item in value.items():
            got = read(f"{key}.{name}", name, item)
            if got is not None:
                out[name] = got
        return out


def field_path(field: str) -> Path:
    """``"cases[0].goto"`` -> ``("cases", 0, "goto")``: the key path whose line to report."""
    out: list[str | int] = []
    for part in field.split("."):
        name, _, rest = part.partition("[")
        if name:
            out.append(name)
        out.extend(int(i) for i in re.findall(r"(\d+)\]", rest))
    return tuple(out)


def _show(value: Any) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return repr(value)
