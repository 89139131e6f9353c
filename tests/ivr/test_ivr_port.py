"""The IVR port of the telephony process: a scheme's HTTP request performed against a local
server and answered to the call actor; debug lines appended to the call's log file."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from actors.host import Host
from actors.placement import Placement
from bus.envelope import Envelope
from bus.errors import RemoteError
from bus.message import Message
from ivr.messages import DebugLines, Digit, HttpFailed, HttpRequest, HttpResult, Log, RunHttp
from ivr.port import IVR_PORT, IvrPort
from tests.ivr.test_ivr_http import server  # noqa: F401  (the local HTTP test server)


class Calls:
    def __init__(self, root: Path) -> None:
        self.told: list[tuple[str, Message]] = []
        self.host = Host(host_id="h", behaviours=[], clock=lambda: 0.0,
                         placement=Placement({"call": ("h",), "ivr-io": ("h",)}))
        self.port = IvrPort(self.host, root, clock=lambda: 1764000000.0)
        self.host.add_port(IVR_PORT, self.port)
        self.host.add_port("call", self._call)

    def _call(self, env: Envelope) -> None:
        self.told.append((env.to, env.msg))

    async def answered(self, count: int) -> list[tuple[str, Message]]:
        for _ in range(200):
            if len(self.told) >= count:
                break
            await asyncio.sleep(0.02)
        return self.told


async def test_an_http_request_is_answered_to_its_call(server: str,  # noqa: F811
                                                       tmp_path: Path) -> None:
    calls = Calls(tmp_path)
    get = HttpRequest(id="h1", method="GET", url=f"{server}/customers/1234", body=None,
                      timeout_s=2.0)
    slow = HttpRequest(id="h2", method="GET", url=f"{server}/slow", body=None, timeout_s=0.3)
    calls.host.tell(IVR_PORT, RunHttp(call_id="c1", request=get))
    calls.host.tell(IVR_PORT, RunHttp(call_id="c2", request=slow))
    told = dict(await calls.answered(2))
    ok = told["call/c1"]
    assert isinstance(ok, HttpResult) and ok.id == "h1" and ok.status == 200
    assert ok.json["customer"]["name"] == "Zoé Martin"
    late = told["call/c2"]
    assert isinstance(late, HttpFailed) and late.id == "h2" and "timeout" in late.reason
    assert calls.port.counters["http"] == 2 and calls.port.counters["http_failed"] == 1


async def test_debug_lines_go_to_the_calls_log_file_until_done(tmp_path: Path) -> None:
    calls = Calls(tmp_path)
    calls.host.tell(IVR_PORT, DebugLines(call_id="c1", scheme="front", lines=(
        Log(kind="start", node="welcome", text="scheme front"),
        Log(kind="enter", node="menu", text="menu")), done=False))
    calls.host.tell(IVR_PORT, DebugLines(call_id="c1", scheme="front", lines=(
        Log(kind="digit", node="menu", text="7"),
        Log(kind="retry", node="menu", text="invalid key 7")), done=True))
    await asyncio.sleep(0.05)
    [path] = (tmp_path / "front").glob("debug_*-c1.log")
    lines = path.read_text().splitlines()
    assert [line.split()[2] for line in lines] == ["start", "enter", "digit", "retry"]
    assert lines[-1].endswith("menu: invalid key 7")
    assert calls.port.logs == {}  # closed when the scheme was done


async def test_anything_else_is_refused_with_a_typed_error(tmp_path: Path) -> None:
    calls = Calls(tmp_path)
    with pytest.raises(RemoteError) as info:
        await calls.host.ask(IVR_PORT, Digit(digit="1"), timeout=2)
    assert info.value.code == "ivr.unexpected" and "ivr.digit" in str(info.value)
