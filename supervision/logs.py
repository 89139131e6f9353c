"""Structured logging: JSON lines per service, coloured dev output on a terminal.

Call :func:`configure_logging` exactly once per process, first thing (each supervised service
process does so when it starts).  It is the only module-level configuration in Contactor.
Everything else gets a logger with ``structlog.get_logger()`` and binds ids::

    log = structlog.get_logger().bind(actor="call/42")
    log.info("call.answered", call_id=call_id)

Ids that should follow every line of a task (``call_id``...) go through
``structlog.contextvars.bind_contextvars``; they are merged into each event.

Files: ``<log_dir>/<service>.log``, one JSON object per line (``timestamp`` in UTC ISO 8601,
``level``, ``event`` and the bound ids), rotated by size: ``<service>.log.1`` is the previous
file, up to ``backups`` of them.  Exactly one process writes a given file (services have
distinct names; a restarted service's previous process is gone), so rotation needs no
inter-process lock.

Stdlib ``logging`` is left alone: Thespian replaces the stdlib root logger inside its actor
processes to forward records to its own logger process.
"""

from __future__ import annotations

import json
import os
import sys
import threading
from collections.abc import MutableMapping
from pathlib import Path
from typing import Any, TextIO

import structlog

DEFAULT_MAX_BYTES = 10 * 1024 * 1024
DEFAULT_BACKUPS = 5
LEVELS = ("debug", "info", "warning", "error", "critical")
_FIRST_KEYS = ("timestamp", "level", "service", "event")


class RotatingLineFile:
    """Append-only text file rotated when it would grow past ``max_bytes``."""

    def __init__(self, path: Path, *, max_bytes: int = DEFAULT_MAX_BYTES,
                 backups: int = DEFAULT_BACKUPS) -> None:
        if max_bytes <= 0 or backups < 0:
            raise ValueError("max_bytes must be > 0 and backups >= 0")
        self.path = path
        self.max_bytes = max_bytes
        self.backups = backups
        self._lock = threading.Lock()
        path.parent.mkdir(parents=True, exist_ok=True)
        self._file = open(path, "a", encoding="utf-8")  # noqa: SIM115 - lives with the sink
        self._size = self._file.tell()

    def write_line(self, line: str) -> None:
        data = line if line.endswith("\n") else line + "\n"
        size = len(data.encode("utf-8"))
        with self._lock:
            if self._size and self._size + size > self.max_bytes:
                self._rotate()
            self._file.write(data)
            self._file.flush()
            self._size += size

    def close(self) -> None:
        with self._lock:
            self._file.close()

    def _rotate(self) -> None:
        self._file.close()
        if self.backups == 0:
            self.path.unlink(missing_ok=True)
        else:
            for i in range(self.backups - 1, 0, -1):
                older = self.path.with_name(f"{self.path.name}.{i}")
                if older.exists():
                    os.replace(older, self.path.with_name(f"{self.path.name}.{i + 1}"))
            os.replace(self.path, self.path.with_name(f"{self.path.name}.1"))
        self._file = open(self.path, "a", encoding="utf-8")  # noqa: SIM115
        self._size = 0


class _TeeLogger:
    """Receives the finished event dict; writes JSON to the file and dev form to a console."""

    def __init__(self, file: RotatingLineFile | None, console: TextIO | None,
                 colors: bool) -> None:
        self._file = file
        self._console = console
        self._json_extras = structlog.processors.format_exc_info
        self._dev = structlog.dev.ConsoleRenderer(colors=colors)
        self._lock = threading.Lock()

    def msg(self, event_dict: MutableMapping[str, Any]) -> None:
        if self._file is not None:
            flat = self._json_extras(None, "", dict(event_dict))
            # Fixed keys first so that the files read well with plain tools too.
            ordered = {k: flat.pop(k) for k in _FIRST_KEYS if k in flat}
            ordered.update(flat)
            self._file.write_line(json.dumps(ordered, default=repr, ensure_ascii=False))
        if self._console is not None:
            text = self._dev(None, "", dict(event_dict))
            with self._lock:
                try:
                    self._console.write(str(text) + "\n")
                    self._console.flush()
                except (OSError, ValueError):
                    self._console = None  # terminal went away; keep the file

    debug = info = warning = warn = error = critical = exception = fatal = log = msg

    def close(self) -> None:
        if self._file is not None:
            self._file.close()


class _TeeLoggerFactory:
    def __init__(self, logger: _TeeLogger) -> None:
        self.logger = logger

    def __call__(self, *args: Any) -> _TeeLogger:
        return self.logger


def _to_tee(_logger: Any, _name: str, event_dict: MutableMapping[str, Any]) -> Any:
    return (event_dict,), {}


def configure_logging(
    service: str,
    log_dir: Path | None,
    *,
    console: bool | None = None,
    level: str = "info",
    max_bytes: int = DEFAULT_MAX_BYTES,
    backups: int = DEFAULT_BACKUPS,
    **bound: Any,
) -> structlog.typing.FilteringBoundLogger:
    """Configure structlog for this process and return a logger bound with ``service``.

    ``log_dir=None`` writes no file.  ``console=None`` means "when stderr is a terminal".
    Extra keyword arguments are bound to the returned logger.
    """
    if level not in LEVELS:
        raise ValueError(f"log level must be one of {LEVELS}, got {level!r}")
    previous = structlog.get_config().get("logger_factory")
    if isinstance(previous, _TeeLoggerFactory):
        previous.logger.close()  # reconfigured in the same process (tests)
    use_console = sys.stderr.isatty() if console is None else console
    file = None
    if log_dir is not None:
        file = RotatingLineFile(Path(log_dir) / f"{service}.log",
                                max_bytes=max_bytes, backups=backups)
    tee = _TeeLogger(file, sys.stderr if use_console else None,
                     colors=use_console and sys.stderr.isatty())
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.StackInfoRenderer(),
            _to_tee,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=_TeeLoggerFactory(tee),
        cache_logger_on_first_use=False,
    )
    logger: structlog.typing.FilteringBoundLogger = structlog.get_logger().bind(
        service=service, pid=os.getpid(), **bound)
    return logger


def log_path(log_dir: Path, service: str) -> Path:
    return Path(log_dir) / f"{service}.log"
