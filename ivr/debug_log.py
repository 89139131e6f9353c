"""The per-call debug log, as the seed keeps it: ``<root>/<scheme>/debug_<timestamp>-<callid>.log``
with one line per ``Log`` action (nodes entered, prompts, keys, variables, HTTP exchanges)::

    2025-03-04 10:00:00.000 start   welcome: scheme main version 2cb3f02f06c4; variables ...
    2025-03-04 10:00:00.000 enter   welcome: play

The interpreter only emits ``Log`` actions; this module is the I/O the call actor adds.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable
from pathlib import Path
from types import TracebackType
from typing import TextIO

from ivr.messages import IvrAction, Log

_UNSAFE = re.compile(r"[^A-Za-z0-9_.@+-]")


def debug_log_path(root: Path, scheme: str, call_id: str, started: float,
                   tz: dt.tzinfo = dt.UTC) -> Path:
    stamp = dt.datetime.fromtimestamp(started, tz).strftime("%Y%m%d-%H%M%S")
    safe_call = _UNSAFE.sub("_", call_id)[:80] or "call"
    return root / _UNSAFE.sub("_", scheme) / f"debug_{stamp}-{safe_call}.log"


def format_line(now: float, log: Log, tz: dt.tzinfo = dt.UTC) -> str:
    when = dt.datetime.fromtimestamp(now, tz).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]
    text = log.text.replace("\n", "\\n")
    return f"{when} {log.kind:<7} {log.node}: {text}"


class DebugLog:
    """An open debug log of one call. Lines are flushed as written, so the file can be read
    (``tail -f``) while the call runs and survives a crash of the process."""

    def __init__(self, root: Path | str, scheme: str, call_id: str, started: float,
                 tz: dt.tzinfo = dt.UTC) -> None:
        self.tz = tz
        self.path = debug_log_path(Path(root), scheme, call_id, started, tz)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file: TextIO | None = self.path.open("a", encoding="utf-8", buffering=1)

    def write(self, now: float, actions: Iterable[IvrAction]) -> None:
        """Write the ``Log`` actions among ``actions`` (others are skipped)."""
        if self._file is None:
            raise ValueError(f"debug log {self.path} is closed")
        for action in actions:
            if isinstance(action, Log):
                self._file.write(format_line(now, action, self.tz) + "\n")

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def __enter__(self) -> DebugLog:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()
