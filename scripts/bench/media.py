"""Media pool benchmark: N concurrent relayed and recorded calls on loopback.

Run: .venv/bin/python scripts/bench/media.py [--calls 50,100,...] [--workers 2] [--json PATH]

Processes: ``--workers`` media workers (each a ``media.worker.MediaWorker`` on uvloop, as in
the service; default one per core, the count ``contactor up`` starts), sharing the calls,
and one load generator, the phones (``rtpgen.c``; ``--generator-impl python`` for the slow
Python one). For each N the generator sends 50 packets/s on both legs of every call (PCMU,
proper sequence numbers and timestamps, legs spread over the 20 ms period; the C one sends
each 0.5 ms group with ``sendmmsg`` from two UDP sockets that the legs announce, one per
worker, and reads with ``recvmmsg``, telling legs apart by the worker port a packet came
from), the workers relay every packet to the other leg, record both legs to stereo WAV and
watch the callers for in-band DTMF. The generator stamps the send time into each payload
(the relay forwards payloads untouched); the kernel stamps each arrival (SO_TIMESTAMPNS),
so the transit time is the network path's, not the generator's own scheduling. The workers
run with the service's defaults: RTCP on every leg's odd port (a report per leg every ~5 s,
to the phone's port + 1, which the generator ignores), receive statistics (two packets per
leg a second through the general receive path), symmetric RTP, silent-leg checks.

Baseline: at each N the same load first goes through C reflectors (one per worker, each
relaying every 2 ms like a worker, doing nothing else): the jitter the generator, the
kernel and the machine's other work cause without any worker.

Reported per N: loss (packets not relayed back), added jitter p99 (transit minus the leg's
fastest transit, 99th percentile, in ms), the baseline's, worker CPU per call (% of one
core), the CPU everything else on the machine used meanwhile (``others``: high means the
step did not have the cores to itself), tick lateness and tick work per tick.
``max_calls`` is the largest N with loss < 0.1 % and added jitter p99 < 5 ms. Bounded: each
step runs ``--seconds`` (default 5) after a 1 s warm-up; the run stops at the first N that
misses the targets (``--keep-going`` runs them all).

Measured on the 2-core dev machine, five runs each while little else ran (``others``
mostly under 20 %; generator and both workers share the cores; --busy-retries 3): added
jitter p99 at 400 / 500 / 600 calls, median of five, 2.0 / 3.6 / 4.1 ms (the baseline's
1.9 ms, most of it the 2 ms poll); under 5 ms at 500 calls in 3 runs of 5, at 600 in 4; no
loss; longest tick step 8 ms (median). Before the timerfd grid and the split tick:
4.7 / 4.3 / 7.9 ms, ticks of 25-70 ms. Workers spend about 0.17 % of a core per call
(0.20 % before), the generator about 0.08 %: at 500 calls the three processes use three
quarters of the two cores, so whatever else runs meanwhile shows at once (on a busy
machine tens to hundreds of ms; see ``others``).
``--pin`` (worker k on core k) removed the remaining late ticks but not the p99 spread.

2026-11-26, generator on two sockets (one per worker) with sendmmsg/recvmmsg; before: a
socket per phone, a sendto, an epoll entry and two recvmsg per packet. ``--calls 400,500
--keep-going --busy-retries 1``, old and new alternating, 12 runs old, 19 new (one or two
sockets; some runs shared the machine with another bench): generator CPU at 400 / 500
calls, median, 36 / 41 % of a core before, 24 / 29 % after (two sockets; nearly all kernel
time: a send on loopback also does the receiving socket's work). In the last interleaved
set (3 runs each, little else running), at 500 calls: generator 38-40 % before, 28-29 %
after; workers 0.16-0.18 % of a core per call before, 0.15-0.17 % after (earlier sets
drifted between 0.15 and 0.26 % for both); added jitter p99 2.2-3.1 ms before, 2.1-2.5 ms
after; late ticks 0-1 both; no loss in any run. The workers send each leg's audio to the
port the leg announced, as before, so they do not latch and make the same syscalls per
packet.

Environment knobs for experiments: ``BENCH_NO_INBAND``, ``BENCH_NO_RECORD``, ``BENCH_POLL``
(seconds, 0: wake per readable socket), ``BENCH_RTPGEN`` (another generator source to
compile instead of ``rtpgen.c``, to compare generators), ``BENCH_SWITCH_INTERVAL`` (the
workers' GIL switch interval, ``sys.setswitchinterval``; Python's default is 0.005). For a
worker's CPU per call without the generator, the kernel's scheduling or the machine's other
work in the figure, split into receive path, tick work and disk thread:
``scripts/bench/media_core.py --worker-cpu --calls 250`` (250 calls: one worker's share at
500).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import os
import random
import select
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

PERIOD = 0.02
GROUPS = 40  # legs send in 40 groups 0.5 ms apart, like phones not in step (see rtpgen.c)
_HEADER = struct.Struct("!BBHII")
_STAMP = struct.Struct("!d")
TARGET_LOSS = 0.001
TARGET_JITTER_MS = 5.0


# ---------------------------------------------------------------- worker process


async def worker_main(index: int, ports: str, directory: Path, pin: bool) -> None:
    from media.recorder import FinishedRecording
    from media.worker import POLL_INTERVAL_S, MediaWorker

    low, high = (int(p) for p in ports.split("-"))

    def discard(finished: FinishedRecording) -> None:
        finished.sidecar.unlink(missing_ok=True)
        finished.wav.unlink(missing_ok=True)

    worker = MediaWorker(worker_id=f"bench-{index}", host="127.0.0.1",
                         ports=range(low, high, 2), recordings_dir=directory,
                         on_event=lambda c, m: None, on_recording=discard,
                         inband_dtmf=not os.environ.get("BENCH_NO_INBAND"),
                         # BENCH_POLL=0: wake per readable socket instead of polling
                         poll_interval=float(os.environ.get("BENCH_POLL", POLL_INTERVAL_S))
                         or None)
    if os.environ.get("BENCH_SWITCH_INTERVAL"):  # the GIL switch interval (seconds)
        sys.setswitchinterval(float(os.environ["BENCH_SWITCH_INTERVAL"]))
    loop = asyncio.get_running_loop()
    if pin:  # worker k on core k: the scheduler cannot put both workers on one core
        os.sched_setaffinity(0, {index % (os.cpu_count() or 1)})
    worker.start(loop)
    gc.freeze()  # as media.service does once ready
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    print(json.dumps({"ready": True}), flush=True)
    while line := await reader.readline():
        command = json.loads(line)
        if command["op"] == "open":
            legs = []
            for n, (caller_port, agent_port) in enumerate(command["phones"]):
                call = f"c{index}-{n}"
                a, b = worker.open(call, "caller"), worker.open(call, "agent")
                worker.set_remote(a.id, host="127.0.0.1", port=caller_port, payload_type=0)
                worker.set_remote(b.id, host="127.0.0.1", port=agent_port, payload_type=0)
                worker.bridge(a.id, b.id)
                if not os.environ.get("BENCH_NO_RECORD"):
                    worker.record(call, a.id, b.id)
                legs.append((a.port, b.port))
            reply: dict[str, Any] = {"legs": legs}
        elif command["op"] == "stats":
            if command.get("reset_max"):
                worker.counters.tick_max_s = 0.0
            reply = worker.stats()
            reply["tick_cpu_s"] = worker.counters.tick_cpu_s  # unrounded, for the average
        elif command["op"] == "close":
            for call in {e.call_id for e in worker.endpoints.values()}:
                worker.close_call(call)
            reply = {"closed": True}
        else:
            break
        print(json.dumps(reply), flush=True)
    worker.close()


# ---------------------------------------------------------------- load generator


def generator_main() -> None:
    """Reads the phone count, prints its ports, then the worker ports; runs; prints stats."""
    phones = int(sys.stdin.readline())
    socks = []
    for _ in range(2 * phones):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind(("127.0.0.1", 0))
        s.setblocking(False)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 16)
        socks.append(s)
    print(json.dumps([s.getsockname()[1] for s in socks]), flush=True)
    plan = json.loads(sys.stdin.readline())
    targets = [("127.0.0.1", p) for p in plan["targets"]]  # worker port per phone
    warmup, seconds = plan["warmup"], plan["seconds"]
    rng = random.Random(1)
    seq = [rng.getrandbits(16) for _ in socks]
    ts = [rng.getrandbits(32) for _ in socks]
    ssrc = [rng.getrandbits(32) for _ in socks]
    tone = np.rint(6000 * np.sin(2 * np.pi * 440 * np.arange(160) / 8000)).astype(np.int16)
    from media.g711 import ulaw_encode

    body = ulaw_encode(tone).tobytes()[_STAMP.size:]
    epoll = select.epoll()
    by_fd = {}
    for i, s in enumerate(socks):
        epoll.register(s.fileno(), select.EPOLLIN)
        by_fd[s.fileno()] = i
    n = len(socks)
    groups = [list(range(g, n, GROUPS)) for g in range(GROUPS)]
    start = time.monotonic() + 0.05
    measure_from = start + warmup
    measure_to = measure_from + seconds
    stop_sending = measure_to
    stop_at = measure_to + 0.3
    sent = 0
    transit_leg: list[int] = []
    transit: list[float] = []
    received = 0
    step = 0
    cpu0 = time.process_time()
    while True:
        now = time.monotonic()
        if now >= stop_at:
            break
        due = start + step * PERIOD / GROUPS
        if due <= now and due < stop_sending:
            for i in groups[step % GROUPS]:
                stamp = time.monotonic()
                packet = _HEADER.pack(0x80, 0, seq[i], ts[i], ssrc[i]) + _STAMP.pack(stamp) + body
                try:
                    socks[i].sendto(packet, targets[i])
                except OSError:
                    pass
                seq[i] = (seq[i] + 1) & 0xFFFF
                ts[i] = (ts[i] + 160) & 0xFFFFFFFF
                if measure_from <= stamp < measure_to:
                    sent += 1
            step += 1
            continue
        wait = max(0.0, min(due if due < stop_sending else stop_at, stop_at) - now)
        for fd, _ in epoll.poll(wait):
            i = by_fd[fd]
            try:
                data = socks[i].recv(2048)
            except OSError:
                continue
            arrived = time.monotonic()
            (stamp,) = _STAMP.unpack_from(data, 12)
            if measure_from <= stamp < measure_to:
                received += 1
                transit.append(arrived - stamp)
                transit_leg.append(i)
    cpu = time.process_time() - cpu0
    values = np.asarray(transit)
    legs = np.asarray(transit_leg)
    if len(values):
        fastest = np.full(n, np.inf)
        np.minimum.at(fastest, legs, values)
        added = values - fastest[legs]
        p99 = float(np.percentile(added, 99) * 1000)
        if os.environ.get("BENCH_DEBUG"):
            buckets = (np.arange(len(added)) * 50 // len(added))
            print("spikes", [round(float(added[buckets == b].max() * 1000), 1)
                             for b in range(50)], file=sys.stderr)
        p50 = float(np.percentile(values, 50) * 1000)
    else:
        p99 = p50 = float("inf")
    print(json.dumps({"sent": sent, "received": received, "jitter_p99_ms": p99,
                      "transit_p50_ms": p50, "generator_cpu": cpu / (stop_at - start)}),
          flush=True)


# ---------------------------------------------------------------- driver


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine_busy_seconds() -> float:
    """CPU time every process on the machine used so far (all cores; /proc/stat)."""
    user, nice, system, _idle, _iowait, irq, softirq, steal = (
        int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


class Proc:
    def __init__(self, args: list[str], command: list[str] | None = None) -> None:
        argv = command if command is not None else [sys.executable, __file__, *args]
        # All in the bench's session: under Linux's session autogroups a generator in a
        # session of its own would hold the workers to one core between them (measured:
        # 14-37 % loss at 500 calls that way, none in one session).
        self.p = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  text=True)

    def send(self, obj: Any) -> None:
        assert self.p.stdin is not None
        self.p.stdin.write(json.dumps(obj) + "\n")
        self.p.stdin.flush()

    def read(self) -> Any:
        assert self.p.stdout is not None
        line = self.p.stdout.readline()
        if not line:
            raise RuntimeError(f"bench process {self.p.args!r} exited")
        return json.loads(line)

    def ask(self, obj: Any) -> Any:
        self.send(obj)
        return self.read()


def build_c_generator(directory: Path) -> list[str] | None:
    """Compile ``rtpgen.c`` (next to this file; ``BENCH_RTPGEN``: another source, to compare
    generators) when a C compiler is there."""
    compiler = shutil.which("cc") or shutil.which("gcc")
    if compiler is None:
        return None
    binary = directory / "rtpgen"
    source = Path(os.environ.get("BENCH_RTPGEN") or Path(__file__).with_name("rtpgen.c"))
    result = subprocess.run([compiler, "-O2", "-o", str(binary), str(source), "-lm"],
                            capture_output=True, text=True, check=False)
    return [str(binary)] if result.returncode == 0 else None


def share_calls(calls: int, parts: int) -> list[list[int]]:
    """Calls 0..calls-1 dealt round-robin to ``parts`` processes."""
    share: list[list[int]] = [[] for _ in range(parts)]
    for c in range(calls):
        share[c % parts].append(c)
    return share


def run_baseline(calls: int, parts: int, warmup: float, seconds: float,
                 generator: list[str]) -> dict[str, Any]:
    """The same load through ``parts`` C reflectors (an ideal relay) instead of the workers:
    the jitter the generator, the kernel and the machine's other work add on their own."""
    gen = Proc(["--generator"], generator)
    gen.send(calls)
    phone_ports = gen.read()
    targets = [0] * (2 * calls)
    reflectors = []
    for calls_of_part in share_calls(calls, parts):
        proc = Proc([], [*generator, "reflect"])
        proc.p.stdin.write(f"{2 * len(calls_of_part)}\n")  # type: ignore[union-attr]
        proc.p.stdin.flush()  # type: ignore[union-attr]
        legs = proc.read()
        proc.send([phone_ports[2 * c + k] for c in calls_of_part for k in (0, 1)])
        for n, c in enumerate(calls_of_part):
            targets[2 * c], targets[2 * c + 1] = legs[2 * n], legs[2 * n + 1]
        reflectors.append(proc)
    gen.send({"targets": targets, "warmup": warmup, "seconds": seconds})
    result: dict[str, Any] = gen.read()
    gen.p.wait(timeout=10)
    for proc in reflectors:
        proc.p.stdin.close()  # type: ignore[union-attr]
        proc.p.wait(timeout=10)
    return result


def run_step(workers: list[Proc], calls: int, warmup: float, seconds: float,
             generator: list[str] | None) -> dict[str, Any]:
    gen = Proc(["--generator"], generator)
    gen.send(calls)
    phone_ports = gen.read()
    share = share_calls(calls, len(workers))
    targets = [0] * (2 * calls)
    for w, proc in enumerate(workers):
        phones = [(phone_ports[2 * c], phone_ports[2 * c + 1]) for c in share[w]]
        legs = proc.ask({"op": "open", "phones": phones})["legs"]
        for c, (a, b) in zip(share[w], legs, strict=True):
            targets[2 * c], targets[2 * c + 1] = a, b
    before = [proc.ask({"op": "stats", "reset_max": True}) for proc in workers]
    gen.send({"targets": targets, "warmup": warmup, "seconds": seconds})
    time.sleep(0.05 + warmup)
    cpu0 = [cpu_seconds(p.p.pid) for p in workers]
    gen0, busy0 = cpu_seconds(gen.p.pid), machine_busy_seconds()
    t0 = time.monotonic()
    time.sleep(seconds)
    cpu = sum(cpu_seconds(p.p.pid) - c for p, c in zip(workers, cpu0, strict=True))
    others = machine_busy_seconds() - busy0 - cpu - (cpu_seconds(gen.p.pid) - gen0)
    elapsed = time.monotonic() - t0
    result = gen.read()
    gen.p.wait(timeout=10)
    after = [proc.ask({"op": "stats"}) for proc in workers]
    if os.environ.get("BENCH_DEBUG"):
        print(result, before, after, file=sys.stderr)
    for proc in workers:
        proc.ask({"op": "close"})
    loss = 1 - result["received"] / max(1, result["sent"])
    late = sum(a["late_ticks"] - b["late_ticks"] for a, b in zip(after, before, strict=True))
    ticks = sum(a["ticks"] - b["ticks"] for a, b in zip(after, before, strict=True))
    tick_cpu = sum(a["tick_cpu_s"] - b["tick_cpu_s"] for a, b in zip(after, before, strict=True))
    return {
        "calls": calls,
        "loss_pct": round(100 * loss, 4),
        # below 100: the generator fell behind (it did not get the CPU to send on time)
        "sent_pct": round(100 * result["sent"] / (2 * calls * seconds / PERIOD), 1),
        "jitter_p99_ms": round(result["jitter_p99_ms"], 2),
        "jitter_max_ms": round(result.get("jitter_max_ms", float("nan")), 2),
        "transit_p50_ms": round(result["transit_p50_ms"], 2),
        "cpu_per_call_pct": round(100 * cpu / elapsed / calls, 3),
        "workers_cpu_pct": round(100 * cpu / elapsed, 1),
        "generator_cpu_pct": round(100 * result["generator_cpu"], 1),
        # everything else on the machine meanwhile (other sessions' work): when this is
        # high, the workers and the generator did not have the two cores to themselves
        "others_cpu_pct": round(100 * max(0.0, others) / elapsed, 1),
        "late_ticks": late,
        "tick_avg_ms": round(1000 * tick_cpu / max(1, ticks), 2),
        "tick_max_ms": max(a["tick_max_ms"] for a in after),
        "ok": loss < TARGET_LOSS and result["jitter_p99_ms"] < TARGET_JITTER_MS,
    }


def run_pair(workers: list[Proc], calls: int, args: argparse.Namespace,
             reflector: list[str] | None, generator: list[str] | None) -> dict[str, Any]:
    """The baseline (when ``reflector``), then the workers, at ``calls`` calls."""
    base = None
    if reflector is not None:
        base = run_baseline(calls, args.workers, args.warmup, args.seconds, reflector)
    row = run_step(workers, calls, args.warmup, args.seconds, generator)
    if base is not None:
        row["baseline_jitter_p99_ms"] = round(base["jitter_p99_ms"], 2)
        row["baseline_loss_pct"] = round(100 * (1 - base["received"] / max(1, base["sent"])), 4)
        row["added_vs_baseline_ms"] = round(
            row["jitter_p99_ms"] - row["baseline_jitter_p99_ms"], 2)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", default="50,100,200,300,400,500,600,700,800")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1,
                        help="media workers (default: one per core, as contactor up starts)")
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--warmup", type=float, default=1.0)
    parser.add_argument("--json", type=Path, default=None, metavar="PATH")
    parser.add_argument("--generator-impl", choices=("auto", "c", "python"), default="auto",
                        help="load generator: C (rtpgen.c, compiled with cc) or Python")
    parser.add_argument("--no-baseline", action="store_true",
                        help="skip the generator-only baseline (C reflectors) at each step")
    parser.add_argument("--busy-retries", type=int, default=0, metavar="N",
                        help="run a step up to N more times while other work on the machine "
                             "used more than --busy-limit; keep the quietest attempt")
    parser.add_argument("--busy-limit", type=float, default=20.0, metavar="PCT",
                        help="others' CPU (%% of one core) a step may see (default 20)")
    parser.add_argument("--pin", action="store_true",
                        help="pin media worker k to core k (contactor up does not, so far)")
    parser.add_argument("--keep-going", action="store_true",
                        help="run every step even after one misses the targets")
    parser.add_argument("--worker", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--ports", default="", help=argparse.SUPPRESS)
    parser.add_argument("--dir", type=Path, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--generator", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.generator:
        generator_main()
        return
    if args.worker is not None:
        from supervision.service import new_event_loop

        loop = new_event_loop()
        if os.environ.get("BENCH_ASYNCIO_DEBUG"):  # name callbacks that stall the loop
            loop = asyncio.new_event_loop()
            loop.set_debug(True)
            loop.slow_callback_duration = 0.05
        loop.run_until_complete(worker_main(args.worker, args.ports, args.dir, args.pin))
        return
    steps = [int(x) for x in args.calls.split(",")]
    directory = Path(tempfile.mkdtemp(prefix="contactor-bench-media-"))
    # each leg binds an RTP/RTCP port pair; calls are not shared out exactly evenly
    span = 2 * 2 * max(steps) // args.workers * 3 // 2 + 100
    workers = [Proc(["--worker", str(k), "--ports", f"{36000 + k * span}-{36000 + (k + 1) * span}",
                     "--dir", str(directory / f"w{k}"), *(["--pin"] if args.pin else [])])
               for k in range(args.workers)]
    generator = None if args.generator_impl == "python" else build_c_generator(directory)
    if generator is None and args.generator_impl == "c":
        parser.error("cannot compile scripts/bench/rtpgen.c (no cc?)")
    baseline = generator is not None and not args.no_baseline
    print(f"load generator: {'C (rtpgen.c)' if generator else 'Python'}; "
          f"{args.workers} media worker(s){' pinned' if args.pin else ''}; "
          f"{os.cpu_count()} cores; baseline: "
          f"{f'{args.workers} C reflector(s)' if baseline else 'none'}", flush=True)
    rows = []
    try:
        for proc in workers:
            assert proc.read() == {"ready": True}
        print(f"{'calls':>6} {'loss %':>7} {'jit p99':>8} {'base p99':>9} {'added':>6} "
              f"{'jit max':>8} {'p50 ms':>7} {'cpu/call':>9} {'workers':>8} {'gen':>6} "
              f"{'others':>7} {'late':>5} {'tick avg':>9} {'tick max':>9}")
        for calls in steps:
            row = run_pair(workers, calls, args, generator if baseline else None, generator)
            for _ in range(args.busy_retries):
                if row["others_cpu_pct"] <= args.busy_limit:
                    break
                again = run_pair(workers, calls, args, generator if baseline else None,
                                 generator)
                again["attempts"] = row.get("attempts", 1) + 1
                row = min(row, again, key=lambda r: r["others_cpu_pct"])
                row["attempts"] = again["attempts"]
            rows.append(row)
            print(f"{calls:>6} {row['loss_pct']:>7.3f} {row['jitter_p99_ms']:>8.2f} "
                  f"{row.get('baseline_jitter_p99_ms', float('nan')):>9.2f} "
                  f"{row.get('added_vs_baseline_ms', float('nan')):>6.2f} "
                  f"{row['jitter_max_ms']:>8.1f} "
                  f"{row['transit_p50_ms']:>7.2f} {row['cpu_per_call_pct']:>8.3f}% "
                  f"{row['workers_cpu_pct']:>7.1f}% {row['generator_cpu_pct']:>5.1f}% "
                  f"{row['others_cpu_pct']:>6.1f}% {row['late_ticks']:>5} "
                  f"{row['tick_avg_ms']:>9.2f} {row['tick_max_ms']:>9.1f}"
                  + (f"  (quietest of {row['attempts']})" if "attempts" in row else ""),
                  flush=True)
            if not row["ok"] and not args.keep_going:
                break
    finally:
        for proc in workers:
            with contextlib.suppress(OSError):
                proc.send({"op": "quit"})
            proc.p.wait(timeout=10)
        shutil.rmtree(directory, ignore_errors=True)
    best = max((r["calls"] for r in rows if r["ok"]), default=0)
    print(f"max_calls (loss < {100 * TARGET_LOSS:g} %, added jitter p99 < {TARGET_JITTER_MS:g} "
          f"ms): {best}")
    if args.json is not None:
        args.json.write_text(json.dumps({"max_calls": best, "workers": args.workers,
                                         "pinned": args.pin,
                                         "generator": "c" if generator else "python",
                                         "baseline": "c-reflector" if baseline else None,
                                         "rows": rows}, indent=2))


if __name__ == "__main__":
    main()
