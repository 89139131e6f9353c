"""A help request end to end (the HRM): an agent talking to a caller through the media pool asks
for help over the gateway, the supervisor accepts in whisper mode, the center rings the
supervisor's own registered phone (a SIPp phone sending RTP) and mixes it into the call; when
the supervisor hangs up only that leg ends, and the call goes on until the agent hangs up."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from actors.agent.messages import AcceptHelp, RequestHelp
from bus.catalogue import default_codec
from bus.client import GatewayClient
from tests.e2e.center import Center, running_center
from tests.e2e.test_center_queues import agent, journal, wait_for
from tests.e2e.test_center_queues import prepare as queues_prepare
from tests.e2e.test_center_recording import registered_phone, rtp_peer
from tests.telephony.harness import CARRIER_IP, Sipp, free_port

AGENT_TALK_MS = 9000
SUPERVISOR_TALK_MS = 2000


@pytest.fixture(scope="module")
def center() -> Iterator[Center]:
    with running_center("contactor-e2e-help-",
                        lambda c: queues_prepare(c, media="anchored")) as c:
        yield c


def test_a_supervisor_whispers_from_her_own_phone_and_leaves_while_the_call_goes_on(
        center: Center, procs: list[Sipp]) -> None:
    since = time.time()
    anna = registered_phone(center, procs, "anna", "1001", "anna-1001", AGENT_TALK_MS)
    sophie = registered_phone(center, procs, "sophie", "1901", "supervise-me",
                              SUPERVISOR_TALK_MS)
    agent(center, "login", "anna", "--phone", "sip:1001@127.0.0.1")
    agent(center, "ready", "anna")
    caller = rtp_peer("caller-rtp", "caller_rtp.xml", ip=CARRIER_IP,
                      port=free_port(CARRIER_IP, tcp_too=False),
                      remote=f"127.0.0.1:{center.sip_port}", procs=procs, extra=["-s", "2000"],
                      keys={})
    [answered] = wait_for(lambda: journal(center, since, "call.answered"), "the answer")
    call_id = answered["call_id"]
    router, pub = center.gateway
    with GatewayClient(router, pub, default_codec()) as operator, \
            GatewayClient(router, pub, default_codec()) as supervisor:
        operator.login("anna", "anna-1001")
        operator.request("agent/anna", RequestHelp(note="angry customer"))
        supervisor.login("sophie", "supervise-me")
        supervisor.request("agent/anna", AcceptHelp(supervisor="sophie", mode="whisper"))
    joined = wait_for(lambda: [e for e in journal(center, since, "call.supervised")
                               if e["mode"] == "whisper"], "sophie mixed in")
    assert joined[0]["call_id"] == call_id and joined[0]["supervisor"] == "sophie"
    assert sophie.wait(20) == 0, sophie.errors()  # she hung up after 2 s...
    time.sleep(0.5)
    assert not journal(center, since, "call.ended")  # ...and the call went on
    for proc in (anna, caller):
        assert proc.wait(30) == 0, f"sipp {proc.name}:\n{proc.errors()}"
    [ended] = wait_for(lambda: journal(center, since, "call.ended"), "the end")
    assert ended["call_id"] == call_id and ended["cause"] == "callee_hangup"
    assert float(ended["talk_s"]) > (AGENT_TALK_MS - 1000) / 1000
    agent(center, "pause", "anna", "--reason", "test")
