"""End to end with SIPp as the provider: a trunk that registers (digest, refresh, calls in
to the registered Contact, un-REGISTER on stop), and a call out through a trunk that
challenges the INVITE.

Each test runs its own telephony service (relay media) on the module's database: the
registrar SIPp must be listening before the service starts, and stopping the service is part
of what test (a) checks. Providers: 127.0.0.3 (registrar), 127.0.0.4 (calls out); the
carrier's callers come from 127.0.0.2.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from tests.telephony.harness import CARRIER_IP, SCENARIOS, Service, Sipp, free_port, sipp

REGISTRAR_IP = "127.0.0.3"
OUTBOUND_IP = "127.0.0.4"
REG_USER, REG_SECRET = "contactor", "reg-s3cret"
OUT_USER, OUT_SECRET = "acct", "out-s3cret"


def config_text(db_url: str, *, sip: int, registrar: int, outbound: int,
                registering: bool) -> str:
    registered = "" if not registering else f"""
[[trunk]]
name = "registered"
host = "{REGISTRAR_IP}"
port = {registrar}
register = true
username = "{REG_USER}"
password = "{REG_SECRET}"
expires = 600
country_code = "33"
"""
    return f"""
[center]
name = "trunk test"
reconcile_every_s = 0

[store]
url = "{db_url}"

[sip]
listen = "127.0.0.1:{sip}"
transports = ["udp"]
domain = "127.0.0.1"
t1 = 0.1

[media]
workers = 1

[[trunk]]
name = "carrier"
host = "{CARRIER_IP}"
allow = ["{CARRIER_IP}"]
country_code = "33"
{registered}
[[trunk]]
name = "outbound"
host = "{OUTBOUND_IP}"
port = {outbound}
username = "{OUT_USER}"
password = "{OUT_SECRET}"
country_code = "33"

[[route]]
match = "_06XXXXXXXX"
target = "external:+33612345678"
trunk = "outbound"

[[route]]
match = "_01XXXXXXXX"
target = "agent:anna"

[[agent]]
login = "anna"
name = "Anna"
password = "anna-secret"
extension = "1001"
"""


class Center:
    def __init__(self, db_url: str, *, registering: bool) -> None:
        self.sip = free_port()
        self.registrar = free_port(REGISTRAR_IP, tcp_too=False)
        self.outbound = free_port(OUTBOUND_IP, tcp_too=False)
        self.db_url = db_url
        self.data_dir = Path(tempfile.mkdtemp(prefix="contactor-trunks-"))
        config = self.data_dir / "contactor.toml"
        config.write_text(config_text(db_url, sip=self.sip, registrar=self.registrar,
                                      outbound=self.outbound, registering=registering),
                          encoding="utf-8")
        self.service = Service(config, self.data_dir, media="relay", keepalive_s=600.0)
        self.running = False

    def start(self) -> None:
        self.service.start()
        self.running = True

    def stop(self) -> None:
        if self.running:
            self.running = False
            self.service.stop()

    def trunk_stats(self, name: str) -> dict[str, object]:
        trunks = self.service.stats.get("trunks") or {}
        assert isinstance(trunks, dict)
        return dict(trunks.get(name) or {})


@pytest.fixture
def center(module_db: str, request: pytest.FixtureRequest) -> Iterator[Center]:
    """A center whose "registered" trunk registers (only for tests named *registers*)."""
    made = Center(module_db, registering="registers" in request.node.name)
    try:
        yield made
    finally:
        made.stop()
        shutil.rmtree(made.data_dir, ignore_errors=True)


@pytest.fixture
def procs() -> Iterator[list[Sipp]]:
    started: list[Sipp] = []
    yield started
    for proc in started:
        proc.kill()


def wait_for(check: object, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if callable(check) and check():
            return
        time.sleep(0.05)
    raise AssertionError(f"not in {timeout} s: {what}")


Row = tuple[str, str, dict[str, object]]


def journal_since(db_url: str, since: float, timeout: float = 5.0) -> list[Row]:
    """(actor, kind, payload) of call events journaled after ``since``, once one ended."""
    deadline = time.monotonic() + timeout
    while True:
        with psycopg.connect(db_url) as conn:
            rows = conn.execute(
                "SELECT actor, kind, payload FROM journal WHERE kind LIKE 'call.%%'"
                " AND ts >= to_timestamp(%s) ORDER BY seq", (since,)).fetchall()
        if any(r[1] == "call.ended" for r in rows) or time.monotonic() > deadline:
            return [(r[0], r[1], r[2]) for r in rows]
        time.sleep(0.1)


def ended(rows: list[Row]) -> dict[str, object]:
    found = [payload for _a, kind, payload in rows if kind == "call.ended"]
    assert len(found) == 1, rows
    return found[0]


def finish(proc: Sipp, timeout: float = 15.0) -> None:
    code = proc.wait(timeout)
    assert code == 0, f"sipp {proc.name} exited {code}:\n{proc.errors()}"


def test_a_trunk_registers_with_digest_refreshes_takes_calls_and_unregisters(
        center: Center, procs: list[Sipp]) -> None:
    registrar = sipp("registrar", "provider_register.xml", local_ip=REGISTRAR_IP,
                     local_port=center.registrar, remote=None,
                     keys={"user": REG_USER, "secret": REG_SECRET})
    procs.append(registrar)
    time.sleep(0.2)  # let it bind before the service registers
    center.start()
    # 401, then 200 for 2 s; the refresh 1.5 s later (its digest checked too) gets 60 s
    wait_for(lambda: (center.trunk_stats("registered").get("expires_in") or 0) > 10, 8.0,
             "registered and refreshed")
    stats = center.trunk_stats("registered")
    assert stats["state"] == "registered" and stats["registered"] is True
    assert stats["last_status"] == 200 and stats["failures"] == 0
    assert stats["aor"] == f"sip:{REG_USER}@{REGISTRAR_IP}"
    # The provider calls the Contact we registered, the number in To: a trunk call, routed
    # by To (anna's phone is not registered: 480, but it was routed, not challenged).
    since = time.time()
    call = sipp("provider-call", "provider_call.xml", local_ip=REGISTRAR_IP,
                local_port=free_port(REGISTRAR_IP, tcp_too=False),
                remote=f"127.0.0.1:{center.sip}", extra=["-s", "0140000000"],
                keys={"user": REG_USER})
    procs.append(call)
    finish(call)
    rows = journal_since(center.db_url, since)
    created = rows[0][2]
    assert created["source"] == "trunk:registered" and created["route"] == "agent:anna"
    assert created["dialled"] == "+33140000000"
    assert ended(rows)["cause"] == "not_registered"
    # Stopping the service removes the binding: the registrar's scenario ends with it.
    center.stop()
    finish(registrar, 10.0)


def _digest_ok(message: str, password: str) -> bool:
    """Recompute the Proxy-Authorization/Authorization digest of a logged INVITE (RFC 2617)."""
    header = re.search(r"^(?:Proxy-)?Authorization: Digest (.*)$", message, re.M)
    assert header is not None, message
    params = dict(re.findall(r'(\w+)="?([^",]*)"?', header[1]))

    def md5(text: str) -> str:
        return hashlib.md5(text.encode()).hexdigest()

    ha1 = md5(f"{params['username']}:{params['realm']}:{password}")
    ha2 = md5(f"INVITE:{params['uri']}")
    expected = md5(f"{ha1}:{params['nonce']}:{params['nc']}:{params['cnonce']}:auth:{ha2}")
    return params["response"] == expected


@pytest.mark.parametrize("status", [401, 407])
def test_a_call_out_through_a_trunk_that_challenges_the_invite_connects(
        center: Center, procs: list[Sipp], status: int) -> None:
    center.start()
    scenario = (SCENARIOS / "provider_invite.xml").read_text(encoding="iso-8859-1")
    if status == 407:  # SIPp wants a literal status, and verifies Authorization only
        scenario = scenario.replace("401 Unauthorized", "407 Proxy Authentication Required")
        scenario = scenario.replace("WWW-Authenticate:", "Proxy-Authenticate:")
        gate = '<nop hide="true" test="auth_ok" next="answer"/>'
        assert gate in scenario
        scenario = scenario.replace(gate, '<nop hide="true" next="answer"/>').replace(
            '<Reference variables="dummy"/>', '<Reference variables="dummy,auth_ok"/>')
    variant = center.data_dir / f"provider_invite_{status}.xml"
    variant.write_text(scenario, encoding="iso-8859-1")
    provider = sipp("provider", str(variant), local_ip=OUTBOUND_IP,
                    local_port=center.outbound, remote=None,
                    keys={"user": OUT_USER, "secret": OUT_SECRET})
    procs.append(provider)
    time.sleep(0.2)
    since = time.time()
    caller = sipp("caller", "caller_bye.xml", local_ip=CARRIER_IP,
                  local_port=free_port(CARRIER_IP, tcp_too=False),
                  remote=f"127.0.0.1:{center.sip}", extra=["-s", "0612345678"])
    procs.append(caller)
    finish(caller)
    finish(provider)
    rows = journal_since(center.db_url, since)
    assert [kind for _a, kind, _p in rows] == ["call.created", "call.ringing",
                                               "call.answered", "call.ended"]
    assert rows[0][2]["route"] == "external:+33612345678"
    assert ended(rows)["cause"] == "caller_hangup"
    # what the provider received: two INVITEs, the second with our digest; the ACK of the
    # 200 repeats it (RFC 3261 §13.2.2.4), the transaction's ACK of the challenge does not
    log = "".join(p.read_text(errors="replace")
                  for p in provider.workdir.glob("*_messages.log"))
    invites, acks = received(log, "INVITE"), received(log, "ACK")
    assert len(invites) == 2 and len(acks) == 2, log[-3000:]
    answer = "Authorization" if status == 401 else "Proxy-Authorization"
    assert "Authorization:" not in invites[0] and f"\n{answer}: Digest" in invites[1]
    assert "CSeq: 2 INVITE" in invites[1]
    assert _digest_ok(invites[1], OUT_SECRET)
    assert "Authorization:" not in acks[0] and f"\n{answer}: Digest" in acks[1]


def received(log: str, method: str) -> list[str]:
    """The ``method`` requests in a SIPp message log, as received."""
    out = []
    for chunk in re.split(r"^-{5,} .*$", log, flags=re.M):
        head, _, message = chunk.strip().partition("\n")
        if head.startswith("UDP message received") and \
                message.lstrip().startswith(f"{method} sip:"):
            out.append(message.strip())
    return out
