"""SIP calls per second through Contactor: SIPp UAC -> Contactor -> SIPp UAS, rising rates.

    python scripts/bench/sip_cps.py [--rates 5,10,...] [--step-s 5] [--json PATH] [--vs-sippy]

The telephony service runs alone (``python -m telephony``, relay mode: SDP passed through,
journal and snapshots in an embedded PostgreSQL with fsync off). A carrier's caller (SIPp on
127.0.0.2) dials a number routed ``external:`` back out through the trunk to a SIPp UAS, so
every call is a full B2BUA call: two dialogs, ~14 SIP messages, four journal events.

For each rate, SIPp places ``rate * step_s`` calls lasting ``--call-ms``; the highest rate
with fewer than 0.1 % failed calls (and every call placed) is ``max_cps``. A call counts as
failed when SIPp fails it, when it never completes, or when its INVITE->200 took longer than
``--max-setup-ms`` (an overloaded switch still connects calls, seconds late, thanks to
retransmissions: that is not a rate it sustains). SIPp's retransmissions are reported per
step but are not failures by themselves. A failing step is run once more (``--retries``) before
the ramp stops, so that one burst of the other workers sharing this machine does not end it.
INVITE->200 p50 and p99 come from SIPp's response-time trace (``-trace_rtt``) at that rate;
CPU per call from the system's /proc times over the step; Contactor's commits per call from
the transaction ids its database drew over the step (each write transaction draws one: what
a production database, fsync on, flushes to disk). Memory per dialog: RSS growth while
``--dialogs`` calls are up at once (each call is two dialogs; the figure is per call),
measured before the ramp, after 20 warm-up calls (after an overloaded step the heap is
already grown and RSS no longer moves).

``--py-spy RAW`` samples the telephony process during the ramp (py-spy's collapsed stacks,
one line per stack: ``grep 'service:telephony' RAW`` keeps its event loop thread).

``--vs-sippy`` runs sippy's ``b2bua`` (the PyPI package ``sippy``, installed into .venv-sippy
for the benchmark only if missing) the same way in the same run: same SIPp scenarios
(scripts/bench/sipp/), same rates, same step length, same failure bar, each system with a
far-end UAS of its own, the two ramps interleaved rate by rate (so that both see the same
machine load; before each step the bench waits, bounded, until neither is still busy with
an earlier overloaded step), and prints the ratio of the two max rates. Bounded: about four
minutes with the default ladder.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from store.embedded import start_embedded, stop_embedded  # noqa: E402
from store.migrations import apply_migrations  # noqa: E402

SIPP_DIR = Path(__file__).resolve().parent / "sipp"
SIPPY_VENV = REPO / ".venv-sippy"
CARRIER = "127.0.0.2"
NUMBER = "0612345678"  # routed external:+33612345678 through the trunk to the far end
MAX_FAILED = 0.001
TICK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")
DEFAULT_RATES = "5,10,25,50,75,100,125,150,175,200,250,300,400,500,600,800"


def free_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def udp_port_taken(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.bind((host, port))
        except OSError:
            return True
        return False


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK  # utime + stime, all threads


def rss_bytes(pid: int) -> int:
    return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE


def config_text(db_url: str, sip_port: int, far_port: int) -> str:
    return f"""
[center]
name = "sip bench"
[store]
url = "{db_url}"
[sip]
listen = "127.0.0.1:{sip_port}"
transports = ["udp"]
domain = "127.0.0.1"
[media]
workers = 1
[[trunk]]
name = "carrier"
host = "{CARRIER}"
port = {far_port}
allow = ["{CARRIER}"]
country_code = "33"
[[route]]
match = "_06XXXXXXXX"
target = "external:+33612345678"
"""


@dataclass
class Step:
    rate: int
    calls: int
    successful: int
    failed: int
    slow: int
    retransmissions: int
    p50_ms: float
    p99_ms: float
    cpu_ms_per_call: float
    seconds: float
    attempt: int
    #: write transactions committed in the database per completed call (None: no database)
    commits_per_call: float | None = None

    @property
    def ok(self) -> bool:
        done = self.successful + self.failed
        return done >= self.calls and self.failed <= MAX_FAILED * self.calls


@dataclass
class System:
    """One switch under test: where SIPp calls it, its pid for CPU and RSS, its ramp."""

    name: str
    target: str
    pid: int
    db_url: str | None = None
    steps: list[Step] = field(default_factory=list)
    climbing: bool = True

    def best(self) -> Step | None:
        good = [s for s in self.steps if s.ok]
        return good[-1] if good else None

    def figures(self, prefix: str) -> dict[str, object]:
        top = self.best()
        return {
            f"{prefix}max_cps": top.rate if top else 0,
            f"{prefix}invite_200_p50_ms": round(top.p50_ms, 2) if top else None,
            f"{prefix}invite_200_p99_ms": round(top.p99_ms, 2) if top else None,
            f"{prefix}cpu_ms_per_call": round(top.cpu_ms_per_call, 3) if top else None,
            f"{prefix}commits_per_call": top.commits_per_call if top else None,
        }


def next_xid(db_url: str) -> int:
    """The next transaction id: every write transaction draws one, a read-only one does not,
    so the difference over a step counts the commits the system made (what an fsync'ing
    production database pays for)."""
    import psycopg

    with psycopg.connect(db_url, autocommit=True) as conn:
        row = conn.execute("SELECT pg_snapshot_xmax(pg_current_snapshot())::text").fetchone()
    assert row is not None
    return int(row[0])


def _stat_counts(workdir: Path) -> tuple[int, int, int]:
    """(successful, failed, retransmissions) from SIPp's last statistics row."""
    files = sorted(workdir.glob("*_.csv")) + sorted(workdir.glob("*stat*.csv"))
    for path in files:
        with path.open() as f:
            rows = list(csv.reader(f, delimiter=";"))
        if len(rows) < 2:
            continue
        head, last = rows[0], rows[-1]
        idx = {name: i for i, name in enumerate(head)}
        if "SuccessfulCall(C)" in idx:
            retrans = int(last[idx["Retransmissions(C)"]]) if "Retransmissions(C)" in idx else 0
            return (int(last[idx["SuccessfulCall(C)"]]), int(last[idx["FailedCall(C)"]]),
                    retrans)
    raise RuntimeError(f"no SIPp statistics in {workdir}")


def _rtts(workdir: Path) -> list[float]:
    out: list[float] = []
    for path in workdir.glob("*_rtt.csv"):
        with path.open() as f:
            for row in csv.reader(f, delimiter=";"):
                if len(row) >= 2 and row[1].replace(".", "", 1).isdigit():
                    out.append(float(row[1]))
    return out


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _uac(target: str, rate: int, calls: int, call_ms: int, workdir: Path,
         timeout_s: float, *extra: str) -> subprocess.Popen[bytes]:
    workdir.mkdir(parents=True, exist_ok=True)
    cmd = ["sipp", "-sf", str(SIPP_DIR / "uac.xml"), "-i", CARRIER, "-p",
           str(free_port(CARRIER)), "-s", NUMBER, "-r", str(rate), "-m", str(calls),
           "-d", str(call_ms), "-nostdin", "-trace_stat", "-fd", "1",
           "-stf", str(workdir / "stat_.csv"), "-timeout", f"{int(timeout_s)}s", *extra, target]
    return subprocess.Popen(cmd, cwd=workdir, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)


def run_step(system: System, rate: int, step_s: float, call_ms: int, root: Path,
             max_setup_ms: float, attempt: int) -> Step:
    calls = int(rate * step_s)
    timeout_s = step_s + call_ms / 1000 + 15
    workdir = root / f"{system.name}-{rate}-{attempt}"
    xid0 = next_xid(system.db_url) if system.db_url else None
    cpu0, t0 = cpu_seconds(system.pid), time.monotonic()
    proc = _uac(system.target, rate, calls, call_ms, workdir, timeout_s, "-trace_rtt",
                "-rtt_freq", "1", "-max_recv_loops", "1000", "-max_sched_loops", "1000")
    try:
        proc.wait(timeout_s + 5)
    except subprocess.TimeoutExpired:  # overloaded: SIPp's own -timeout is not always kept
        pass
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    time.sleep(0.5)  # let the last BYEs finish before reading the CPU clock
    cpu = cpu_seconds(system.pid) - cpu0
    xid1 = next_xid(system.db_url) if system.db_url else None
    ok, failed, retrans = _stat_counts(workdir)
    commits = (round((xid1 - xid0) / max(ok, 1), 2)
               if xid0 is not None and xid1 is not None else None)
    rtts = _rtts(workdir)
    slow = min(ok, sum(1 for r in rtts if r > max_setup_ms))
    unfinished = max(0, calls - ok - failed)
    return Step(rate=rate, calls=calls, successful=ok - slow, failed=failed + unfinished + slow,
                slow=slow, retransmissions=retrans, p50_ms=_percentile(rtts, 0.5),
                p99_ms=_percentile(rtts, 0.99), cpu_ms_per_call=1000 * cpu / max(ok, 1),
                seconds=round(time.monotonic() - t0, 2), attempt=attempt,
                commits_per_call=commits)


def settle(systems: list[System], max_s: float = 20.0) -> None:
    """Wait (bounded) until no system still burns CPU on the calls of an overloaded step
    (idle, sippy's event loop alone takes ~7 % of a core: the bar is a quarter of one)."""
    deadline = time.monotonic() + max_s
    while time.monotonic() < deadline:
        before = [cpu_seconds(s.pid) for s in systems]
        time.sleep(0.5)
        if all(cpu_seconds(s.pid) - b < 0.125 for s, b in zip(systems, before, strict=True)):
            return


def ramp(systems: list[System], rates: list[int], step_s: float, call_ms: int, root: Path,
         max_setup_ms: float, retries: int) -> None:
    """Every system climbs the same ladder, rate by rate in turn, until a step fails."""
    for i, rate in enumerate(rates):
        order = systems if i % 2 == 0 else systems[::-1]  # neither always goes first
        for system in order:
            if not system.climbing:
                continue
            for attempt in range(1, retries + 2):
                settle(systems)
                step = run_step(system, rate, step_s, call_ms, root, max_setup_ms, attempt)
                system.steps.append(step)
                commits = ("" if step.commits_per_call is None
                           else f", {step.commits_per_call} commits/call")
                print(f"  {system.name:9} {rate:5d} cps: {step.successful}/{step.calls} ok, "
                      f"{step.failed} failed ({step.slow} slow), {step.retransmissions} "
                      f"retransmissions, INVITE->200 p50 {step.p50_ms:.1f} ms p99 "
                      f"{step.p99_ms:.1f} ms, {step.cpu_ms_per_call:.2f} ms CPU/call"
                      f"{commits}"
                      f"{'' if attempt == 1 else f' (attempt {attempt})'}", flush=True)
                if step.ok:
                    break
            system.climbing = step.ok
        if not any(s.climbing for s in systems):
            break


def memory_per_dialog(system: System, dialogs: int, root: Path) -> float:
    """RSS growth per concurrent call while ``dialogs`` calls are up at once (placed at 100
    cps, a rate both systems sustain)."""
    rate = min(100, dialogs)
    hold_ms = int(1000 * (dialogs / rate + 4))
    warmup = _uac(system.target, 10, 20, 200, root / f"{system.name}-warmup", 20)
    try:  # the first calls load code and fill caches: not per-call memory
        warmup.wait(25)
    finally:
        if warmup.poll() is None:
            warmup.kill()
            warmup.wait()
    base = rss_bytes(system.pid)
    proc = _uac(system.target, rate, dialogs, hold_ms, root / f"{system.name}-memory",
                hold_ms / 1000 + 30)
    try:
        time.sleep(dialogs / rate + 2)
        peak = rss_bytes(system.pid)
        proc.wait(timeout=hold_ms / 1000 + 60)
    except subprocess.TimeoutExpired:
        pass
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return (peak - base) / dialogs


def start_sipp_uas(port: int, root: Path) -> subprocess.Popen[bytes]:
    workdir = root / f"uas-{port}"
    workdir.mkdir(parents=True, exist_ok=True)
    return subprocess.Popen(["sipp", "-sf", str(SIPP_DIR / "uas.xml"), "-i", CARRIER, "-p",
                             str(port), "-nostdin", "-max_recv_loops", "1000"], cwd=workdir,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def start_contactor(root: Path, db_url: str,
                    far_port: int) -> tuple[subprocess.Popen[bytes], str]:
    sip_port = free_port("127.0.0.1")
    config = root / "contactor.toml"
    config.write_text(config_text(db_url, sip_port, far_port))
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    ready = root / "telephony.ready"
    proc = subprocess.Popen([sys.executable, "-m", "telephony", "--config", str(config),
                             "--data", str(root / "data"), "--media", "relay",
                             "--arg", "keepalive_s=3600", "--ready-file", str(ready)],
                            cwd=root, env=env, stdin=subprocess.PIPE,
                            stdout=(root / "telephony.log").open("w"),
                            stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 30
    while not ready.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError("telephony did not start:\n"
                               f"{(root / 'telephony.log').read_text()[-3000:]}")
        time.sleep(0.1)
    return proc, f"127.0.0.1:{sip_port}"


def start_sippy(far_port: int, root: Path) -> tuple[subprocess.Popen[bytes], str]:
    # sippy is the baseline only, and it installs a top-level ``tests`` package that would
    # shadow ours: it lives in a venv of its own.
    b2bua = SIPPY_VENV / "bin" / "b2bua"
    if not b2bua.exists():
        print(f"installing sippy into {SIPPY_VENV} for the comparison", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(SIPPY_VENV)], check=True)
        subprocess.run([str(SIPPY_VENV / "bin" / "pip"), "install", "-q", "sippy"], check=True)
    port = free_port("127.0.0.1")
    # No RADIUS (auth and accounting off) and errors-only logging: signalling only, like
    # Contactor in relay mode (which also journals every call to PostgreSQL). sippy's own
    # defaults otherwise (3 UDP sender and 3 receiver threads; no option of b2bua sets them).
    env = {**os.environ, "SIPLOG_LVL": "ERR"}
    log = (root / "sippy.log").open("w")
    proc = subprocess.Popen([str(b2bua), "--foreground=on", "--auth_enable=off",
                             "--acct_enable=off", "--sip_address=127.0.0.1",
                             f"--sip_port={port}", f"--static_route={CARRIER}:{far_port}",
                             f"--accept_ips={CARRIER}", f"--logfile={root / 'sippy.log'}"],
                            cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 20
    while not udp_port_taken("127.0.0.1", port):
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"sippy b2bua did not start:\n{(root / 'sippy.log').read_text()}")
        time.sleep(0.1)
    return proc, f"127.0.0.1:{port}"


def start_py_spy(pid: int, out: Path) -> subprocess.Popen[bytes]:
    """py-spy sampling ``pid`` (every thread, 100 Hz, without pausing it) into ``out``."""
    exe = Path(sys.executable).with_name("py-spy")
    if not exe.exists():
        raise SystemExit(f"--py-spy needs {exe}: pip install py-spy into the venv")
    return subprocess.Popen([str(exe), "record", "--pid", str(pid), "--rate", "100",
                             "--nonblocking", "--threads", "--format", "raw", "--output",
                             str(out)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()  # sippy's b2bua does not always stop on it: killed after 5 s
    try:
        proc.wait(5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    ap.add_argument("--rates", default=DEFAULT_RATES)
    ap.add_argument("--step-s", type=float, default=5.0)
    ap.add_argument("--call-ms", type=int, default=500)
    ap.add_argument("--dialogs", type=int, default=1000)
    ap.add_argument("--max-setup-ms", type=float, default=1000.0)
    ap.add_argument("--retries", type=int, default=1, help="re-runs of a failing step")
    ap.add_argument("--vs-sippy", action="store_true")
    ap.add_argument("--json", type=Path)
    ap.add_argument("--py-spy", type=Path, metavar="RAW",
                    help="sample the telephony process with py-spy during the ramp (needs "
                         "py-spy in the venv) and write its collapsed stacks to RAW")
    a = ap.parse_args()
    rates = sorted(int(r) for r in a.rates.split(","))
    root = Path(tempfile.mkdtemp(prefix="contactor-sipbench-"))
    root.chmod(0o711)  # the embedded PostgreSQL's user must traverse it
    procs: list[subprocess.Popen[bytes]] = []
    result: dict[str, object] = {"cpus": os.cpu_count(),
                                 "loadavg_start": list(os.getloadavg())}
    try:
        pg = start_embedded(root / "pg-data", durable=False)
        apply_migrations(pg.url)
        far_port = free_port(CARRIER)
        procs.append(start_sipp_uas(far_port, root))
        tel, target = start_contactor(root, pg.url, far_port)
        procs.append(tel)
        systems = [System("contactor", target, tel.pid, db_url=pg.url)]
        print(f"contactor (pid {tel.pid}) at {target}, far end {CARRIER}:{far_port}",
              flush=True)
        if a.vs_sippy:
            sippy_far = free_port(CARRIER)
            procs.append(start_sipp_uas(sippy_far, root))
            sippy, sippy_target = start_sippy(sippy_far, root)
            procs.append(sippy)
            systems.append(System("sippy", sippy_target, sippy.pid))
            print(f"sippy b2bua (pid {sippy.pid}) at {sippy_target}, far end "
                  f"{CARRIER}:{sippy_far}", flush=True)
        time.sleep(0.5)
        # Memory first: once an overloaded step has grown a heap, the allocator reuses it
        # and RSS no longer grows with the calls (both systems then showed ~0 bytes/call).
        per_dialog: dict[str, float] = {}
        for system in systems:
            settle(systems)
            per_dialog[system.name] = memory_per_dialog(system, a.dialogs, root)
            print(f"  {system.name:9} memory: {per_dialog[system.name] / 1024:.1f} KiB per "
                  f"call ({a.dialogs} calls up at once)", flush=True)
        spy = start_py_spy(tel.pid, a.py_spy) if a.py_spy else None
        try:
            ramp(systems, rates, a.step_s, a.call_ms, root, a.max_setup_ms, a.retries)
        finally:
            if spy is not None:
                spy.send_signal(signal.SIGINT)  # py-spy writes its file when interrupted
                spy.wait(30)
        for system in systems:
            prefix = "" if system.name == "contactor" else f"{system.name}_"
            result.update(system.figures(prefix))
            result[f"{prefix}bytes_per_dialog"] = round(per_dialog[system.name])
            result[f"{prefix}steps"] = [{**asdict(s), "ok": s.ok} for s in system.steps]
        if a.vs_sippy:
            mine, theirs = systems[0].best(), systems[1].best()
            result["ratio_vs_sippy"] = (round(mine.rate / theirs.rate, 2)
                                        if mine and theirs else None)
            result["top_rate_reached"] = [s.name for s in systems
                                          if s.best() and s.best() is s.steps[-1]]
    finally:
        for proc in reversed(procs):
            stop(proc)
        stop_embedded(root / "pg-data")
        result["loadavg_end"] = list(os.getloadavg())
        shutil.rmtree(root, ignore_errors=True)
    summary = {k: v for k, v in result.items() if not k.endswith("steps")}
    print(json.dumps(summary, indent=2))
    if "ratio_vs_sippy" in result:
        print(f"contactor / sippy max CPS: {result['ratio_vs_sippy']}")
    if a.json:
        a.json.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
