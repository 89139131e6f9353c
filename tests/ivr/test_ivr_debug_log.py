"""The per-call debug log: file name and content of a scripted call."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from ivr.debug_log import DebugLog, debug_log_path
from ivr.messages import HttpRequest, HttpResult, Log
from tests.ivr.scripted import ScriptedCall, scheme_of

STARTED = dt.datetime(2025, 3, 4, 9, 15, 30, tzinfo=dt.UTC).timestamp()

SCHEME = scheme_of("""
    name: crm
    start: welcome
    vars: {lang: fr}
    nodes:
      welcome: {type: play, prompt: welcome, next: account}
      account:
        type: collect
        prompt: enter-account
        into: account
        min: 4
        max: 4
        next: lookup
        failure: bye
      lookup:
        type: http
        url: "http://127.0.0.1:9/customers/${account}"
        save: {name: name}
        next: to_queue
        fallback: bye
      to_queue: {type: queue, queue: "sales-${lang}", priority: 3}
      bye: {type: hangup}
""")


def test_path_is_like_the_seeds(tmp_path: Path) -> None:
    assert debug_log_path(tmp_path, "main", "a84b4c76e66710@10.0.0.1", STARTED) == \
        tmp_path / "main" / "debug_20250304-091530-a84b4c76e66710@10.0.0.1.log"
    assert debug_log_path(tmp_path, "main", "../../etc/x y", STARTED).name == \
        "debug_20250304-091530-.._.._etc_x_y.log"


def test_a_call_leaves_a_readable_log(tmp_path: Path) -> None:
    call = ScriptedCall(SCHEME, now=STARTED, call_vars={"caller": "+33612345678"})
    with DebugLog(tmp_path, "crm", "call-1", STARTED) as log:
        written = 0

        def flush() -> None:  # what the call actor does after each step
            nonlocal written
            log.write(call.now, call.history[written:])
            written = len(call.history)

        call.listen()
        flush()
        call.now += 1.5
        call.press("4242")
        flush()
        [request] = call.actions_of(HttpRequest)
        call.now += 0.25
        call.send(HttpResult(id=request.id, status=200, json={"name": "Zoé", "extra": 1}))
        flush()
    lines = (tmp_path / "crm" / "debug_20250304-091530-call-1.log").read_text().splitlines()
    assert lines == [
        "2025-03-04 09:15:30.000 start   welcome: scheme crm version "
        f"{SCHEME.version}; variables caller='+33612345678', lang='fr'",
        "2025-03-04 09:15:30.000 enter   welcome: play",
        "2025-03-04 09:15:30.000 play    welcome: welcome",
        "2025-03-04 09:15:30.000 enter   account: collect",
        "2025-03-04 09:15:30.000 play    account: enter-account",
        "2025-03-04 09:15:31.500 digit   account: 4",
        "2025-03-04 09:15:31.500 digit   account: 2",
        "2025-03-04 09:15:31.500 digit   account: 4",
        "2025-03-04 09:15:31.500 digit   account: 2",
        "2025-03-04 09:15:31.500 set     account: account = '4242'",
        "2025-03-04 09:15:31.500 enter   lookup: http",
        "2025-03-04 09:15:31.500 http    lookup: GET http://127.0.0.1:9/customers/4242",
        '2025-03-04 09:15:31.750 http    lookup: status 200: {"name":"Zoé","extra":1}',
        "2025-03-04 09:15:31.750 set     lookup: name = 'Zoé'",
        "2025-03-04 09:15:31.750 enter   to_queue: queue",
        "2025-03-04 09:15:31.750 exit    to_queue: queue: queue sales-fr, priority 3",
    ]


def test_a_closed_log_refuses_writes(tmp_path: Path) -> None:
    log = DebugLog(tmp_path, "crm", "c", STARTED)
    log.close()
    with pytest.raises(ValueError, match="is closed"):
        log.write(STARTED, [Log(kind="x", node="n", text="t")])
