"""Micro-measurements of the media core's hot paths (not a test; bounded, a few seconds).

Run: .venv/bin/python scripts/bench/media_core.py
     .venv/bin/python scripts/bench/media_core.py --worker-cpu [--calls 300] [--seconds 10]

``--worker-cpu`` runs one ``MediaWorker`` in this process on a fake clock with ``--calls``
relayed and recorded calls (callers watched for in-band DTMF, as in ``media.py``), driving
its real poll/tick code (``Clockwork._poll``) ten times per 20 ms while phone sockets in the
same thread send each leg's packet and drain what comes back. Only the worker's own work is
timed (``time.thread_time`` around each poll, plus the disk thread's CPU from
``/proc``), so the figure, % of a core per call, hardly depends on what else the machine
runs; the phones' sends and the wall clock are not in it.
"""

import argparse
import sys
import timeit
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import numpy as np

from media.dtmf_inband import InbandDtmfDetector
from media.g711 import ulaw_decode, ulaw_encode
from media.jitter import JitterBuffer
from media.rtp import RtpPacket, parse_rtp, parse_rtp_batch

SESSIONS = 1000


def best(stmt: object, number: int) -> float:
    """Seconds per call, best of five runs."""
    return min(timeit.repeat(stmt, number=number, repeat=5)) / number  # type: ignore[arg-type]


def main() -> None:
    packet = RtpPacket(payload_type=0, sequence=1, timestamp=160, ssrc=0x1234, payload=bytes(160))
    wire = packet.build()
    assert len(wire) == 172
    t = best(lambda: parse_rtp(wire), 100_000)
    print(f"parse_rtp, 172-byte PCMU:          {1 / t:12,.0f} packets/s ({t * 1e9:.0f} ns)")

    batch = [wire] * SESSIONS
    t = best(lambda: parse_rtp_batch(batch), 200)
    print(
        f"parse_rtp_batch x{SESSIONS}:           {SESSIONS / t:12,.0f} packets/s ({t * 1e6:.0f} µs)"
    )
    t = best(lambda: parse_rtp_batch(batch).payload_block(160, fill=0xFF), 200)
    print(f"  + payload_block(160):            {SESSIONS / t:12,.0f} packets/s ({t * 1e6:.0f} µs)")

    rng = np.random.default_rng(0)
    pcm = rng.integers(-32768, 32768, size=(SESSIONS, 160)).astype(np.int16)
    codes = ulaw_encode(pcm)
    t = best(lambda: ulaw_encode(pcm), 500)
    print(f"ulaw_encode 160 x {SESSIONS} sessions:     {t * 1e6:8.0f} µs/tick")
    t = best(lambda: ulaw_decode(codes), 500)
    print(f"ulaw_decode 160 x {SESSIONS} sessions:     {t * 1e6:8.0f} µs/tick")

    detector = InbandDtmfDetector(SESSIONS)
    t = best(lambda: detector.process(pcm), 50)
    print(f"DTMF detector 160 x {SESSIONS} sessions:   {t * 1e6:8.0f} µs/tick")

    buffer = JitterBuffer()
    ticks = iter(range(10**9))

    def push_pop() -> None:
        n = next(ticks)
        buffer.push(sequence=n & 0xFFFF, timestamp=160 * n, payload=b"x", now=0.02 * n + 0.03)
        buffer.pop(0.02 * n + 0.035)

    t = best(push_pop, 50_000)
    print(f"JitterBuffer push+pop:             {1 / t:12,.0f} frames/s ({t * 1e9:.0f} ns)")


def _thread_cpu_s(native_id: int) -> float:
    """CPU time of one thread of this process (Linux ``schedstat``: run time in ns)."""
    with open(f"/proc/self/task/{native_id}/schedstat") as f:
        return int(f.read().split()[0]) / 1e9


def worker_cpu(calls: int, seconds: float, *, inband: bool = True, record: bool = True,
               tone: bool = True) -> dict[str, float]:
    """Per-call CPU of one media worker (see the module docstring)."""
    import asyncio
    import gc
    import random
    import socket
    import struct
    import tempfile
    import threading
    import time

    from media.pacing import Pacer
    from media.worker import MediaWorker

    now = [1000.0]
    header = struct.Struct("!BBHII")
    with tempfile.TemporaryDirectory(prefix="media-cpu-") as tmp:
        base = random.Random().randrange(10000, 30000 - 4 * calls) & ~1  # below ephemeral ports
        worker = MediaWorker(worker_id="cpu", host="127.0.0.1",
                             ports=range(base, base + 4 * calls + 8, 2),
                             recordings_dir=Path(tmp), on_event=lambda c, m: None,
                             on_recording=lambda f: f.wav.unlink(missing_ok=True),
                             inband_dtmf=inband, rng=random.Random(7))
        # The fake clock, set afterwards so older workers (no ``clock`` argument) run too.
        worker._clock = worker._clockwork.clock = lambda: now[0]
        worker._clockwork.pacer = Pacer(now[0], poll_interval=worker.poll_interval)
        if hasattr(worker, "_house"):
            worker._house.wall_offset = 0.0
        loop = asyncio.new_event_loop()
        worker._recs.start(loop)  # the disk thread, as ``start`` does (no timers here)
        phones: list[socket.socket] = []
        legs: list[tuple[socket.socket, tuple[str, int]]] = []
        for n in range(calls):
            pair = []
            for leg in ("caller", "agent"):
                phone = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                phone.bind(("127.0.0.1", 0))
                phone.setblocking(False)
                endpoint = worker.open(f"c{n}", leg)
                worker.set_remote(endpoint.id, host="127.0.0.1", port=phone.getsockname()[1],
                                  payload_type=0)
                phones.append(phone)
                legs.append((phone, ("127.0.0.1", endpoint.port)))
                pair.append(endpoint.id)
            worker.bridge(*pair)
            if record:
                worker.record(f"c{n}", *pair)
        level = 6000 if tone else 0
        pcm = np.rint(level * np.sin(2 * np.pi * 440 * np.arange(160) / 8000)).astype(np.int16)
        body = ulaw_encode(pcm).tobytes()
        groups = [legs[g::10] for g in range(10)]
        writer = worker._recs._writer
        assert writer is not None
        disk_id = writer._thread.native_id
        assert disk_id is not None
        drained = [0.0]  # thread CPU in the receive path, the rest of a poll is tick work
        drain = worker._clockwork._drain

        def timed_drain() -> None:
            t0 = time.thread_time()
            drain()
            drained[0] += time.thread_time() - t0

        worker._clockwork._drain = timed_drain
        gc.freeze()
        polls = int(seconds / 0.002)
        warm = 500
        walls: list[float] = []  # wall time of each poll: CPU plus waits (GIL, preemption)
        spent = 0.0
        disk0 = 0.0
        seq = 0
        for p in range(warm + polls):
            if p == warm:
                spent, disk0, drained[0] = 0.0, _thread_cpu_s(disk_id), 0.0
            if p % 10 == 0:
                seq += 1
            for phone, to in groups[p % 10]:
                phone.sendto(header.pack(0x80, 0, seq & 0xFFFF, (160 * seq) & 0xFFFFFFFF, 0x1234)
                             + body, to)
            now[0] += 0.002
            t0, w0 = time.thread_time(), time.perf_counter()
            worker._clockwork._poll(now[0])
            spent += time.thread_time() - t0
            if p >= warm:
                walls.append(time.perf_counter() - w0)
            for phone in phones[(p % 10)::10]:
                try:
                    while phone.recv(2048):
                        pass
                except BlockingIOError:
                    pass
        while writer.backlog:
            time.sleep(0.01)
        time.sleep(0.05)  # the last job taken ends
        disk = _thread_cpu_s(disk_id) - disk0
        stats = worker.stats()
        worker.close()
        for phone in phones:
            phone.close()
        loop.close()
        del threading
    wall = polls * 0.002
    return {
        "calls": calls,
        "loop_pct_per_call": 100 * spent / wall / calls,
        "receive_pct_per_call": 100 * drained[0] / wall / calls,
        "tick_pct_per_call": 100 * (spent - drained[0]) / wall / calls,
        "disk_pct_per_call": 100 * disk / wall / calls,
        "pct_per_call": 100 * (spent + disk) / wall / calls,
        "poll_p99_ms": 1000 * float(np.percentile(walls, 99)),
        "poll_max_ms": 1000 * max(walls),
        "relayed": stats["rtp_relayed"],
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--worker-cpu", action="store_true")
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--no-inband", action="store_true")
    parser.add_argument("--no-record", action="store_true")
    parser.add_argument("--silence", action="store_true", help="phones send silence, not a tone")
    parser.add_argument("--switch-interval", type=float, default=None, metavar="S",
                        help="sys.setswitchinterval for the run")
    args = parser.parse_args()
    if args.switch_interval:
        sys.setswitchinterval(args.switch_interval)
    if args.worker_cpu:
        result = worker_cpu(args.calls, args.seconds, inband=not args.no_inband,
                            record=not args.no_record, tone=not args.silence)
        print(" ".join(f"{k}={v:.4f}" if isinstance(v, float) else f"{k}={v}"
                       for k, v in result.items()))
    else:
        main()
