"""The metrics endpoint is scraped over HTTP and parses as OpenMetrics (reference parser + ours)."""

from __future__ import annotations

import asyncio
import re
import urllib.error
import urllib.request
from zoneinfo import ZoneInfo

import pytest
from prometheus_client.openmetrics import parser

from stats.definitions import Thresholds
from stats.live import LiveStats
from stats.openmetrics import CONTENT_TYPE, Health, MetricsServer, escape, render
from tests.stats.scenario import BASE, run_scenario

_SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\[\\n"])*",?)*\})? (\S+)$')  # noqa: E501


def parse(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Samples by (name, sorted labels), read by prometheus_client's OpenMetrics parser."""
    families = parser.text_string_to_metric_families(text)  # type: ignore[no-untyped-call]
    return {(s.name, tuple(sorted(s.labels.items()))): s.value for f in families
            for s in f.samples}


def strict_check(text: str) -> dict[str, str]:
    """Our own reading of OpenMetrics 1.0 text: TYPE before samples, one family block each,
    sample names belong to the declared family, ``# EOF`` last.  Returns family -> type."""
    assert text.endswith("# EOF\n") and text.count("# EOF") == 1
    types: dict[str, str] = {}
    current = ""
    for line in text.splitlines()[:-1]:
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ")
            assert name not in types, f"family {name} declared twice"
            types[name], current = kind, name
        elif line.startswith(("# HELP ", "# UNIT ")):
            assert line.split(" ")[2] == current
        else:
            m = _SAMPLE.match(line)
            assert m, f"not a sample line: {line!r}"
            allowed = {current, f"{current}_total"} if types[current] == "counter" else {current}
            assert m[1] in allowed, line
            float(m[3])
    return types


def _snapshot_text(now: float) -> str:
    live = LiveStats(thresholds=Thresholds(service_level_s={"sales": 20.0}), tz=ZoneInfo("UTC"),
                     queues=("sales", 'we"ird\\q'), agent_queues={"anna": ("sales",)})
    for r in run_scenario():
        if r.ts <= now:
            live.apply(r)
    health = Health(journal_position=live.position, projected_records=live.position,
                    last_batch_at=now, started_at=BASE)
    return render(live.snapshot(now), health)


def test_exposition_parses_and_carries_the_figures() -> None:
    text = _snapshot_text(BASE + 120)
    types = strict_check(text)
    assert types["contactor_stats_projected_records"] == "counter"
    samples = parse(text)
    assert samples[("contactor_queue_waiting_calls", (("queue", "sales"),))] == 1
    assert samples[("contactor_queue_longest_waiting_seconds", (("queue", "sales"),))] == 20
    sl = ("contactor_queue_service_level_ratio", (("queue", "sales"), ("target_seconds", "20")))
    assert samples[sl] == pytest.approx(1 / 3)  # c1 in SL; c4 answered late at 110; c3
    assert samples[("contactor_queue_calls_today",
                    (("outcome", "short_abandoned"), ("queue", "sales")))] == 1
    assert samples[("contactor_agent_state", (("agent", "anna"), ("state", "talking")))] == 1
    assert samples[("contactor_stats_projected_records_total", ())] > 0
    # a label value with a quote and a backslash survives escaping
    assert samples[("contactor_queue_waiting_calls", (("queue", 'we"ird\\q'),))] == 0
    # no answered call in the odd queue: no ASA sample rather than a made-up zero
    assert ("contactor_queue_asa_seconds", (("queue", 'we"ird\\q'),)) not in samples


def test_escape() -> None:
    assert escape('a"b\\c\nd') == 'a\\"b\\\\c\\nd'


def test_served_over_http() -> None:
    text = _snapshot_text(BASE + 60)

    async def scrape() -> tuple[str, str, int]:
        server = MetricsServer(lambda: text)
        url = await server.start("127.0.0.1", 0)
        loop = asyncio.get_running_loop()

        def get(path: str) -> tuple[str, str, int]:
            try:
                with urllib.request.urlopen(url.replace("/metrics", path), timeout=5) as resp:
                    return resp.headers["Content-Type"], resp.read().decode(), resp.status
            except urllib.error.HTTPError as exc:
                return exc.headers["Content-Type"], "", exc.code

        try:
            got = await loop.run_in_executor(None, get, "/metrics")
            missing = await loop.run_in_executor(None, get, "/nope")
            assert missing[2] == 404
            return got
        finally:
            await server.close()

    ctype, body, status = asyncio.run(scrape())
    assert status == 200 and ctype == CONTENT_TYPE
    assert body == text
    strict_check(body)
    assert parse(body)
