"""The wire-level simulation end to end: ``contactor simulate sim/scenarios/wire_100.toml``
against a real center (``contactor up``) with the config that goes with it
(tests/e2e/scenarios/wire_center.toml: 50 agents, an IVR in front of two queues).

100 callers arrive within 3 s, walk the IVR with DTMF, queue and talk to the agents' SIP
phones (RTP both ways) or give up; the test asserts that 100 calls were up at once and that
every call placed is in the center's CDRs (journal and report_call).
"""

from __future__ import annotations

import json
import re
import shutil
import time
from collections.abc import Iterator

import pytest

from tests.e2e.center import REPO, Center, running_center

SCENARIO = REPO / "sim" / "scenarios" / "wire_100.toml"
CENTER = REPO / "tests" / "e2e" / "scenarios" / "wire_center.toml"
IVR = REPO / "tests" / "e2e" / "scenarios" / "ivr" / "wire.yaml"
#: lines of the test center's generated config (free ports) carried into the wire config
CARRIED = ("data_dir", "reconcile_every_s", "base_port", "gateway_port", "listen",
           "rtp_port_min", "metrics_port")  # fmt: skip


def wire_config(generated: str) -> str:
    """The wire center config with the ports ``running_center`` chose for this test."""
    text = CENTER.read_text()
    for key in CARRIED:
        found = re.search(rf"^{key} = .*$", generated, flags=re.M)
        assert found is not None, f"the test center config has no {key}"
        text, n = re.subn(rf"^{key} = .*$", found.group(0), text, count=1, flags=re.M)
        assert n == 1, f"wire_center.toml lost its {key} line"
    rtp_min = int(re.search(r"^rtp_port_min = (\d+)$", text, flags=re.M).group(1))  # type: ignore[union-attr]
    # room for anchored media (two endpoints per call) once IVR calls take that path
    return re.sub(r"^rtp_port_max = .*$", f"rtp_port_max = {rtp_min + 800}", text, flags=re.M)


def prepare(c: Center) -> None:
    c.config.write_text(wire_config(c.config.read_text()))
    shutil.copy(IVR, c.config.parent / "ivr" / "wire.yaml")


@pytest.fixture(scope="module")
def center() -> Iterator[Center]:
    with running_center("contactor-e2e-wire-", prepare) as c:
        yield c


def test_100_concurrent_calls_through_ivr_queues_and_agents_are_all_in_the_cdrs(
        center: Center) -> None:  # fmt: skip
    scenario = center.workdir / "wire_100.toml"
    scenario.write_text(SCENARIO.read_text().replace(
        'sip_target = "127.0.0.1:5060"', f'sip_target = "127.0.0.1:{center.sip_port}"'))
    out = center.workdir / "wire.json"
    started = time.monotonic()
    done = center.cli("simulate", scenario, "--json", out, timeout=150)
    wall = time.monotonic() - started
    print(done.stdout)  # the run's report, for whoever reads the test's output
    assert done.returncode == 0, f"simulate failed ({wall:.0f} s):\n{done.stdout}\n{done.stderr}"
    figures = json.loads(out.read_text())
    calls, accounting = figures["calls"], figures["accounting"]
    assert calls["placed"] == 100
    assert calls["peak_concurrent"] == 100, calls  # all of them up at once
    assert calls["answered"] + calls["abandoned"] + calls["failed"] + calls["cut"] == 100
    assert calls["failed"] == 0 and calls["cut"] == 0, figures["errors"]
    assert calls["answered"] >= 50 and calls["abandoned"] >= 1, calls
    # every call went through the IVR by DTMF, and talked with RTP both ways
    assert calls["dtmf_info"] + calls["dtmf_rfc4733"] == 100
    assert calls["talking_with_media"] == calls["answered"]
    assert calls["invite_answer_p99_ms"] is not None
    assert accounting["placed"] == accounting["in_journal"] == accounting["in_reports"] == 100
    assert accounting["missing"] == []
    assert figures["error_count"] == 0
    # the KPI table comes from the center's journal, with the message level's definitions
    center_kpis = figures["kpis"]["center"]
    assert center_kpis["offered"] == 100, center_kpis
    assert center_kpis["answered"] == calls["answered"]
    assert {p["name"] for p in figures["center"]} >= {"telephony", "actors-1", "postgres"}
    assert "every call placed is accounted for" in done.stdout
    # and `contactor report calls` (the stats projector's table) shows them
    csv_path = center.workdir / "calls.csv"
    report = center.cli("report", "calls", "--from", "today", "--csv", csv_path)
    assert report.returncode == 0, report.stderr
    listed = csv_path.read_text()
    assert all(call_id in listed for call_id in accounting["cdrs"].values())
    assert len(accounting["cdrs"]) == 100


SMALL = """
name = "wire: {name}"
level = "wire"
duration_s = 1
seed = 5
drain_max_s = 30

[wire]
sip_target = "127.0.0.1:{port}"
number = "{number}"
dtmf = "{dtmf}"
dtmf_delay_s = 0.5

[arrivals]
bursts = [{{ at_s = 0, calls = {calls}, over_s = 1 }}]

[[queues]]
name = "sales"
skills = {{ sales = 1 }}

[[routes]]
name = "sales"
probability = 1
queue = "sales"
digits = "{digits}"
patience = {patience}

[[agents]]
group = "desk"
count = {agents}
skills = {{ sales = 5 }}
answer_delay = 0.2
talk = 2
wrap_up = 0.5
"""


def run_small(center: Center, **values: object) -> dict[str, object]:
    scenario = center.workdir / f"{values['name']}.toml"
    scenario.write_text(SMALL.format(port=center.sip_port, **values))
    out = center.workdir / f"{values['name']}.json"
    done = center.cli("simulate", scenario, "--json", out, "--quiet", timeout=90)
    print(done.stdout)
    assert done.returncode == 0, f"simulate failed:\n{done.stdout}\n{done.stderr}"
    figures: dict[str, object] = json.loads(out.read_text())
    return figures


def test_sip_info_digits_reach_the_ivr_when_forced(center: Center) -> None:
    figures = run_small(center, name="info", number="5000", dtmf="info", calls=10, digits="1",
                        patience=60, agents=10)
    calls = figures["calls"]
    assert isinstance(calls, dict)
    assert calls["answered"] == 10 and calls["dtmf_info"] == 10, calls
    assert figures["accounting"]["missing"] == []  # type: ignore[index]


def test_callers_out_of_patience_hang_up_and_are_in_the_cdrs(center: Center) -> None:
    # route 5001 queues without an IVR (no digits: patience counts from the INVITE); 2 agents
    # for 8 callers who wait at most 1.5 s: most give up - CANCEL while the center has not
    # answered (relay media: ringback until an agent answers), BYE once it has (anchored)
    figures = run_small(center, name="cancel", number="5001", dtmf="auto", calls=8, digits="",
                        patience=1.5, agents=2)
    calls = figures["calls"]
    assert isinstance(calls, dict)
    assert calls["abandoned"] >= 4 and calls["answered"] >= 1, calls
    assert calls["answered"] + calls["abandoned"] == 8, calls
    accounting = figures["accounting"]
    assert isinstance(accounting, dict)
    assert accounting["in_journal"] == accounting["in_reports"] == 8
    assert accounting["missing"] == []
