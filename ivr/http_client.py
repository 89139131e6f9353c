"""Performs the interpreter's ``HttpRequest`` actions: a minimal asyncio HTTP/1.1 client
(stdlib only) that answers with ``HttpResult`` or ``HttpFailed`` within the request's timeout.

One request per connection (``Connection: close``); bodies are read by Content-Length,
chunked encoding or until the server closes, up to ``MAX_BODY`` bytes.
"""

from __future__ import annotations

import asyncio
import json
import ssl
import urllib.parse
from collections.abc import Callable
from typing import Any

from ivr.messages import HttpFailed, HttpRequest, HttpResult

MAX_BODY = 1 << 20
MAX_HEADER_LINES = 100
USER_AGENT = "Contactor-IVR/0.1"


class HttpProtocolError(ValueError):
    """The server's answer is not HTTP/1.x as we read it."""


async def perform(request: HttpRequest,
                  ssl_context: ssl.SSLContext | None = None) -> HttpResult | HttpFailed:
    """Never raises for network trouble: every failure becomes ``HttpFailed``."""
    try:
        async with asyncio.timeout(request.timeout_s):
            status, body = await _exchange(request, ssl_context)
    except TimeoutError:
        return HttpFailed(id=request.id, reason=f"timeout after {request.timeout_s:g}s")
    except (OSError, HttpProtocolError, ValueError, asyncio.IncompleteReadError) as exc:
        return HttpFailed(id=request.id, reason=f"{type(exc).__name__}: {exc}")
    return HttpResult(id=request.id, status=status, json=_json_or_none(body))


def _json_or_none(body: bytes) -> Any:
    if not body.strip():
        return None
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None


async def _exchange(request: HttpRequest,
                    ssl_context: ssl.SSLContext | None) -> tuple[int, bytes]:
    url = urllib.parse.urlsplit(request.url)
    if url.scheme not in ("http", "https") or not url.hostname:
        raise ValueError(f"expected an http:// or https:// URL; got {request.url!r}")
    secure = url.scheme == "https"
    port = url.port or (443 if secure else 80)
    context = (ssl_context or ssl.create_default_context()) if secure else None
    data = _request_bytes(request, url, port, secure)
    reader, writer = await asyncio.open_connection(url.hostname, port, ssl=context)
    try:
        writer.write(data)
        await writer.drain()
        return await _read_response(reader)
    finally:
        writer.close()


def _request_bytes(request: HttpRequest, url: urllib.parse.SplitResult, port: int,
                   secure: bool) -> bytes:
    target = (url.path or "/") + (f"?{url.query}" if url.query else "")
    host = url.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    if port != (443 if secure else 80):
        host = f"{host}:{port}"
    body = request.body.encode("utf-8") if request.body is not None else b""
    headers = {"Host": host, "User-Agent": USER_AGENT, "Accept": "application/json",
               "Connection": "close"}
    if request.body is not None:
        headers["Content-Type"] = "application/json; charset=utf-8"
    if body or request.method in ("POST", "PUT", "PATCH"):
        headers["Content-Length"] = str(len(body))
    for name, value in request.headers.items():
        if "\r" in name or "\n" in name or "\r" in value or "\n" in value:
            raise ValueError(f"header {name!r} contains a line break")
        headers[name] = value
    head = f"{request.method} {target} HTTP/1.1\r\n" + "".join(
        f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
    return head.encode("latin-1") + body


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    while True:  # skip 1xx interim answers
        status_line = (await reader.readline()).decode("latin-1").rstrip("\r\n")
        parts = status_line.split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/1.") or not parts[1].isdigit():
            raise HttpProtocolError(f"not an HTTP/1.x status line: {status_line[:80]!r}")
        status = int(parts[1])
        headers = await _read_headers(reader)
        if not 100 <= status < 200:
            break
    if status in (204, 304):
        return status, b""
    if "chunked" in headers.get("transfer-encoding", "").lower():
        return status, await _read_chunked(reader)
    if "content-length" in headers:
        length = int(headers["content-length"])
        if length > MAX_BODY:
            raise HttpProtocolError(f"body of {length} bytes is larger than {MAX_BODY}")
        return status, await reader.readexactly(length)
    body = bytearray()  # no length given: the body ends when the server closes
    while chunk := await reader.read(65536):
        body += chunk
        if len(body) > MAX_BODY:
            raise HttpProtocolError(f"body larger than {MAX_BODY} bytes")
    return status, bytes(body)


async def _read_headers(reader: asyncio.StreamReader) -> dict[str, str]:
    headers: dict[str, str] = {}
    for _ in range(MAX_HEADER_LINES):
        line = (await reader.readline()).decode("latin-1").rstrip("\r\n")
        if not line:
            return headers
        name, sep, value = line.partition(":")
        if not sep:
            raise HttpProtocolError(f"not a header line: {line[:80]!r}")
        headers[name.strip().lower()] = value.strip()
    raise HttpProtocolError(f"more than {MAX_HEADER_LINES} header lines")


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    body = bytearray()
    while True:
        size_line = (await reader.readline()).decode("latin-1").strip()
        try:
            size = int(size_line.split(";", 1)[0], 16)
        except ValueError:
            raise HttpProtocolError(f"bad chunk size {size_line[:40]!r}") from None
        if size == 0:
            await _read_headers(reader)  # trailers
            return bytes(body)
        if len(body) + size > MAX_BODY:
            raise HttpProtocolError(f"body larger than {MAX_BODY} bytes")
        body += await reader.readexactly(size)
        await reader.readexactly(2)  # CRLF after the chunk


class HttpExecutor:
    """Runs requests as tasks and hands each answer to ``deliver`` (e.g. a tell to the call
    actor). ``close()`` cancels what is still running (a call that ended)."""

    def __init__(self, deliver: Callable[[HttpResult | HttpFailed], None],
                 ssl_context: ssl.SSLContext | None = None) -> None:
        self.deliver = deliver
        self.ssl_context = ssl_context
        self._tasks: set[asyncio.Task[None]] = set()

    def submit(self, request: HttpRequest) -> asyncio.Task[None]:
        task = asyncio.get_running_loop().create_task(self._run(request))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _run(self, request: HttpRequest) -> None:
        self.deliver(await perform(request, self.ssl_context))

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
