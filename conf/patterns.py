"""Dial patterns of routes, in the Asterisk style telephony people already know.

Without a leading ``_`` a pattern is an exact string (``"2000"``, ``"+33140000000"``,
``"alice"``).  With it, these characters are special::

    X  any digit      Z  1-9      N  2-9      [15-7]  one of 1, 5, 6, 7
    .  one or more further characters (last only)
    !  zero or more further characters (last only)

and ``0-9 * # +`` stand for themselves: ``_0[1-9]XXXXXXXX`` is a French national number.
"""

from __future__ import annotations

import re

_CLASSES = {"X": "[0-9]", "Z": "[1-9]", "N": "[2-9]"}
_LITERALS = set("0123456789*#+")


class PatternError(ValueError):
    """A dial pattern is malformed; the message names the position."""


def compile_pattern(pattern: str) -> re.Pattern[str]:
    """A regex that ``fullmatch``es exactly the numbers the dial pattern accepts."""
    if not pattern:
        raise PatternError("empty pattern")
    if not pattern.startswith("_"):
        return re.compile(re.escape(pattern))
    body = pattern[1:]
    if not body:
        raise PatternError("'_' alone matches nothing; add digits or X/N/Z")
    parts: list[str] = []
    i = 0
    while i < len(body):
        char = body[i]
        position = i + 1  # counted in the full pattern, '_' being 0
        if char in _CLASSES:
            parts.append(_CLASSES[char])
        elif char in _LITERALS:
            parts.append(re.escape(char))
        elif char in ".!":
            if i != len(body) - 1:
                raise PatternError(f"{char!r} at position {position} must be the last character")
            parts.append(".+" if char == "." else ".*")
        elif char == "[":
            end = body.find("]", i)
            if end == -1:
                raise PatternError(f"'[' at position {position} is never closed")
            parts.append(_char_class(body[i + 1:end], position))
            i = end
        else:
            raise PatternError(f"unexpected {char!r} at position {position}; use digits, "
                               "* # +, X Z N, [ranges], or a final . or !")
        i += 1
    return re.compile("".join(parts))


def _char_class(inside: str, position: int) -> str:
    if not inside:
        raise PatternError(f"empty [] at position {position}")
    if not re.fullmatch(r"(?:[0-9](?:-[0-9])?)+", inside):
        raise PatternError(f"[{inside}] at position {position} may only hold digits and "
                           "digit ranges like 1-5")
    for low, high in re.findall(r"([0-9])-([0-9])", inside):
        if low > high:
            raise PatternError(f"range {low}-{high} at position {position} is backwards")
    return f"[{inside}]"
