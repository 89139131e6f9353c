"""Dead legs end calls: a center with ``[media] media_timeout_s = 2``; a SIPp carrier caller
and a registered SIPp agent phone each send their pcap of RTP, then go silent without hanging
up (a pulled cable, a crashed softphone). The media pool notices the silence, the call actor
hangs both legs up (both SIPp peers get a BYE and finish cleanly) and the call ends with cause
``media_timeout``; the agent is freed for the next call."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator

import pytest

from tests.e2e.center import Center, running_center
from tests.e2e.test_center_queues import agent, journal, wait_for
from tests.e2e.test_center_queues import prepare as queues_prepare
from tests.e2e.test_center_recording import rtp_peer
from tests.telephony.harness import CARRIER_IP, PHONE_IP, Sipp, free_port, sipp

TIMEOUT_S = 2.0


def prepare(c: Center) -> None:
    queues_prepare(c, media="anchored")
    # the demo config turns the check off (its SIPp peers are silent): turn it on, short
    text = re.sub(r"(?m)^media_timeout_s = .*\n", "", c.config.read_text())
    c.config.write_text(text.replace("[media]\n", f"[media]\nmedia_timeout_s = {TIMEOUT_S}\n",
                                     1))


@pytest.fixture(scope="module")
def center() -> Iterator[Center]:
    with running_center("contactor-e2e-deadleg-", prepare) as c:
        yield c


def test_a_call_whose_legs_went_silent_is_hung_up_with_media_timeout(
        center: Center, procs: list[Sipp]) -> None:
    since = time.time()
    ext, password, login = "1001", "anna-1001", "anna"
    port = free_port(PHONE_IP, tcp_too=False)
    rtp_peer("phone-anna", "phone_rtp_wait_bye.xml", ip=PHONE_IP, port=port, remote=None,
             procs=procs, extra=[], keys={"user": ext})
    reg = sipp("register-anna", "register.xml", local_ip=PHONE_IP,
               local_port=free_port(PHONE_IP, tcp_too=False),
               remote=f"127.0.0.1:{center.sip_port}", extra=["-au", ext, "-ap", password],
               keys={"user": ext, "contact_port": str(port)})
    assert reg.wait(15) == 0, reg.errors()
    agent(center, "login", login, "--phone", f"sip:{ext}@127.0.0.1")
    agent(center, "ready", login)
    rtp_peer("caller-rtp", "caller_rtp.xml", ip=CARRIER_IP,
             port=free_port(CARRIER_IP, tcp_too=False), remote=f"127.0.0.1:{center.sip_port}",
             procs=procs, extra=["-s", "2000"], keys={})
    for proc in procs:  # both peers got the center's BYE and answered it
        assert proc.wait(60) == 0, f"sipp {proc.name}:\n{proc.errors()}"
    [answered] = journal(center, since, "call.answered")
    [ended] = wait_for(lambda: journal(center, since, "call.ended"), "call.ended")
    assert ended["call_id"] == answered["call_id"]
    assert ended["cause"] == "media_timeout", ended
    # the pcaps last a few seconds: the call did not wait for anyone to notice
    assert ended["talk_s"] < 20, ended
    wait_for(lambda: "wrap_up" in agent(center, "show", login)
             or "ready" in agent(center, "show", login), "anna freed")
