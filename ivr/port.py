"""The IVR's I/O next to the call actors: HTTP requests of schemes and per-call debug logs.

The interpreter and the call actor are pure; what they need from the outside world comes
here as tells to :data:`IVR_PORT` (a port of the telephony process's host):

* :class:`RunHttp` - the request is performed with :mod:`ivr.http_client` (its own timeout,
  never raising) and the outcome, ``HttpResult`` or ``HttpFailed``, is told to the call;
* :class:`DebugLines` - appended to ``<root>/<scheme>/debug_<timestamp>-<callid>.log``
  (:mod:`ivr.debug_log`), stamped with wall-clock time as they arrive; ``done`` closes it.

A call that never says ``done`` (its process died) cannot keep files open forever: past
:data:`MAX_OPEN_LOGS` the oldest log is closed (a later line starts a new file).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, Protocol

from bus.envelope import Envelope
from bus.message import Message
from bus.system import ErrorReply
from ivr.debug_log import DebugLog
from ivr.http_client import perform
from ivr.messages import DebugLines, HttpFailed, HttpRequest, HttpResult, RunHttp

IVR_PORT = "ivr-io/telephony"
MAX_OPEN_LOGS = 2000
#: requests in flight at once; more wait their turn (a slow CRM must not exhaust sockets)
MAX_HTTP_IN_FLIGHT = 200


class _Host(Protocol):
    def tell(self, to: str, msg: Message) -> None: ...
    def reply(self, env: Envelope, msg: Message) -> None: ...


Performer = Callable[[HttpRequest], Awaitable[HttpResult | HttpFailed]]


class IvrPort:
    def __init__(self, host: _Host, root: Path, *, clock: Callable[[], float] = time.time,
                 perform_http: Performer = perform, log: Any = None) -> None:
        self.host = host
        self.root = root
        self.clock = clock
        self.perform_http = perform_http
        self.log = log
        self.logs: dict[str, DebugLog] = {}
        self.started: dict[str, float] = {}
        self.tasks: set[asyncio.Task[None]] = set()
        self._slots = asyncio.Semaphore(MAX_HTTP_IN_FLIGHT)
        self.counters = {"http": 0, "http_failed": 0, "log_lines": 0}

    def __call__(self, env: Envelope) -> None:
        msg = env.msg
        if isinstance(msg, RunHttp):
            task = asyncio.get_running_loop().create_task(self._http(msg))
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)
        elif isinstance(msg, DebugLines):
            self._debug(msg)
        else:
            self.host.reply(env, ErrorReply(code="ivr.unexpected",
                                            text=f"the IVR port does not handle {msg.TAG}"))

    async def _http(self, msg: RunHttp) -> None:
        async with self._slots:
            outcome = await self.perform_http(msg.request)
        self.counters["http"] += 1
        if isinstance(outcome, HttpFailed):
            self.counters["http_failed"] += 1
        self.host.tell(f"call/{msg.call_id}", outcome)

    def _debug(self, msg: DebugLines) -> None:
        key = f"{msg.scheme}/{msg.call_id}"
        log = self.logs.get(key)
        if log is None and msg.lines:
            started = self.started.setdefault(key, self.clock())
            try:
                log = DebugLog(self.root, msg.scheme, msg.call_id, started)
            except OSError as exc:
                if self.log is not None:
                    self.log.warning("ivr.debug_log_failed", call_id=msg.call_id,
                                     error=str(exc))
                return
            self.logs[key] = log
            if len(self.logs) > MAX_OPEN_LOGS:
                oldest = next(iter(self.logs))
                self.logs.pop(oldest).close()
                self.started.pop(oldest, None)
        if log is not None and msg.lines:
            log.write(self.clock(), msg.lines)
            self.counters["log_lines"] += len(msg.lines)
        if msg.done:
            self.started.pop(key, None)
            if log is not None:
                self.logs.pop(key, None)
                log.close()

    def close(self) -> None:
        for task in self.tasks:
            task.cancel()
        for log in self.logs.values():
            log.close()
        self.logs.clear()
