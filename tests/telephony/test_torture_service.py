"""Every RFC 4475/5118 torture message, sent over UDP to the running telephony service.

Each file goes from its own socket (responses follow the request's path: the service answers
UDP requests at their source, RFC 3581), all at once; then every socket's answers are read.
A few files reuse another's branch and sent-by: to a server they *are* retransmissions of
it, so they go in later waves, once the first transaction is over (T1 is 20 ms here).
What each file must get is derived from MANIFEST.tsv's ``expected`` column; afterwards the
service must still answer OPTIONS and must not have crashed.
"""

from __future__ import annotations

import csv
import re
import select
import shutil
import socket
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from sip.errors import SipParseError
from sip.message import Request
from sip.parser import parse_datagram
from sip.transaction_layer import server_key
from tests.shared_data import TORTURE
from tests.telephony.conftest import Running, start_service
from tests.telephony.harness import CARRIER_IP, options, receive_all, status_of, udp_client

MANIFEST = {
    row["file"]: row["expected"]
    for row in csv.DictReader((TORTURE / "MANIFEST.tsv").open(encoding="utf-8"), delimiter="\t")
}
# RFC 5118 is not in the manifest; its §4 says which are valid. Of the two invalid ones,
# ipv6-bad has a malformed IPv6 reference and ipv6-in-sdp's archived Content-Length exceeds
# its body once LF becomes CRLF (see tests/sip/test_torture.py): both must get 400.
RFC5118_INVALID = {"ipv6-bad", "ipv6-in-sdp"}
PARSE_FAILURES = {400, 505, 513}
T1 = 0.02


@pytest.fixture(scope="module")
def running(module_db: str) -> Iterator[Running]:
    data_dir = Path(tempfile.mkdtemp(prefix="contactor-torture-"))
    started = start_service(module_db, data_dir, t1=T1, media="relay", keepalive_s=600.0)
    try:
        yield started
    finally:
        started.service.stop()
        shutil.rmtree(data_dir, ignore_errors=True)


def _files() -> list[tuple[str, bytes]]:
    files = [(p.stem, p.read_bytes()) for p in sorted((TORTURE / "rfc4475").glob("*.dat"))]
    files += [(f"rfc5118/{p.name}", p.read_bytes().replace(b"\n", b"\r\n"))
              for p in sorted((TORTURE / "rfc5118").iterdir())]
    return files


def _waves(files: list[tuple[str, bytes]]) -> list[list[int]]:
    """File indexes in waves where no two share a server transaction key."""
    seen: dict[str, int] = {}
    waves: list[list[int]] = []
    for i, (_name, data) in enumerate(files):
        try:
            message = parse_datagram(data)
            key = server_key(message) if isinstance(message, Request) else f"response {i}"
        except SipParseError:
            key = f"unparsable {i}"
        wave = seen.get(key, -1) + 1
        seen[key] = wave
        while len(waves) <= wave:
            waves.append([])
        waves[wave].append(i)
    return waves


def _send_wave(files: list[tuple[str, bytes]], wave: list[int], port: int
               ) -> dict[int, list[bytes]]:
    sockets: dict[int, socket.socket] = {}
    try:
        for i in wave:
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            sock.bind((CARRIER_IP, 0))
            sockets[i] = sock
            sock.sendto(files[i][1], ("127.0.0.1", port))
        answers: dict[int, list[bytes]] = {i: [] for i in wave}
        by_socket = {s: i for i, s in sockets.items()}
        deadline = time.monotonic() + 0.8
        while (left := deadline - time.monotonic()) > 0:
            ready, _, _ = select.select(list(by_socket), [], [], left)
            for sock in ready:
                answers[by_socket[sock]].append(sock.recv(65535))
    finally:
        for sock in sockets.values():
            sock.close()
    return answers


def _finals(answers: list[bytes]) -> set[int]:
    return {status_of(a) for a in answers if status_of(a) >= 200}


def _check(name: str, data: bytes, answers: list[bytes]) -> None:
    finals = _finals(answers)
    if name.startswith("rfc5118/"):
        expected = {400} if name.split("/")[1] in RFC5118_INVALID else None
        if expected is not None:
            assert finals == expected, f"{name}: got {finals}"
        else:
            assert finals and not finals & PARSE_FAILURES, f"{name}: got {finals}"
        return
    rule = MANIFEST[name]
    codes = {int(c) for c in re.findall(r"\b([1-6]\d\d)\b", rule.split("reject", 1)[-1])}
    if rule == "none" or "discard the response" in rule or "broadcast" in rule:
        assert not answers, f"{name}: expected silence ({rule!r}), got {finals}"
    elif "reject" in rule and "or discard" in rule:
        assert finals <= codes, f"{name}: got {finals}, manifest says {rule!r}"
    elif "reject" in rule:
        assert finals and finals <= codes, f"{name}: got {finals}, manifest says {rule!r}"
    elif "challenge (401)" in rule:
        assert finals == {401}, f"{name}: got {finals}"
        assert any(b"WWW-Authenticate: Digest" in a for a in answers)
    elif "proxy answers 483" in rule:
        assert finals == {200}, f"{name}: a UAS answers OPTIONS with Max-Forwards 0: {finals}"
    elif "answer per local policy" in rule:
        assert finals == {416}, f"{name}: got {finals}"
    elif data.startswith(b"SIP/2.0 "):
        assert "valid" in rule, rule
        assert not answers, f"{name}: a response matching no transaction is dropped silently"
    else:
        assert "parse" in rule or "valid" in rule, rule
        assert finals and not finals & PARSE_FAILURES, f"{name}: got {finals} ({rule!r})"


def test_every_torture_file_is_handled_as_the_manifest_says(running: Running) -> None:
    target = ("127.0.0.1", running.ports.sip)
    files = _files()
    answers: dict[int, list[bytes]] = {}
    for n, wave in enumerate(_waves(files)):
        if n:
            time.sleep(64 * T1)  # the previous wave's transactions are over (Timer J/H)
        answers.update(_send_wave(files, wave, running.ports.sip))
    problems = []
    for i, (name, data) in enumerate(files):
        try:
            _check(name, data, answers[i])
        except AssertionError as exc:
            problems.append(str(exc))
    assert not problems, "\n".join(problems)
    # Specific answers the RFCs name, beyond the status.
    by_name = {name: answers[i] for i, (name, _) in enumerate(files)}
    assert any(b"Unsupported: nothingSupportsThis" in a for a in by_name["bext01"])
    assert any(b"Accept: " in a for a in by_name["invut"])
    # The service is alive and well afterwards.
    with udp_client() as sock:
        sock.sendto(options(running.ports.sip, branch="z9hG4bKafter"), target)
        assert [status_of(a) for a in receive_all(sock, 0.5)] == [200]
    assert running.service.runner.error is None and not running.service.runner.is_done
