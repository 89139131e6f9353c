"""The small, safe expression language of schemes, and ``${var}`` templates. No ``eval``.

Expressions (branch conditions, ``set`` computations)::

    vip == "true" and len(account) >= 6
    not (attempts > 2) or lang != 'fr'
    total * 2 + 1

Names are call variables (always strings; an unknown one is ""). Literals: numbers, strings
in single or double quotes, ``true``/``false``. Operators by increasing precedence: ``or``;
``and``; ``not``; ``== != < <= > >=``; ``+ -``; ``* / %``; unary ``-``. Functions: ``len``,
``lower``, ``upper``, ``contains(text, part)``, ``startswith(text, prefix)``.

Comparisons are numeric when both sides read as numbers, textual otherwise; ``+`` adds
numbers and joins anything else. A value is false when it is ``false``, 0, "", "0" or
"false" (so a JSON ``false`` saved into a variable stays false).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

Value = str | float | bool

MAX_EXPRESSION = 1000
NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_TOKEN = re.compile(r"""
    (?P<space>\s+)
  | (?P<number>\d+(?:\.\d+)?)
  | (?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')
  | (?P<name>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<op>==|!=|<=|>=|[<>+\-*/%(),])
""", re.VERBOSE)
_KEYWORDS = ("and", "or", "not", "true", "false")
_COMPARE = ("==", "!=", "<", "<=", ">", ">=")


class ExprError(ValueError):
    """A malformed expression (``column`` counts from 1) or an impossible evaluation."""

    def __init__(self, message: str, column: int | None = None) -> None:
        super().__init__(message if column is None else f"{message} at column {column}")
        self.column = column


# ---------------------------------------------------------------- tree


@dataclass(frozen=True, slots=True)
class Const:
    value: Value


@dataclass(frozen=True, slots=True)
class Var:
    name: str


@dataclass(frozen=True, slots=True)
class Unary:
    op: str
    operand: Expr


@dataclass(frozen=True, slots=True)
class Binary:
    op: str
    left: Expr
    right: Expr


@dataclass(frozen=True, slots=True)
class Call:
    function: str
    args: tuple[Expr, ...]


Expr = Const | Var | Unary | Binary | Call


@dataclass(frozen=True, slots=True)
class Expression:
    """A parsed expression with its source text (for logs and diagrams)."""

    text: str
    tree: Expr

    def evaluate(self, variables: Mapping[str, str]) -> Value:
        return _eval(self.tree, variables)

    def test(self, variables: Mapping[str, str]) -> bool:
        return truthy(self.evaluate(variables))


# ---------------------------------------------------------------- parsing


@dataclass(frozen=True, slots=True)
class _Token:
    kind: str  # number, string, name, keyword, op, end
    text: str
    column: int


def _tokens(text: str) -> list[_Token]:
    out: list[_Token] = []
    pos = 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None:
            raise ExprError(f"unexpected character {text[pos]!r}", pos + 1)
        kind = m.lastgroup or ""
        if kind != "space":
            word = m.group()
            if kind == "name" and word in _KEYWORDS:
                kind = "keyword"
            out.append(_Token(kind, word, pos + 1))
        pos = m.end()
    out.append(_Token("end", "", len(text) + 1))
    return out


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens = _tokens(text)
        self.pos = 0

    @property
    def tok(self) -> _Token:
        return self.tokens[self.pos]

    def take(self, *texts: str) -> _Token | None:
        if self.tok.kind in ("op", "keyword") and self.tok.text in texts:
            self.pos += 1
            return self.tokens[self.pos - 1]
        return None

    def expect(self, text: str) -> None:
        if self.take(text) is None:
            raise ExprError(f"expected {text!r}, got {self._describe()}", self.tok.column)

    def _describe(self) -> str:
        return "the end" if self.tok.kind == "end" else repr(self.tok.text)

    def parse(self) -> Expr:
        tree = self.or_()
        if self.tok.kind != "end":
            raise ExprError(f"unexpected {self._describe()}", self.tok.column)
        return tree

    def or_(self) -> Expr:
        left = self.and_()
        while self.take("or"):
            left = Binary("or", left, self.and_())
        return left

    def and_(self) -> Expr:
        left = self.not_()
        while self.take("and"):
            left = Binary("and", left, self.not_())
        return left

    def not_(self) -> Expr:
        if self.take("not"):
            return Unary("not", self.not_())
        return self.compare()

    def compare(self) -> Expr:
        left = self.sum()
        op = self.take(*_COMPARE)
        if op is not None:
            left = Binary(op.text, left, self.sum())
            if self.tok.text in _COMPARE:
                raise ExprError("comparisons do not chain; use 'and'", self.tok.column)
        return left

    def sum(self) -> Expr:
        left = self.term()
        while (op := self.take("+", "-")) is not None:
            left = Binary(op.text, left, self.term())
        return left

    def term(self) -> Expr:
        left = self.unary()
        while (op := self.take("*", "/", "%")) is not None:
            left = Binary(op.text, left, self.unary())
        return left

    def unary(self) -> Expr:
        if self.take("-"):
            return Unary("-", self.unary())
        return self.atom()

    def atom(self) -> Expr:
        tok = self.tok
        if tok.kind == "number":
            self.pos += 1
            return Const(float(tok.text))
        if tok.kind == "string":
            self.pos += 1
            return Const(re.sub(r"\\(.)", r"\1", tok.text[1:-1]))
        if tok.kind == "keyword" and tok.text in ("true", "false"):
            self.pos += 1
            return Const(tok.text == "true")
        if tok.kind == "name":
            self.pos += 1
            if self.take("("):
                return self.call(tok)
            return Var(tok.text)
        if self.take("("):
            inner = self.or_()
            self.expect(")")
            return inner
        raise ExprError(f"expected a value, got {self._describe()}", tok.column)

    def call(self, name: _Token) -> Expr:
        arity = _FUNCTIONS.get(name.text)
        if arity is None:
            known = ", ".join(sorted(_FUNCTIONS))
            raise ExprError(f"unknown function {name.text!r} (known: {known})", name.column)
        args: list[Expr] = []
        if not self.take(")"):
            args.append(self.or_())
            while self.take(","):
                args.append(self.or_())
            self.expect(")")
        if len(args) != arity[0]:
            raise ExprError(f"{name.text}() takes {arity[0]} argument(s), got {len(args)}",
                            name.column)
        return Call(name.text, tuple(args))


def parse_expression(text: str) -> Expression:
    """Parse ``text``; :class:`ExprError` names the column of the first problem."""
    if len(text) > MAX_EXPRESSION:
        raise ExprError(f"longer than {MAX_EXPRESSION} characters")
    if not text.strip():
        raise ExprError("empty expression")
    return Expression(text, _Parser(text).parse())


# ---------------------------------------------------------------- evaluation


def number(v: Value) -> float | None:
    """``v`` as a number, or None when it does not read as one."""
    if isinstance(v, bool):
        return None
    if isinstance(v, float):
        return v
    try:
        f = float(v.strip()) if v.strip() else None
    except ValueError:
        return None
    return f if f is not None and math.isfinite(f) else None


def text_of(v: Value) -> str:
    """How a value is stored in a variable: ``3`` not ``3.0``, ``true``/``false``."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return str(int(v)) if v.is_integer() and abs(v) < 1e15 else repr(v)
    return v


def truthy(v: Value) -> bool:
    if isinstance(v, bool):
        return v
    if isinstance(v, float):
        return v != 0
    return v.strip().lower() not in ("", "0", "false")


_FUNCTIONS: dict[str, tuple[int, Callable[..., Value]]] = {
    "len": (1, lambda s: float(len(text_of(s)))),
    "lower": (1, lambda s: text_of(s).lower()),
    "upper": (1, lambda s: text_of(s).upper()),
    "contains": (2, lambda s, part: text_of(part) in text_of(s)),
    "startswith": (2, lambda s, prefix: text_of(s).startswith(text_of(prefix))),
}


def _eval(node: Expr, variables: Mapping[str, str]) -> Value:
    if isinstance(node, Const):
        return node.value
    if isinstance(node, Var):
        return variables.get(node.name, "")
    if isinstance(node, Unary):
        value = _eval(node.operand, variables)
        if node.op == "not":
            return not truthy(value)
        return -_numeric(value, "-")
    if isinstance(node, Call):
        return _FUNCTIONS[node.function][1](*(_eval(a, variables) for a in node.args))
    if node.op == "and":
        left = _eval(node.left, variables)
        return _eval(node.right, variables) if truthy(left) else left
    if node.op == "or":
        left = _eval(node.left, variables)
        return left if truthy(left) else _eval(node.right, variables)
    return _binary(node.op, _eval(node.left, variables), _eval(node.right, variables))


def _numeric(v: Value, op: str) -> float:
    n = number(v)
    if n is None:
        raise ExprError(f"{op!r} needs numbers, got {text_of(v)!r}")
    return n


def _binary(op: str, a: Value, b: Value) -> Value:
    na, nb = number(a), number(b)
    if op in _COMPARE:
        if na is not None and nb is not None:
            x: float | str = na
            y: float | str = nb
        else:
            x, y = text_of(a), text_of(b)
        return {"==": x == y, "!=": x != y, "<": x < y, "<=": x <= y,  # type: ignore[operator]
                ">": x > y, ">=": x >= y}[op]  # type: ignore[operator]
    if op == "+":
        if na is not None and nb is not None:
            return na + nb
        return text_of(a) + text_of(b)
    x2, y2 = _numeric(a, op), _numeric(b, op)
    if op == "-":
        return x2 - y2
    if op == "*":
        return x2 * y2
    if y2 == 0:
        raise ExprError(f"{op!r} by zero")
    return x2 / y2 if op == "/" else math.fmod(x2, y2)


# ---------------------------------------------------------------- templates

_PLACEHOLDER = re.compile(r"\$\{([^}]*)\}|\$\$|\$")


@dataclass(frozen=True, slots=True)
class Template:
    """Text with ``${name}`` placeholders (``$$`` is a literal ``$``)."""

    text: str
    parts: tuple[tuple[bool, str], ...]  # (is_variable, literal text or variable name)

    @property
    def is_literal(self) -> bool:
        return not any(is_var for is_var, _ in self.parts)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(p for is_var, p in self.parts if is_var)

    def render(self, variables: Mapping[str, str],
               quote: Callable[[str], str] | None = None) -> str:
        out = []
        for is_var, part in self.parts:
            if is_var:
                value = variables.get(part, "")
                out.append(quote(value) if quote is not None else value)
            else:
                out.append(part)
        return "".join(out)


def parse_template(text: str) -> Template:
    parts: list[tuple[bool, str]] = []
    literal: list[str] = []
    pos = 0
    for m in _PLACEHOLDER.finditer(text):
        literal.append(text[pos:m.start()])
        pos = m.end()
        if m.group() == "$$":
            literal.append("$")
        elif m.group() == "$":
            raise ExprError("'$' starts a placeholder ${name} (write $$ for a dollar sign)",
                            m.start() + 1)
        else:
            name = m.group(1).strip()
            if not NAME.fullmatch(name):
                raise ExprError(f"expected a variable name in ${{...}}, got {name!r}",
                                m.start() + 1)
            if "".join(literal):
                parts.append((False, "".join(literal)))
            literal = []
            parts.append((True, name))
    literal.append(text[pos:])
    if "".join(literal):
        parts.append((False, "".join(literal)))
    return Template(text, tuple(parts))
