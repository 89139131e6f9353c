"""Anchored media end to end: a SIPp carrier caller sending RTP calls a queue of a running
center started with ``[media] mode = "anchored"``; a registered SIPp agent phone (sending RTP
too) answers and hangs up after ``TALK_S``. The media pool answered the caller, bridged the
two legs and recorded the call: ``contactor recordings --json`` lists a stereo recording of
the talk time, converted to FLAC, with audio on both channels."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from tests.e2e.center import Center, running_center
from tests.e2e.test_center_queues import agent, journal, wait_for
from tests.e2e.test_center_queues import prepare as queues_prepare
from tests.telephony.harness import CARRIER_IP, PHONE_IP, Sipp, free_port, sipp

SCENARIOS = Path(__file__).resolve().parent / "scenarios"
TALK_S = 3.0


def prepare(c: Center) -> None:
    queues_prepare(c, media="anchored")


@pytest.fixture(scope="module")
def center() -> Iterator[Center]:
    with running_center("contactor-e2e-rec-", prepare) as c:
        yield c


def rtp_peer(name: str, scenario: str, *, ip: str, port: int, remote: str | None,
             procs: list[Sipp], extra: list[str], keys: dict[str, str]) -> Sipp:
    """A SIPp peer whose RTP (a pcap it plays) comes from a port of its own."""
    proc = sipp(name, str(SCENARIOS / scenario), local_ip=ip, local_port=port, remote=remote,
                extra=["-mi", ip, "-mp", str(free_port(ip, tcp_too=False)), *extra], keys=keys)
    procs.append(proc)
    return proc


def registered_phone(center: Center, procs: list[Sipp], name: str, ext: str, password: str,
                     talk_ms: int) -> Sipp:
    """A SIPp phone sending RTP, registered with digest as ``ext``: it answers an offer from
    the media pool, talks ``talk_ms`` and hangs up."""
    port = free_port(PHONE_IP, tcp_too=False)
    phone = rtp_peer(f"phone-{name}", "phone_rtp.xml", ip=PHONE_IP, port=port, remote=None,
                     procs=procs, extra=["-d", str(talk_ms)], keys={"user": ext})
    reg = sipp(f"register-{name}", "register.xml", local_ip=PHONE_IP,
               local_port=free_port(PHONE_IP, tcp_too=False),
               remote=f"127.0.0.1:{center.sip_port}", extra=["-au", ext, "-ap", password],
               keys={"user": ext, "contact_port": str(port)})
    assert reg.wait(15) == 0, reg.errors()
    return phone


def channels(path: Path) -> np.ndarray:
    """The recording's samples, shape (frames, channels), decoded with sox."""
    raw = subprocess.run(["sox", str(path), "-t", "raw", "-e", "signed", "-b", "16", "-"],
                         capture_output=True, check=True, timeout=30).stdout
    info = subprocess.run(["soxi", "-c", str(path)], capture_output=True, text=True,
                          check=True, timeout=30)
    count = int(info.stdout.strip())
    return np.frombuffer(raw, dtype="<i2").reshape(-1, count)


def test_an_anchored_queue_call_is_bridged_and_recorded_in_stereo(
        center: Center, procs: list[Sipp]) -> None:
    since = time.time()
    ext, password, login = "1001", "anna-1001", "anna"
    registered_phone(center, procs, login, ext, password, int(TALK_S * 1000))
    agent(center, "login", login, "--phone", f"sip:{ext}@127.0.0.1")
    agent(center, "ready", login)
    rtp_peer("caller-rtp", "caller_rtp.xml", ip=CARRIER_IP,
             port=free_port(CARRIER_IP, tcp_too=False), remote=f"127.0.0.1:{center.sip_port}",
             procs=procs, extra=["-s", "2000"], keys={})
    for proc in procs:
        assert proc.wait(30) == 0, f"sipp {proc.name}:\n{proc.errors()}"
    [answered] = journal(center, since, "call.answered")
    call_id = answered["call_id"]
    assert (answered["agent"], answered["queue"]) == (login, "sales")
    [recorded] = wait_for(lambda: journal(center, since, "call.recorded"), "call.recorded",
                          timeout=20)
    assert recorded["call_id"] == call_id

    def listed() -> list[dict[str, object]]:
        out = center.cli("recordings", "--call", call_id, "--json")
        assert out.returncode == 0, out.stderr
        return [r for r in json.loads(out.stdout) if r.get("complete")]

    [row] = wait_for(listed, "the recording listed", timeout=20)
    assert row["format"] == "flac" and str(row["path"]).endswith(".flac")
    assert row["agent"] == login and row["queue"] == "sales"
    assert abs(float(row["duration_s"]) - TALK_S) <= 0.5, row
    samples = channels(Path(str(row["path"])))
    assert samples.shape[1] == 2
    assert abs(samples.shape[0] / 8000 - TALK_S) <= 0.5, samples.shape
    rms = np.sqrt(np.mean(samples.astype(np.float64) ** 2, axis=0))
    assert rms[0] > 100 and rms[1] > 100, f"a silent channel: rms {rms}"
    # each leg's quality, measured by the pool, journaled and kept in the CDR
    quality = wait_for(lambda: [q for q in journal(center, since, "call.media_quality")
                                if q["call_id"] == call_id] or None, "media quality", timeout=20)
    by_leg = {q["leg"]: q for q in quality}
    assert len(by_leg) == 2 and {q["agent"] for q in quality} == {"", login}, quality
    for q in quality:
        assert q["packets_received"] > 50 and q["loss_pct"] < 1.0, q  # pcaps of 2 s and more
        assert 4.0 < q["mos"] <= 4.5, q  # a clean loopback call: G.711's best
    out = center.cli("report", "calls", "--mos-below", "4.6")
    assert out.returncode == 0 and call_id in out.stdout, out.stdout + out.stderr
    agent(center, "pause", login, "--reason", "test")
