"""Typed access to parsed TOML that records every problem with its key path and line.

``Table`` getters never raise: a wrong value becomes a ``Problem`` and the getter
returns the default (or a placeholder), so one run reports every mistake in the file.
``Table.finish()`` reports the keys nobody asked for: typos must not pass silently.
"""

from __future__ import annotations

import datetime
import difflib
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from conf.schema import Problem

KeyPath = tuple[str | int, ...]
_T = TypeVar("_T")


class _Required:
    def __repr__(self) -> str:
        return "REQUIRED"


REQUIRED: Any = _Required()


def format_path(path: KeyPath) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text


def describe(value: object) -> str:
    """How a found value is shown in messages."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return repr(value)
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, datetime.date | datetime.time):
        return f"a date/time ({value.isoformat()})"
    return type(value).__name__


def one_of(choices: Sequence[str]) -> str:
    return "one of " + ", ".join(choices)


def did_you_mean(word: str, choices: Sequence[str]) -> str:
    close = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


class Document:
    """The file being read: where problems go, and how key paths map to lines."""

    def __init__(self, file: str, text: str, base_dir: Path) -> None:
        self.file = file
        self.base_dir = base_dir
        self.problems: list[Problem] = []
        self._lines = text.splitlines()

    def problem(self, path: KeyPath, message: str) -> None:
        self.problems.append(Problem(file=self.file, key=format_path(path), message=message,
                                     line=self.locate(path)))

    def locate(self, path: KeyPath) -> int | None:
        """Best-effort 1-based line of ``path``: its section header, then its key."""
        if not path:
            return None
        section, rest = path[0], path[1:]
        start, end, found = 0, len(self._lines), None
        if isinstance(section, str):
            if rest and isinstance(rest[0], int):  # [[section]] number rest[0]
                headers = self._headers(rf"\[\[\s*{re.escape(section)}\s*\]\]")
                if rest[0] >= len(headers):
                    return None
                start, rest = headers[rest[0]], rest[1:]
                found = start + 1
            else:
                headers = self._headers(rf"\[\[?\s*{re.escape(section)}\s*\]\]?")
                if headers:
                    start, found = headers[0], headers[0] + 1
                else:
                    rest = path  # a top-level key
            end = next((i for i in range(start + 1, len(self._lines))
                        if self._lines[i].lstrip().startswith("[")), len(self._lines))
        if rest and isinstance(rest[0], str):
            key = re.compile(rf"""\s*["']?{re.escape(rest[0])}["']?\s*[=.]""")
            line = next((i for i in range(start, end) if key.match(self._lines[i])), None)
            if line is not None:
                found = line + 1
        return found

    def _headers(self, pattern: str) -> list[int]:
        header = re.compile(rf"\s*{pattern}\s*(#.*)?$")
        return [i for i, line in enumerate(self._lines) if header.match(line)]


class Table:
    """One TOML table at ``path`` in ``doc``."""

    def __init__(self, doc: Document, data: dict[str, Any], path: KeyPath) -> None:
        self.doc = doc
        self.data = data
        self.path = path
        self._seen: set[str] = set()

    def __contains__(self, key: str) -> bool:
        return key in self.data

    def problem(self, key: str | int | None, message: str) -> None:
        self.doc.problem(self.path if key is None else (*self.path, key), message)

    def _get(self, key: str, default: Any, expected: str) -> Any:
        self._seen.add(key)
        if key in self.data:
            return self.data[key]
        if default is REQUIRED:
            self.problem(key, f"required key is missing (expected {expected})")
        return default

    def _typed(self, key: str, default: _T, expected: str, accept: Callable[[Any], bool],
               placeholder: _T) -> tuple[_T, bool]:
        value = self._get(key, default, expected)
        if key not in self.data:
            return (placeholder if default is REQUIRED else default), False
        if not accept(value):
            self.problem(key, f"expected {expected}; got {describe(value)}")
            return (placeholder if default is REQUIRED else default), False
        return value, True

    def text(self, key: str, default: Any = REQUIRED, *, choices: Sequence[str] = (),
             pattern: str | None = None, what: str = "a string") -> Any:
        """A string; ``choices`` restricts it, ``pattern`` must fullmatch (``what`` says how)."""
        value, ok = self._typed(key, default, what, lambda v: isinstance(v, str), "")
        if not ok:
            return value
        if choices and value not in choices:
            self.problem(key, f"expected {one_of(choices)}; got {value!r}"
                              f"{did_you_mean(value, choices)}")
            return default if default is not REQUIRED else choices[0]
        if pattern is not None and not re.fullmatch(pattern, value):
            self.problem(key, f"expected {what}; got {value!r}")
        return value

    def integer(self, key: str, default: Any = REQUIRED, *, lo: int | None = None,
                hi: int | None = None) -> Any:
        expected = _range_text("an integer", lo, hi)
        value, ok = self._typed(
            key, default, expected,
            lambda v: isinstance(v, int) and not isinstance(v, bool), 0)
        if ok and ((lo is not None and value < lo) or (hi is not None and value > hi)):
            self.problem(key, f"expected {expected}; got {value}")
        return value

    def number(self, key: str, default: Any = REQUIRED, *, lo: float | None = None,
               hi: float | None = None, positive: bool = False) -> Any:
        expected = "a positive number" if positive else _range_text("a number", lo, hi)
        value, ok = self._typed(
            key, default, expected,
            lambda v: isinstance(v, int | float) and not isinstance(v, bool), 0.0)
        if ok:
            value = float(value)
            bad = ((positive and not value > 0) or (lo is not None and value < lo)
                   or (hi is not None and value > hi) or value != value)
            if bad:
                self.problem(key, f"expected {expected}; got {describe(value)}")
        return value

    def boolean(self, key: str, default: Any = REQUIRED) -> Any:
        value, _ = self._typed(key, default, "true or false",
                               lambda v: isinstance(v, bool), False)
        return value

    def texts(self, key: str, default: tuple[str, ...] = (), *, choices: Sequence[str] = (),
              pattern: str | None = None, what: str = "a string") -> tuple[str, ...]:
        """An array of distinct strings."""
        raw, ok = self._typed(key, list(default), f"an array of {_plural(what)}",
                              lambda v: isinstance(v, list), [])
        if not ok:
            return tuple(raw)
        items: list[str] = []
        for i, item in enumerate(raw):
            if not isinstance(item, str):
                self.problem(key, f"expected an array of {_plural(what)}; got "
                                  f"{describe(item)} at index {i}")
            elif choices and item not in choices:
                self.doc.problem((*self.path, key, i), f"expected {one_of(choices)}; got "
                                 f"{item!r}{did_you_mean(item, choices)}")
            elif pattern is not None and not re.fullmatch(pattern, item):
                self.doc.problem((*self.path, key, i), f"expected {what}; got {item!r}")
            elif item in items:
                self.doc.problem((*self.path, key, i), f"expected distinct values; got "
                                 f"{item!r} twice")
            else:
                items.append(item)
        return tuple(items)

    def path_value(self, key: str, default: Any = REQUIRED) -> Any:
        """A filesystem path, made absolute against the config file's directory."""
        value, _ = self._typed(key, default, "a path (string)",
                                lambda v: isinstance(v, str) and v != "", "")
        if isinstance(value, str | Path) and value != "":
            return (self.doc.base_dir / Path(value).expanduser()).resolve()
        return value

    def levels(self, key: str, *, lo: int, hi: int) -> dict[str, int]:
        """A table of name -> integer level (skills)."""
        table = self.table(key)
        result: dict[str, int] = {}
        for name in table.data:
            level = table.integer(name, lo=lo, hi=hi)
            if isinstance(level, int):
                result[name] = level
        return result

    def table(self, key: str) -> Table:
        raw: dict[str, Any]
        raw, _ = self._typed(key, {}, "a table", lambda v: isinstance(v, dict), {})
        return Table(self.doc, raw, (*self.path, key))

    def tables(self, key: str) -> list[Table]:
        """An array of tables (``[[key]]``)."""
        expected = f"an array of tables ([[{key}]])"
        raw: list[dict[str, Any]]
        raw, _ = self._typed(key, [], expected,
                              lambda v: isinstance(v, list) and
                              all(isinstance(item, dict) for item in v), [])
        return [Table(self.doc, item, (*self.path, key, i)) for i, item in enumerate(raw)]

    def finish(self) -> None:
        """Report keys that no getter asked for."""
        for key in self.data:
            if key not in self._seen:
                allowed = sorted(self._seen)
                hint = did_you_mean(key, allowed) or (
                    f" (allowed: {', '.join(allowed)})" if allowed else "")
                self.problem(key, f"unknown key{hint}")


def _range_text(kind: str, lo: float | None, hi: float | None) -> str:
    if lo is not None and hi is not None:
        return f"{kind} from {lo} to {hi}"
    if lo is not None:
        return f"{kind} >= {lo}"
    if hi is not None:
        return f"{kind} <= {hi}"
    return kind


def _plural(what: str) -> str:
    for article in ("a ", "an "):
        if what.startswith(article):
            return what[len(article):] + "s"
    return what
