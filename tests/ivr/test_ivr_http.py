"""The HTTP executor against a local test server, and the http node end to end with it."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from ivr.http_client import HttpExecutor, perform
from ivr.messages import Enqueue, HttpFailed, HttpRequest, HttpResult, IvrAction
from tests.ivr.scripted import ScriptedCall, scheme_of

SLOW_S = 1.0


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:  # keep test output quiet
        pass

    def _json(self, status: int, doc: object) -> None:
        body = json.dumps(doc).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except BrokenPipeError:  # /slow: the client gave up, as the test wants
            self.close_connection = True

    def do_GET(self) -> None:
        path = self.path
        if path.startswith("/customers/"):
            number = path.rsplit("/", 1)[1]
            if number == "0000":
                self._json(404, {"error": "unknown customer"})
            else:
                self._json(200, {"customer": {"name": "Zoé Martin", "id": number},
                                 "vip": True, "balance": 12.5})
        elif path == "/slow":
            time.sleep(SLOW_S)
            self._json(200, {"late": True})
        elif path == "/chunked":
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for part in (b'{"parts":', b' [1, 2', b", 3]}"):
                self.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
            self.wfile.write(b"0\r\n\r\n")
        elif path == "/until-close":
            self.send_response(200)
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(b'{"closed": true}')
            self.close_connection = True
        elif path == "/text":
            body = b"hello"
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        else:
            self._json(404, {"error": "no route"})

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(length).decode()
        self._json(201, {"method": "POST", "path": self.path, "body": json.loads(body),
                         "content_type": self.headers.get("Content-Type"),
                         "token": self.headers.get("X-Token"), "host": self.headers["Host"]})


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


def request(url: str, *, method: str = "GET", body: str | None = None,
            timeout_s: float = 2.0, headers: dict[str, str] | None = None) -> HttpRequest:
    return HttpRequest(id="r-1", method=method, url=url, body=body, timeout_s=timeout_s,
                       headers=headers or {})


async def test_get_json(server: str) -> None:
    answer = await perform(request(f"{server}/customers/1234"))
    assert answer == HttpResult(id="r-1", status=200, json={
        "customer": {"name": "Zoé Martin", "id": "1234"}, "vip": True, "balance": 12.5})


async def test_post_sends_json_and_headers(server: str) -> None:
    answer = await perform(request(f"{server}/crm?x=1", method="POST", body='{"ani": "+33"}',
                                   headers={"X-Token": "s3cret"}))
    assert isinstance(answer, HttpResult) and answer.status == 201
    port = server.rsplit(":", 1)[1]
    assert answer.json == {"method": "POST", "path": "/crm?x=1", "body": {"ani": "+33"},
                           "content_type": "application/json; charset=utf-8",
                           "token": "s3cret", "host": f"127.0.0.1:{port}"}


async def test_chunked_close_delimited_and_non_json_bodies(server: str) -> None:
    assert (await perform(request(f"{server}/chunked"))) == HttpResult(
        id="r-1", status=200, json={"parts": [1, 2, 3]})
    assert (await perform(request(f"{server}/until-close"))) == HttpResult(
        id="r-1", status=200, json={"closed": True})
    assert (await perform(request(f"{server}/text"))) == HttpResult(id="r-1", status=200,
                                                                    json=None)


async def test_timeout(server: str) -> None:
    started = time.monotonic()
    answer = await perform(request(f"{server}/slow", timeout_s=0.2))
    assert answer == HttpFailed(id="r-1", reason="timeout after 0.2s")
    assert time.monotonic() - started < SLOW_S / 2


async def test_connection_refused_and_bad_urls() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    refused = await perform(request(f"http://127.0.0.1:{port}/"))
    assert isinstance(refused, HttpFailed) and refused.reason.startswith("ConnectionRefused")
    bad = await perform(request("ftp://127.0.0.1/x"))
    assert bad == HttpFailed(id="r-1", reason="ValueError: expected an http:// or https:// "
                             "URL; got 'ftp://127.0.0.1/x'")
    split = await perform(request("http://127.0.0.1:1/", headers={"X": "a\r\nInjected: 1"}))
    assert isinstance(split, HttpFailed) and "line break" in split.reason


LOOKUP = """
    start: ask
    vars: {crm: "%s"}
    nodes:
      ask:
        type: collect
        prompt: account
        into: account
        min: 4
        max: 4
        next: lookup
        failure: agent
      lookup:
        type: http
        url: "${crm}/customers/${account}"
        timeout_s: %s
        save: {name: customer.name, vip: vip, balance: balance}
        next: agent
        fallback: anyone
      agent: {type: queue, queue: vip, priority: 5}
      anyone: {type: queue, queue: general}
"""


async def drive_http(call: ScriptedCall, actions: list[IvrAction]) -> None:
    """What the call actor does: run each HttpRequest and feed the answer back."""
    answers: asyncio.Queue[HttpResult | HttpFailed] = asyncio.Queue()
    executor = HttpExecutor(answers.put_nowait)
    for action in actions:
        if isinstance(action, HttpRequest):
            executor.submit(action)
    call.send(await answers.get())
    await executor.close()


async def test_http_node_success_sets_variables(server: str) -> None:
    call = ScriptedCall(scheme_of(LOOKUP % (server, 2)))
    call.press("4242")
    await drive_http(call, call.history)
    assert {k: call.state.vars[k] for k in ("name", "vip", "balance")} == {
        "name": "Zoé Martin", "vip": "true", "balance": "12.5"}
    assert call.actions_of(Enqueue) == [Enqueue(queue="vip", priority=5, skills={})]


async def test_http_node_unknown_customer_and_timeout_take_the_fallback(server: str) -> None:
    call = ScriptedCall(scheme_of(LOOKUP % (server, 2)))
    call.press("0000")  # the CRM answers 404
    await drive_http(call, call.history)
    assert call.actions_of(Enqueue)[0].queue == "general" and "name" not in call.state.vars

    slow = ScriptedCall(scheme_of(LOOKUP.replace("/customers/${account}", "/slow")
                                  % (server, 0.2)))
    slow.press("4242")
    await drive_http(slow, slow.history)  # the executor gives up after 0.2 s
    assert slow.actions_of(Enqueue)[0].queue == "general"
    assert "lookup: failed: timeout after 0.2s -> anyone" in slow.logs("http")


async def test_executor_close_cancels_running_requests(server: str) -> None:
    delivered: list[object] = []
    executor = HttpExecutor(delivered.append)
    task = executor.submit(request(f"{server}/slow", timeout_s=5))
    await asyncio.sleep(0.05)
    await executor.close()
    assert task.cancelled() and delivered == []
