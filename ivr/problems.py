"""What is wrong with a scheme, said so a technologist can find it: file, line, node, field."""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True, kw_only=True)
class SchemeProblem:
    file: str
    line: int | None
    node: str | None  # None: a top-level field
    field: str  # "" for the node (or the file) as a whole
    message: str

    def __str__(self) -> str:
        parts = [self.file if self.line is None else f"{self.file}:{self.line}"]
        if self.node is not None:
            parts.append(f"node {self.node!r}")
        if self.field:
            parts.append(self.field)
        parts.append(self.message)
        return ": ".join(parts)


class SchemeError(ValueError):
    """The scheme cannot be used; ``problems`` lists everything found, in file order."""

    def __init__(self, problems: list[SchemeProblem]) -> None:
        super().__init__("\n".join(str(p) for p in problems))
        self.problems = problems


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""
