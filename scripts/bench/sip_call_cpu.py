"""CPU per call of the telephony process, in-process, without sockets or database.

    python scripts/bench/sip_call_cpu.py [--calls 2000] [--batch 50] [--profile OUT.pstats]
                                         [--micro] [--db]

What ``sip_cps.py`` drives through SIPp, played here by two scripted peers on one event loop:
the carrier's caller (INVITE with SDP, ACK, BYE) and the far end the ``external:`` route dials
(180, 200 with SDP, 200 to BYE). Between them run the real ``SipStack``, ``Softswitch``,
actor ``Host`` and ``CallBehaviour`` (relay media), each call journaled through
``StoreJournal`` and snapshotted through ``StoreSnapshots`` - whose writer here only builds
the rows (``store.journal`` payload encoding, snapshot bytes) instead of sending them to
PostgreSQL, and whose publisher only encodes the ``calls`` events. The peers are
deliberately cheap (byte templates), and their own time is measured and subtracted.
``--db`` writes them for real instead: the ``JournalWriter`` of the service, into a
throw-away embedded PostgreSQL (fsync off; the server's own CPU is not counted, the
client's is: this shows what the writer costs the telephony process per call).

Calls are placed ``--batch`` at a time, each batch run to completion (13 SIP messages per call)
before the next, on uvloop like the service; the loop clock is real, so transaction timers
linger and expire as they do at ~100 calls per second. ``--micro`` adds per-message figures
(parse, serialise, response building) for the messages of one call. ``--profile`` writes a
cProfile of the calls.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

import structlog  # noqa: E402

from actors.call.behaviour import CallBehaviour  # noqa: E402
from actors.call.legs import LocalSip  # noqa: E402
from actors.call.turn import CallSettings  # noqa: E402
from actors.host import Host  # noqa: E402
from actors.persistence import StoreJournal, StoreSnapshots  # noqa: E402
from actors.placement import Placement  # noqa: E402
from bus.catalogue import default_codec  # noqa: E402
from bus.codec import Codec  # noqa: E402
from bus.message import Message  # noqa: E402
from conf.load import parse_config  # noqa: E402
from sip.builders import make_response  # noqa: E402
from sip.digest import DigestServer  # noqa: E402
from sip.message import Request  # noqa: E402
from sip.parser import parse_datagram  # noqa: E402
from sip.serializer import serialize  # noqa: E402
from sip.transaction import Target  # noqa: E402
from store.embedded import start_embedded, stop_embedded  # noqa: E402
from store.journal import JournalEvent, encode_payload, validate_event  # noqa: E402
from store.journal_writer import JournalWriter  # noqa: E402
from store.migrations import apply_migrations  # noqa: E402
from telephony.ids import new_call_id  # noqa: E402
from telephony.messages import SIP_PORT  # noqa: E402
from telephony.port import Softswitch  # noqa: E402
from telephony.registrar import Registrar  # noqa: E402
from telephony.service import CallSnapshots, restore_gc, tune_gc  # noqa: E402
from telephony.stack import SipStack  # noqa: E402

CARRIER = "127.0.0.2"
UAC_PORT = 5070
UAS_PORT = 5080
CONFIG = f"""
[center]
name = "sip cpu bench"
[sip]
listen = "127.0.0.1:5060"
transports = ["udp"]
domain = "127.0.0.1"
[[trunk]]
name = "carrier"
host = "{CARRIER}"
port = {UAS_PORT}
allow = ["{CARRIER}"]
country_code = "33"
[[route]]
match = "_06XXXXXXXX"
target = "external:+33612345678"
"""

UAC = Target(transport="UDP", host=CARRIER, port=UAC_PORT)
UAS = Target(transport="UDP", host=CARRIER, port=UAS_PORT)
SDP_UAC = (f"v=0\r\no=bench 1 1 IN IP4 {CARRIER}\r\ns=bench\r\nc=IN IP4 {CARRIER}\r\n"
           "t=0 0\r\nm=audio 40000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n").encode()
SDP_UAS = SDP_UAC.replace(b"bench", b"far").replace(b"40000", b"41000")


class RowWriter:
    """Stands for ``store.journal_writer.JournalWriter``: builds the rows, writes nothing."""

    def __init__(self) -> None:
        self.events = 0
        self.snapshots = 0

    def append_nowait(self, event: JournalEvent) -> asyncio.Future[bool]:
        validate_event(event)
        encode_payload(event)
        self.events += 1
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[bool] = loop.create_future()
        loop.call_soon(fut.set_result, True)  # committed a little later, as in the store
        return fut

    def save_snapshot_nowait(self, actor: str, actor_seq: int, state: bytes, ts: float, *,
                             timers: bytes | None = None, wake_at: float | None = None
                             ) -> None:  # fmt: skip
        bytes(state)
        self.snapshots += 1


class CountingWriter:
    """The real ``JournalWriter`` (``--db``), counting what the host hands it."""

    def __init__(self, writer: JournalWriter) -> None:
        self.writer = writer
        self.events = 0
        self.snapshots = 0

    def append_nowait(self, event: JournalEvent) -> asyncio.Future[bool]:
        self.events += 1
        return self.writer.append_nowait(event)

    def save_snapshot_nowait(self, actor: str, actor_seq: int, state: bytes, ts: float, *,
                             timers: bytes | None = None, wake_at: float | None = None
                             ) -> asyncio.Future[bool]:  # fmt: skip
        self.snapshots += 1
        return self.writer.save_snapshot_nowait(actor, actor_seq, state, ts, timers=timers,
                                                wake_at=wake_at)

    async def save_snapshot(self, actor: str, actor_seq: int, state: bytes, ts: float, *,
                            timers: bytes | None = None, wake_at: float | None = None
                            ) -> asyncio.Future[bool]:  # fmt: skip
        self.snapshots += 1
        return await self.writer.save_snapshot(actor, actor_seq, state, ts, timers=timers,
                                               wake_at=wake_at)


class EncodingPublisher:
    def __init__(self, codec: Codec) -> None:
        self.codec = codec
        self.published = 0

    def publish(self, topic: str, msg: Message) -> None:
        self.codec.encode(msg)
        self.published += 1


def _line(data: bytes, name: bytes) -> bytes:
    start = data.index(b"\r\n" + name + b":") + 2
    return data[start:data.index(b"\r\n", start)]


class Peers:
    """The carrier's caller and the far end, as byte templates (their time is kept apart)."""

    def __init__(self) -> None:
        self.switch: Softswitch | None = None
        self.queue: list[tuple[bytes, Target]] = []
        self.done = 0
        self.failed: list[str] = []
        self.seconds = 0.0
        self.sent = 0

    def invite(self, n: int) -> None:
        t0 = time.perf_counter()
        head = (f"INVITE sip:0612345678@127.0.0.1:5060 SIP/2.0\r\n"
                f"Via: SIP/2.0/UDP {CARRIER}:{UAC_PORT};branch=z9hG4bK-{n}-1\r\n"
                f"From: <sip:0140000001@{CARRIER}:{UAC_PORT}>;tag={n}b\r\n"
                f"To: <sip:0612345678@127.0.0.1:5060>\r\n"
                f"Call-ID: {n}-bench@{CARRIER}\r\nCSeq: 1 INVITE\r\n"
                f"Contact: <sip:bench@{CARRIER}:{UAC_PORT}>\r\nMax-Forwards: 70\r\n"
                f"Content-Type: application/sdp\r\nContent-Length: {len(SDP_UAC)}\r\n\r\n")
        self.queue.append((head.encode() + SDP_UAC, UAC))
        self.seconds += time.perf_counter() - t0

    def send(self, data: bytes, target: Target) -> None:
        """``Transports.send``: a datagram from the switch to one of the peers."""
        t0 = time.perf_counter()
        self.sent += 1
        if target.port == UAC_PORT:
            self._uac(data)
        elif target.port == UAS_PORT:
            self._uas(data)
        else:
            self.failed.append(f"datagram to {target}")
        self.seconds += time.perf_counter() - t0

    def _uac(self, data: bytes) -> None:
        status = data[8:11]
        if not data.startswith(b"SIP/2.0 ") or status in (b"100", b"180"):
            return
        cseq = _line(data, b"CSeq")
        if status != b"200":
            self.failed.append(data.split(b"\r\n", 1)[0].decode())
        elif cseq.endswith(b"INVITE"):
            n = _line(data, b"Call-ID")[9:].split(b"-", 1)[0].decode()
            common = (f"sip:0612345678@127.0.0.1:5060 SIP/2.0\r\n"
                      f"From: <sip:0140000001@{CARRIER}:{UAC_PORT}>;tag={n}b\r\n").encode()
            common += _line(data, b"To") + b"\r\n" + _line(data, b"Call-ID") + b"\r\n"
            src = UAC
            via = f"Via: SIP/2.0/UDP {CARRIER}:{UAC_PORT};branch=z9hG4bK-{n}-".encode()
            self.queue.append((b"ACK " + common + via + b"2\r\nCSeq: 1 ACK\r\n"
                               b"Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n", src))
            self.queue.append((b"BYE " + common + via + b"3\r\nCSeq: 2 BYE\r\n"
                               b"Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n", src))
        elif cseq.endswith(b"BYE"):
            self.done += 1

    def _uas(self, data: bytes) -> None:
        method = data[:data.index(b" ")]
        if method == b"ACK":
            return
        lines = b"\r\n".join(_line(data, h) for h in (b"Via", b"From", b"To", b"Call-ID",
                                                       b"CSeq"))
        src = UAS
        if method == b"INVITE":
            tag = b";tag=" + _line(data, b"Call-ID")[9:25] + b"u"
            lines = lines.replace(b">\r\nCall-ID", b">" + tag + b"\r\nCall-ID", 1)
            contact = f"Contact: <sip:{CARRIER}:{UAS_PORT}>\r\n".encode()
            self.queue.append((b"SIP/2.0 180 Ringing\r\n" + lines + b"\r\n" + contact
                               + b"Content-Length: 0\r\n\r\n", src))
            self.queue.append((b"SIP/2.0 200 OK\r\n" + lines + b"\r\n" + contact
                               + b"Content-Type: application/sdp\r\nContent-Length: "
                               + str(len(SDP_UAS)).encode() + b"\r\n\r\n" + SDP_UAS, src))
        elif method == b"BYE":
            self.queue.append((b"SIP/2.0 200 OK\r\n" + lines + b"\r\nContent-Length: 0\r\n\r\n",
                               src))
        else:
            self.failed.append(f"far end got {method.decode()}")


async def run_calls(calls: int, batch: int, profile: cProfile.Profile | None,
                    default_gc: bool = False, db_url: str | None = None) -> dict[str, Any]:
    if db_url is None:
        return await _run_calls(calls, batch, profile, default_gc, RowWriter())
    async with JournalWriter(db_url) as real:
        writer = CountingWriter(real)
        result = await _run_calls(calls, batch, profile, default_gc, writer)
        result["commits_per_call"] = round(real.committed_batches / (calls + 20), 2)
        result["snapshots_coalesced_per_call"] = round(real.coalesced_snapshots / (calls + 20),
                                                       2)
        return result


async def _run_calls(calls: int, batch: int, profile: cProfile.Profile | None,
                     default_gc: bool, writer: RowWriter | CountingWriter) -> dict[str, Any]:
    config = parse_config(CONFIG, source=Path("bench.toml"))
    codec = default_codec()
    settings = CallSettings(config=config, local=LocalSip(host="127.0.0.1", port=5060,
                                                          domain="127.0.0.1"), media="relay")
    behaviour = CallBehaviour(settings)
    loop = asyncio.get_running_loop()
    publisher = EncodingPublisher(codec)
    snapshots = CallSnapshots(StoreSnapshots(writer, None, codec))  # type: ignore[arg-type]
    host = Host(host_id="telephony", behaviours=[behaviour], clock=loop.time,
                placement=Placement.single("telephony", ("call", "sip")),
                journal=StoreJournal(writer),  # type: ignore[arg-type]
                snapshots=snapshots,
                publisher=publisher)
    digest = DigestServer(realm="127.0.0.1", secret=b"k" * 32)
    log = structlog.get_logger()
    stack = SipStack(config=config, registrar=Registrar(digest=digest, passwords={},
                                                        keepalive_s=30.0),
                     digest=digest, log=log, advertised=("127.0.0.1", 5060),
                     wire=settings.wire, call_ids=lambda: snapshots.fresh(new_call_id()))
    switch = Softswitch(host=host, stack=stack, log=log)
    peers = Peers()
    idle_s = 0.0002 if isinstance(writer, CountingWriter) else 0.0
    switch.transports.send = peers.send  # type: ignore[method-assign]
    host.add_port(SIP_PORT, switch.on_envelope)

    async def settle(target: int) -> None:
        """Run the loop until ``target`` calls have ended (bounded)."""
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            while peers.queue:
                pending, peers.queue = peers.queue, []
                for data, source in pending:
                    switch.on_datagram(data, source)
            if peers.done >= target or peers.failed:
                return
            # journal acks, outboxes, host drains; with a database, wait for it without
            # spinning (process time is what is measured)
            await asyncio.sleep(idle_s if not host._runq and not peers.queue else 0)
            if not host._runq and not peers.queue:
                host.flush_snapshots()  # Node.serve does this every 50 ms
        raise RuntimeError(f"calls stalled at {peers.done}/{target}")

    collector = None if default_gc else tune_gc()  # as the service does once it serves
    for n in range(20):  # warm-up: code paths, caches
        peers.invite(10_000_000 + n)
    await settle(20)
    base_done = peers.done
    peers.seconds = 0.0
    events0, snaps0, sent0 = writer.events, writer.snapshots, peers.sent
    cpu0, wall0 = time.process_time(), time.perf_counter()
    if profile is not None:
        profile.enable()
    for start in range(0, calls, batch):
        for n in range(start, min(calls, start + batch)):
            peers.invite(n)
        await settle(base_done + min(calls, start + batch))
    if profile is not None:
        profile.disable()
    cpu = time.process_time() - cpu0 - peers.seconds
    if collector is not None:
        restore_gc(collector)
    wall = time.perf_counter() - wall0
    done = peers.done - base_done
    if peers.failed or done != calls:
        raise RuntimeError(f"{done}/{calls} calls completed; problems: {peers.failed[:5]}")
    return {"calls": calls, "cpu_ms_per_call": round(1000 * cpu / calls, 3),
            "wall_s": round(wall, 2), "peer_ms_per_call": round(1000 * peers.seconds / calls, 3),
            "journal_events_per_call": (writer.events - events0) / calls,
            "snapshots_per_call": round((writer.snapshots - snaps0) / calls, 2),
            "datagrams_out_per_call": (peers.sent - sent0) / calls,
            "wire_cache": {"hits": settings.wire.hits, "misses": settings.wire.misses},
            "transactions_left": len(stack.layer)}


def _per_op(fn: Any, n: int) -> float:
    t0 = time.perf_counter()
    for _ in range(n):
        fn()
    return round(1e6 * (time.perf_counter() - t0) / n, 2)


def micro(n: int = 5000) -> dict[str, float]:
    """Microseconds per operation on the caller's INVITE (the largest message of a call)."""
    peers = Peers()
    peers.invite(1)
    data = peers.queue[0][0]

    def parse_and_read() -> None:
        m = parse_datagram(data)
        m.top_via, m.cseq, m.call_id, m.from_, m.to, m.contacts  # noqa: B018

    invite = parse_datagram(data)
    assert isinstance(invite, Request)
    invite.top_via, invite.cseq, invite.call_id, invite.from_, invite.to  # noqa: B018
    return {
        "parse_invite_us": _per_op(lambda: parse_datagram(data), n),
        "parse_invite_and_read_headers_us": _per_op(parse_and_read, n),
        "serialize_invite_us": _per_op(lambda: serialize(invite), n),
        "make_180_us": _per_op(lambda: make_response(invite, 180, to_tag="t1"), n),
        "make_and_serialize_200_us": _per_op(
            lambda: serialize(make_response(invite, 200, to_tag="t1", body=SDP_UAS)), n),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    ap.add_argument("--calls", type=int, default=2000)
    ap.add_argument("--batch", type=int, default=50)
    ap.add_argument("--profile", type=Path, help="write a cProfile of the calls here")
    ap.add_argument("--micro", action="store_true", help="add per-message figures")
    ap.add_argument("--json", type=Path)
    ap.add_argument("--default-gc", action="store_true",
                    help="keep CPython's collector settings (the service tunes them)")
    ap.add_argument("--db", action="store_true",
                    help="journal and snapshots through the real writer into an embedded "
                         "PostgreSQL (fsync off)")
    a = ap.parse_args()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(30))
    profile = cProfile.Profile() if a.profile else None
    try:  # the service's loop (supervision.service.new_event_loop) when installed
        import uvloop
        runner: Any = uvloop.run
    except ImportError:
        runner = asyncio.run
    if a.db:
        root = Path(tempfile.mkdtemp(prefix="contactor-callcpu-"))
        root.chmod(0o711)  # the embedded PostgreSQL's user must traverse it
        try:
            pg = start_embedded(root / "pg-data", durable=False)
            apply_migrations(pg.url)
            result = runner(run_calls(a.calls, a.batch, profile, a.default_gc, pg.url))
        finally:
            stop_embedded(root / "pg-data")
            shutil.rmtree(root, ignore_errors=True)
    else:
        result = runner(run_calls(a.calls, a.batch, profile, a.default_gc))
    if profile is not None:
        profile.dump_stats(a.profile)
    if a.micro:
        result["micro"] = micro()
    print(json.dumps(result, indent=2))
    if a.json:
        a.json.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
