"""The service contract and the runner that hosts a service inside its supervised process.

A service is ``async def main(ctx: ServiceContext) -> None`` named by ``"module:function"``
in its :class:`supervision.spec.ChildSpec`.  It:

* sets itself up, then calls ``ctx.ready()`` once it serves (the supervisor starts the next
  child only then, and ``contactor status`` shows ``running``);
* runs until ``ctx.stopping`` is set, drains within ``shutdown_s`` and returns; a service that
  does not return in time is cancelled (``asyncio.CancelledError`` in ``main``);
* publishes gauges by assigning plain values (numbers, strings, lists, dicts of those) in
  ``ctx.stats`` (``actors_by_kind``, ``mailbox_depth``, ``msgs_per_s``...); they reach
  ``contactor status`` within a second;
* logs with ``ctx.log`` (structlog, bound with ``service=<name>``).

Returning while not asked to stop is a normal exit, raising is an abnormal one; either way
the process exits and the supervisor applies the child's restart type.  Signals belong to
the supervisor: ``main`` runs on an event loop in a secondary thread (uvloop when available)
so the process's main thread keeps answering Thespian control messages; use
``loop.run_in_executor`` for blocking work and never ``loop.add_signal_handler``.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import inspect
import os
import pickle
import threading
import traceback
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

import structlog

ServiceMain = Callable[["ServiceContext"], Awaitable[None]]

#: grace between cancelling ``main`` and giving up on the thread (process exit follows)
CANCEL_GRACE_S = 1.0


class ServiceLoadError(ImportError):
    """A ``start`` string does not name an ``async def main(ctx)`` function."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ServiceContext:
    """What a service gets from its supervisor.  Built by the runner, not by services."""

    name: str
    config_path: Path
    data_dir: Path
    args: Mapping[str, Any]
    #: gauges the service publishes; read by the supervisor for ``contactor status``
    stats: dict[str, Any]
    log: structlog.typing.FilteringBoundLogger
    #: set when the supervisor wants the service to drain and return
    stopping: asyncio.Event
    #: how many times this child was started before (0 on the first start)
    restarts: int = 0
    _on_ready: Callable[[], None] = field(repr=False, default=lambda: None)

    def ready(self) -> None:
        """Mark the service as serving.  Idempotent."""
        self._on_ready()

    async def until_stopping(self) -> None:
        """Wait until the supervisor asks the service to stop."""
        await self.stopping.wait()

    @property
    def log_dir(self) -> Path:
        return self.data_dir / "logs"


def load_entry(start: str) -> ServiceMain:
    """Resolve ``"module:function"`` to the service's ``main``; fails loudly at start-up."""
    module_name, sep, attr = start.partition(":")
    if not sep or not module_name or not attr:
        raise ServiceLoadError(f"service start {start!r} is not 'module:function'")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ServiceLoadError(f"service start {start!r}: cannot import {module_name}: "
                               f"{exc}") from exc
    main = getattr(module, attr, None)
    if main is None:
        raise ServiceLoadError(f"service start {start!r}: {module_name} has no {attr!r}")
    if not inspect.iscoroutinefunction(main):
        raise ServiceLoadError(f"service start {start!r} is not an 'async def' function")
    return main  # type: ignore[no-any-return]


def snapshot_stats(stats: dict[str, Any]) -> dict[str, Any]:
    """A deep, picklable copy of the service's gauges, safe against concurrent writers."""
    for _ in range(5):
        try:
            # Pickling plain data runs in C without releasing the GIL, so the service's
            # thread cannot mutate the dict mid-copy; retry covers exotic values that do.
            copied: dict[str, Any] = pickle.loads(pickle.dumps(stats))
            return copied
        except RuntimeError:
            continue
        except Exception as exc:  # an unpicklable gauge must not kill the supervisor link
            return {"stats_error": f"{type(exc).__name__}: {exc}"}
    return {"stats_error": "stats changed during every copy attempt"}


def new_event_loop() -> asyncio.AbstractEventLoop:
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop()
    loop: asyncio.AbstractEventLoop = uvloop.new_event_loop()
    return loop


class ServiceRunner:
    """Runs one service's ``main`` on its own event loop thread.

    Thread-safe surface for the hosting actor: :meth:`start`, :meth:`request_stop`,
    :meth:`stop_and_join`, the ``is_ready``/``is_done``/``error`` results and
    :attr:`wake_fd`, a pipe that becomes readable whenever ``is_ready`` or ``is_done``
    changes (the actor watches it with ``ThespianWatch``).
    """

    def __init__(self, main: ServiceMain, *, name: str, config_path: Path, data_dir: Path,
                 args: Mapping[str, Any], log: structlog.typing.FilteringBoundLogger,
                 restarts: int = 0) -> None:
        self._main = main
        self._name = name
        self._config_path = config_path
        self._data_dir = data_dir
        self._args = MappingProxyType(dict(args))
        self._log = log
        self._restarts = restarts
        self.stats: dict[str, Any] = {}
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        os.set_blocking(self._wake_w, False)
        self._ready = threading.Event()
        self._done = threading.Event()
        self._stop_requested = threading.Event()
        self.error: str | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[None] | None = None
        self._stopping: asyncio.Event | None = None
        self._started = threading.Event()
        self._thread = threading.Thread(target=self._thread_main, name=f"service:{name}",
                                        daemon=True)

    @property
    def wake_fd(self) -> int:
        return self._wake_r

    @property
    def is_ready(self) -> bool:
        return self._ready.is_set()

    @property
    def is_done(self) -> bool:
        return self._done.is_set()

    def start(self) -> None:
        self._thread.start()
        self._started.wait()

    def drain_wakeups(self) -> None:
        with contextlib.suppress(BlockingIOError, OSError):
            while os.read(self._wake_r, 512):
                pass

    def request_stop(self, grace_s: float) -> None:
        """Set ``ctx.stopping``; cancel ``main`` if it has not returned after ``grace_s``."""
        self._stop_requested.set()
        loop = self._loop
        if loop is None or self.is_done:
            return
        with contextlib.suppress(RuntimeError):  # loop already closed
            loop.call_soon_threadsafe(self._begin_stop, grace_s)

    def stop_and_join(self, grace_s: float) -> bool:
        """Blocking stop for process exit; ``True`` if ``main`` ended in time."""
        self.request_stop(grace_s)
        return self._done.wait(grace_s + CANCEL_GRACE_S)

    def close(self) -> None:
        for fd in (self._wake_r, self._wake_w):
            with contextlib.suppress(OSError):
                os.close(fd)

    # -- service thread --------------------------------------------------------------------

    def _poke(self) -> None:
        with contextlib.suppress(BlockingIOError, OSError):
            os.write(self._wake_w, b"!")

    def _mark_ready(self) -> None:
        if not self._ready.is_set():
            self._ready.set()
            self._poke()

    def _begin_stop(self, grace_s: float) -> None:
        if self._stopping is None or self._loop is None:
            return  # _run has not begun; it sees _stop_requested and starts stopping
        self._stopping.set()
        self._loop.call_later(grace_s, self._cancel_main)

    def _cancel_main(self) -> None:
        if self._task is not None and not self._task.done():
            self._log.warning("service.cancelled", reason="did not return after stopping")
            self._task.cancel()

    def _thread_main(self) -> None:
        loop = new_event_loop()
        self._loop = loop
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(self._run())
        except BaseException:  # the runner itself broke: report it as the service's error
            self.error = traceback.format_exc()
        finally:
            with contextlib.suppress(Exception):
                loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()
            self._started.set()
            self._done.set()
            self._poke()

    async def _run(self) -> None:
        self._stopping = asyncio.Event()
        if self._stop_requested.is_set():
            self._stopping.set()
        ctx = ServiceContext(
            name=self._name, config_path=self._config_path, data_dir=self._data_dir,
            args=self._args, stats=self.stats, log=self._log, stopping=self._stopping,
            restarts=self._restarts, _on_ready=self._mark_ready,
        )
        self._task = asyncio.current_task()
        self._started.set()
        try:
            await self._main(ctx)
        except asyncio.CancelledError:
            if not self._stop_requested.is_set():
                self.error = "service main was cancelled without a stop request"
        except Exception:
            self.error = traceback.format_exc()
            self._log.error("service.crashed", error=self.error.strip().splitlines()[-1])
