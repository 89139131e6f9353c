"""IVR calls end to end with anchored media (the default): a SIPp carrier caller sends RFC 4733
digits (the DTMF pcaps SIPp ships, played as RTP) to a scheme of a running center; the media
pool answers the caller, plays the spoken prompts and reports the digits; a wrong key plays the
invalid prompt and the menu again; the right key queues the call and a registered SIPp agent
phone answers, bridged and recorded; no input at all times out to the goodbye. Each call's
debug log (``contactor ivr log CALL_ID``) shows what the caller went through."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.center import Center, running_center
from tests.e2e.test_center_queues import agent, journal, wait_for
from tests.e2e.test_center_queues import prepare as queues_prepare
from tests.e2e.test_center_recording import registered_phone, rtp_peer
from tests.telephony.harness import CARRIER_IP, Sipp, free_port

TALK_S = 2.0
FRONT = """
name: front
start: welcome
nodes:
  welcome:
    type: play
    prompt: "tts:Hello."
    next: menu
  menu:
    type: menu
    prompt: "tts:Press 1 for sales."
    barge_in: true
    choices:
      1: to_sales
    timeout_s: 3
    retries: 1
    invalid_prompt: "tts:Wrong key."
    no_input_prompt: "tts:Nothing heard."
    failure: bye
  to_sales:
    type: queue
    queue: sales
  bye:
    type: hangup
    prompt: "tts:Goodbye."
"""

HEAD = """<?xml version="1.0" encoding="ISO-8859-1" ?>
<!DOCTYPE scenario SYSTEM "sipp.dtd">
<scenario name="caller walks an IVR with RFC 4733 digits">
  <send retrans="500">
    <![CDATA[

      INVITE sip:[service]@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: <sip:0140000009@[local_ip]:[local_port]>;tag=[pid]ivr[call_number]
      To: <sip:[service]@[remote_ip]:[remote_port]>
      Call-ID: [call_id]
      CSeq: 1 INVITE
      Contact: <sip:caller@[local_ip]:[local_port]>
      Max-Forwards: 70
      Content-Type: application/sdp
      Content-Length: [len]

      v=0
      o=caller 1 1 IN IP4 [media_ip]
      s=contactor-test-caller
      c=IN IP4 [media_ip]
      t=0 0
      m=audio [media_port] RTP/AVP 0 101
      a=rtpmap:0 PCMU/8000
      a=rtpmap:101 telephone-event/8000
      a=fmtp:101 0-16

    ]]>
  </send>
  <recv response="100" optional="true"/>
  <recv response="180" optional="true"/>
  <recv response="200">
    <action>
      <ereg regexp="o=contactor" search_in="body" check_it="true" assign_to="dummy"/>
    </action>
  </recv>
  <send>
    <![CDATA[

      ACK sip:[service]@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: <sip:0140000009@[local_ip]:[local_port]>;tag=[pid]ivr[call_number]
      [last_To:]
      Call-ID: [call_id]
      CSeq: 1 ACK
      Contact: <sip:caller@[local_ip]:[local_port]>
      Max-Forwards: 70
      Content-Length: 0

    ]]>
  </send>
"""
DIGIT = """  <pause milliseconds="{pause_ms}"/>
  <nop><action><exec play_pcap_audio="/usr/share/sip-tester/dtmf_2833_{digit}.pcap"/></action></nop>
"""
TAIL = """  <recv request="BYE"/>
  <send>
    <![CDATA[

      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:]
      [last_Call-ID:]
      [last_CSeq:]
      Content-Length: 0

    ]]>
  </send>
  <Reference variables="dummy"/>
</scenario>
"""


def caller_scenario(tmp: Path, keys: list[tuple[int, str]]) -> Path:
    """A caller pressing ``keys`` (pause before each in ms, digit) and waiting for our BYE."""
    path = tmp / f"caller_ivr_{'_'.join(d for _, d in keys) or 'silent'}.xml"
    body = "".join(DIGIT.format(pause_ms=p, digit=d) for p, d in keys)
    path.write_text(HEAD + body + TAIL)
    return path


def prepare(c: Center) -> None:
    queues_prepare(c, media="anchored")
    (c.config.parent / "ivr" / "front.yaml").write_text(FRONT)


@pytest.fixture(scope="module")
def center() -> Iterator[Center]:
    with running_center("contactor-e2e-ivr-", prepare) as c:
        yield c


def debug_log(center: Center, call_id: str) -> list[str]:
    """The call's debug log as a technologist reads it: ``contactor ivr log CALL_ID``."""
    out = center.cli("ivr", "log", call_id)
    return str(out.stdout).splitlines() if out.returncode == 0 else []


def kinds(lines: list[str]) -> list[str]:
    return [line.split()[2] for line in lines]


def test_rfc4733_digits_walk_the_menu_past_a_wrong_key_to_an_agent(
        center: Center, procs: list[Sipp], tmp_path: Path) -> None:
    since = time.time()
    ext, password, login = "1001", "anna-1001", "anna"
    registered_phone(center, procs, login, ext, password, int(TALK_S * 1000))
    agent(center, "login", login, "--phone", f"sip:{ext}@127.0.0.1")
    agent(center, "ready", login)
    # "Hello." then the menu (barge-in): 5 is wrong -> "Wrong key." and the menu again -> 1
    scenario = caller_scenario(tmp_path, [(2500, "5"), (2000, "1")])
    rtp_peer("caller-ivr", str(scenario), ip=CARRIER_IP,
             port=free_port(CARRIER_IP, tcp_too=False), remote=f"127.0.0.1:{center.sip_port}",
             procs=procs, extra=["-s", "2003"], keys={})
    for proc in procs:
        assert proc.wait(40) == 0, f"sipp {proc.name}:\n{proc.errors()}"
    [queued] = journal(center, since, "call.queued")
    call_id = queued["call_id"]
    assert queued["queue"] == "sales"
    [answered] = journal(center, since, "call.answered")
    assert (answered["call_id"], answered["agent"]) == (call_id, login)
    [recorded] = wait_for(lambda: journal(center, since, "call.recorded"), "call.recorded",
                          timeout=20)
    assert recorded["call_id"] == call_id and float(recorded["seconds"]) > 1.0
    lines = wait_for(lambda: debug_log(center, call_id), "the debug log")
    text = "\n".join(lines)
    assert "digit   menu: 5" in text and "digit   menu: 1" in text, text
    assert "Wrong key." in text, text  # the invalid prompt was played before the retry
    assert kinds(lines)[-1] == "exit" and "queue" in lines[-1], text
    agent(center, "pause", login, "--reason", "test")


def test_a_silent_caller_times_out_to_the_goodbye(center: Center, procs: list[Sipp],
                                                  tmp_path: Path) -> None:
    since = time.time()
    scenario = caller_scenario(tmp_path, [])
    rtp_peer("caller-silent", str(scenario), ip=CARRIER_IP,
             port=free_port(CARRIER_IP, tcp_too=False), remote=f"127.0.0.1:{center.sip_port}",
             procs=procs, extra=["-s", "2003"], keys={})
    # welcome, menu, 3 s, "Nothing heard.", menu, 3 s, failure -> "Goodbye." -> BYE
    assert procs[0].wait(40) == 0, procs[0].errors()
    [ended] = wait_for(lambda: journal(center, since, "call.ended"), "the end")
    assert ended["cause"] == "ivr_hangup"
    assert not journal(center, since, "call.queued")
    lines = wait_for(lambda: debug_log(center, ended["call_id"]), "the debug log")
    text = "\n".join(lines)
    assert text.count("Nothing heard.") == 1 and "Goodbye." in text, text
    assert kinds(lines).count("retry") == 2 and "no key in 3s" in text, text
