"""A queued callback end to end: a SIPp caller waiting in a queue nobody serves presses * (an RFC
4733 event), hears the goodbye and is hung up; when an agent becomes ready the center rings the
agent's registered phone, then dials the caller back through the trunk (a SIPp "customer" at
the carrier's address), bridges and records them. One call id from start to end: answered by
that agent, after its whole wait, with a recording."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.center import Center, running_center
from tests.e2e.test_center_ivr import caller_scenario
from tests.e2e.test_center_queues import agent, journal, wait_for
from tests.e2e.test_center_queues import prepare as queues_prepare
from tests.e2e.test_center_recording import registered_phone, rtp_peer
from tests.telephony.harness import CARRIER_IP, Sipp, free_port

TALK_MS = 2000


@pytest.fixture(scope="module")
def center() -> Iterator[Center]:
    with running_center("contactor-e2e-cb-",
                        lambda c: queues_prepare(c, media="anchored")) as c:
        yield c


def test_a_caller_presses_star_hangs_up_and_is_called_back_when_an_agent_is_ready(
        center: Center, procs: list[Sipp], tmp_path: Path) -> None:
    since = time.time()
    # the customer's phone, reached through the trunk (the carrier's address and port): it
    # answers and waits for the end, which the agent's hang-up brings
    customer = rtp_peer("customer", "phone_rtp_wait_bye.xml", ip=CARRIER_IP, port=5080,
                        remote=None, procs=procs, extra=[], keys={"user": "customer"})
    anna = registered_phone(center, procs, "anna", "1001", "anna-1001", TALK_MS)
    agent(center, "login", "anna", "--phone", "sip:1001@127.0.0.1")  # not ready yet
    caller = rtp_peer("caller-star", str(caller_scenario(tmp_path, [(2000, "star")])),
                      ip=CARRIER_IP, port=free_port(CARRIER_IP, tcp_too=False),
                      remote=f"127.0.0.1:{center.sip_port}", procs=procs, extra=["-s", "2000"],
                      keys={})
    assert caller.wait(30) == 0, caller.errors()  # * then the goodbye, then our BYE
    [requested] = wait_for(lambda: journal(center, since, "call.callback_requested"),
                           "the callback request")
    call_id = requested["call_id"]
    assert requested["queue"] == "sales" and requested["number"].endswith("140000009")
    assert not journal(center, since, "call.ended")  # the place is kept
    agent(center, "ready", "anna")
    for proc in (anna, customer):
        assert proc.wait(40) == 0, f"sipp {proc.name}:\n{proc.errors()}"
    [answered] = wait_for(lambda: journal(center, since, "call.answered"), "the answer")
    assert (answered["call_id"], answered["agent"], answered["queue"]) == \
        (call_id, "anna", "sales")
    assert float(answered["waited_s"]) > 2.0
    [ended] = wait_for(lambda: journal(center, since, "call.ended"), "the end")
    assert ended["call_id"] == call_id and float(ended["talk_s"]) > 1.0
    [recorded] = wait_for(lambda: journal(center, since, "call.recorded"), "the recording",
                          timeout=20)
    assert recorded["call_id"] == call_id
    agent(center, "pause", "anna", "--reason", "test")
