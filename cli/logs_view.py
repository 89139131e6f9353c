"""``contactor logs``: read (and follow) the JSON-lines logs under ``<data>/logs``."""

from __future__ import annotations

import json
import os
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cli.common import paint

#: text logs of Thespian itself and of the daemons' stdio; shown only when asked by name
_NOT_JSON = ("thespian", "daemon")
_LEVEL_STYLE = {"debug": "dim", "info": None, "warning": "yellow", "error": "red",
                "critical": "red"}
_FIRST = ("timestamp", "level", "service", "event")


def log_files(log_dir: Path, name: str | None) -> list[Path]:
    """The log file of ``name`` (``daemon``/``thespian`` included), or every service log."""
    if name is not None:
        for candidate in (log_dir / f"{name}.log", log_dir / f"{name}.out"):
            if candidate.exists():
                return [candidate]
        raise FileNotFoundError(f"no log for {name!r} in {log_dir}"
                                + _known(log_dir))
    return sorted(p for p in log_dir.glob("*.log") if p.stem not in _NOT_JSON)


def _known(log_dir: Path) -> str:
    names = sorted({p.stem for p in log_dir.glob("*.log")} | {p.stem for p in
                                                                log_dir.glob("*.out")})
    return f" (known: {', '.join(names)})" if names else " (no logs yet)"


def tail_lines(path: Path, count: int) -> list[str]:
    """The last ``count`` lines of ``path`` (reads from the end; files may be large)."""
    if count <= 0:
        return []
    with open(path, "rb") as f:
        f.seek(0, os.SEEK_END)
        end = f.tell()
        block, data = 8192, b""
        while end > 0 and data.count(b"\n") <= count:
            start = max(0, end - block)
            f.seek(start)
            data = f.read(end - start) + data
            end = start
    return [line.decode("utf-8", "replace") for line in data.splitlines()[-count:]]


def _timestamp(line: str) -> str:
    try:
        value = json.loads(line).get("timestamp", "")
    except (ValueError, AttributeError):
        return ""
    return str(value)


def recent(files: list[Path], count: int) -> list[str]:
    """The last ``count`` lines over ``files``, in timestamp order."""
    lines = [line for path in files for line in tail_lines(path, count)]
    lines.sort(key=_timestamp)  # stable: a file's own order survives for equal stamps
    return lines[-count:] if count > 0 else []


def format_line(line: str, colour: bool) -> str:
    """A JSON log line for humans: ``time level service event key=value...``."""
    try:
        event: dict[str, Any] = json.loads(line)
        if not isinstance(event, dict):
            return line
    except ValueError:
        return line
    stamp = str(event.get("timestamp", ""))
    level = str(event.get("level", ""))
    head = " ".join([
        paint(stamp[11:23] if len(stamp) >= 23 else stamp, "dim", colour),
        paint(level.ljust(7), _LEVEL_STYLE.get(level), colour),
        paint(str(event.get("service", "")).ljust(10), "cyan", colour),
        paint(str(event.get("event", "")), "bold", colour),
    ])
    rest = " ".join(f"{k}={_short(v)}" for k, v in event.items() if k not in _FIRST
                    and k not in ("pid", "exception"))
    text = f"{head} {rest}".rstrip()
    if "exception" in event:
        text += "\n" + str(event["exception"])
    return text


def _short(value: Any) -> str:
    return value if isinstance(value, str) and " " not in value else json.dumps(value)


@dataclass(slots=True)
class _Cursor:
    path: Path
    inode: int | None = None
    offset: int = 0
    partial: bytes = b""


def follow(files_fn: Callable[[], list[Path]], poll_s: float = 0.2,
           stop: Callable[[], bool] = lambda: False) -> Iterator[str]:
    """Yield lines appended to the files (re-listed each poll); survives rotation."""
    cursors: dict[Path, _Cursor] = {}
    for path in files_fn():  # start at the current end of every existing file
        stat = path.stat()
        cursors[path] = _Cursor(path, stat.st_ino, stat.st_size)
    while not stop():
        pending: deque[str] = deque()
        for path in files_fn():
            cursor = cursors.setdefault(path, _Cursor(path))
            pending.extend(_read_new(cursor))
        yield from pending
        if not pending:
            time.sleep(poll_s)


def _read_new(cursor: _Cursor) -> list[str]:
    try:
        stat = cursor.path.stat()
    except FileNotFoundError:
        return []
    if stat.st_ino != cursor.inode or stat.st_size < cursor.offset:
        cursor.inode, cursor.offset, cursor.partial = stat.st_ino, 0, b""  # rotated
    if stat.st_size == cursor.offset:
        return []
    with open(cursor.path, "rb") as f:
        f.seek(cursor.offset)
        data = cursor.partial + f.read()
        cursor.offset = f.tell()
    *complete, cursor.partial = data.split(b"\n")
    return [line.decode("utf-8", "replace") for line in complete]
