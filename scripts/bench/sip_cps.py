"""SIP calls per second through Contactor: SIPp UAC -> Contactor -> SIPp UAS, rising rates.

    python scripts/bench/sip_cps.py [--rates 50,100,...] [--step-s 6] [--json PATH] [--vs-sippy]

The telephony service runs alone (``python -m telephony``, relay mode: SDP passed through,
journal and snapshots in an embedded PostgreSQL with fsync off). A carrier's caller (SIPp on
127.0.0.2) dials a number routed ``external:`` back out through the trunk to a SIPp UAS, so
every call is a full B2BUA call: two dialogs, ~14 SIP messages, four journal events.

For each rate, SIPp places ``rate * step_s`` calls lasting ``--call-ms``; the highest rate
with fewer than 0.1 % failed calls (and every call placed) is ``max_cps``. A call counts as
failed when SIPp fails it, when it never completes, or when its INVITE->200 took longer than
``--max-setup-ms`` (an overloaded switch still connects calls, seconds late, thanks to
retransmissions: that is not a rate it sustains). INVITE->200 p50 and
p99 come from SIPp's response-time trace (``-trace_rtt``) at that rate; CPU per call from
the service's /proc times over the step. Memory per dialog: the service's RSS growth while
``--dialogs`` calls are up at once (each call is two dialogs; the figure is per call).

``--vs-sippy`` runs sippy's ``b2bua`` (the PyPI package ``sippy``, installed into .venv-sippy
for the benchmark only if missing) the same way in the same run and prints the ratio.
Bounded: a few minutes at most.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from store.embedded import start_embedded, stop_embedded  # noqa: E402
from store.migrations import apply_migrations  # noqa: E402

SIPP_DIR = Path(__file__).resolve().parent / "sipp"
CARRIER = "127.0.0.2"
NUMBER = "0612345678"  # routed external:+33612345678 through the trunk to the far end
MAX_FAILED = 0.001
TICK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


def free_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK  # utime + stime


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
    p50_ms: float
    p99_ms: float
    cpu_ms_per_call: float
    seconds: float

    @property
    def ok(self) -> bool:
        done = self.successful + self.failed
        return done >= self.calls and self.failed <= MAX_FAILED * self.calls


def _stat_counts(workdir: Path) -> tuple[int, int]:
    files = sorted(workdir.glob("*_.csv")) + sorted(workdir.glob("*stat*.csv"))
    for path in files:
        rows = list(csv.reader(path.open(), delimiter=";"))
        if len(rows) < 2:
            continue
        head, last = rows[0], rows[-1]
        idx = {name: i for i, name in enumerate(head)}
        if "SuccessfulCall(C)" in idx:
            return int(last[idx["SuccessfulCall(C)"]]), int(last[idx["FailedCall(C)"]])
    raise RuntimeError(f"no SIPp statistics in {workdir}")


def _rtts(workdir: Path) -> list[float]:
    out: list[float] = []
    for path in workdir.glob("*_rtt.csv"):
        for row in csv.reader(path.open(), delimiter=";"):
            if len(row) >= 2 and row[1].replace(".", "", 1).isdigit():
                out.append(float(row[1]))
    return out


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def run_uac(target: str, rate: int, calls: int, call_ms: int, workdir: Path,
            timeout_s: float) -> tuple[int, int, list[float]]:
    """(successful, failed, INVITE->200 ms of each answered call) of one SIPp run."""
    workdir.mkdir(parents=True, exist_ok=True)
    cmd = ["sipp", "-sf", str(SIPP_DIR / "uac.xml"), "-i", CARRIER, "-p",
           str(free_port(CARRIER)), "-s", NUMBER, "-r", str(rate), "-m", str(calls),
           "-d", str(call_ms), "-nostdin", "-trace_rtt", "-rtt_freq", "1", "-trace_stat",
           "-fd", "1", "-stf", str(workdir / "stat_.csv"), "-timeout", f"{int(timeout_s)}s",
           "-max_recv_loops", "1000", "-max_sched_loops", "1000", target]
    proc = subprocess.Popen(cmd, cwd=workdir, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        proc.wait(timeout_s + 5)
    except subprocess.TimeoutExpired:  # overloaded: SIPp's own -timeout is not always kept
        proc.kill()
        proc.wait()
    ok, failed = _stat_counts(workdir)
    return ok, failed, _rtts(workdir)


def ramp(name: str, target: str, pid: int, rates: list[int], step_s: float, call_ms: int,
         root: Path, max_setup_ms: float) -> list[Step]:
    steps: list[Step] = []
    for rate in rates:
        calls = int(rate * step_s)
        cpu0, t0 = cpu_seconds(pid), time.monotonic()
        ok, failed, rtts = run_uac(target, rate, calls, call_ms, root / f"{name}-{rate}",
                                   timeout_s=step_s + call_ms / 1000 + 15)
        time.sleep(0.5)  # let the last BYEs finish before reading the CPU clock
        cpu = cpu_seconds(pid) - cpu0
        slow = sum(1 for r in rtts if r > max_setup_ms)
        unfinished = max(0, calls - ok - failed)
        step = Step(rate=rate, calls=calls, successful=ok - min(slow, ok),
                    failed=failed + unfinished + slow, p50_ms=_percentile(rtts, 0.5),
                    p99_ms=_percentile(rtts, 0.99), cpu_ms_per_call=1000 * cpu / max(ok, 1),
                    seconds=time.monotonic() - t0)
        steps.append(step)
        print(f"  {name:9} {rate:5d} cps: {step.successful}/{calls} ok, {step.failed} failed, "
              f"INVITE->200 p50 {step.p50_ms:.1f} ms p99 {step.p99_ms:.1f} ms, "
              f"{step.cpu_ms_per_call:.2f} ms CPU/call", flush=True)
        if not step.ok:
            break
    return steps


def best(steps: list[Step]) -> Step | None:
    good = [s for s in steps if s.ok]
    return good[-1] if good else None


def memory_per_dialog(target: str, pid: int, dialogs: int, root: Path) -> float:
    """RSS growth per concurrent call while ``dialogs`` calls are up at once."""
    rate = min(200, dialogs)
    hold_ms = int(1000 * (dialogs / rate + 4))
    base = rss_bytes(pid)
    workdir = root / "memory"
    workdir.mkdir(parents=True, exist_ok=True)
    cmd = ["sipp", "-sf", str(SIPP_DIR / "uac.xml"), "-i", CARRIER, "-p",
           str(free_port(CARRIER)), "-s", NUMBER, "-r", str(rate), "-m", str(dialogs), "-d",
           str(hold_ms), "-nostdin", "-trace_stat", "-fd", "1", "-stf",
           str(workdir / "stat_.csv"), "-timeout", f"{int(hold_ms / 1000 + 30)}s", target]
    proc = subprocess.Popen(cmd, cwd=workdir, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    time.sleep(dialogs / rate + 2)
    peak = rss_bytes(pid)
    proc.wait(timeout=hold_ms / 1000 + 60)
    return (peak - base) / dialogs


def start_sipp_uas(port: int, root: Path) -> subprocess.Popen[bytes]:
    workdir = root / f"uas-{port}"
    workdir.mkdir(parents=True, exist_ok=True)
    return subprocess.Popen(["sipp", "-sf", str(SIPP_DIR / "uas.xml"), "-i", CARRIER, "-p",
                             str(port), "-nostdin", "-max_recv_loops", "1000"], cwd=workdir,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def start_contactor(root: Path, db_url: str) -> tuple[subprocess.Popen[bytes], str, int]:
    sip_port, far_port = free_port("127.0.0.1"), free_port(CARRIER)
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
    return proc, f"127.0.0.1:{sip_port}", far_port


SIPPY_VENV = Path(__file__).resolve().parents[2] / ".venv-sippy"


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
    # Contactor in relay mode (which also journals every call to PostgreSQL).
    env = {**os.environ, "SIPLOG_LVL": "ERR"}
    proc = subprocess.Popen([str(b2bua), "--foreground=on", "--auth_enable=off",
                             "--acct_enable=off", "--sip_address=127.0.0.1",
                             f"--sip_port={port}", f"--static_route={CARRIER}:{far_port}",
                             f"--accept_ips={CARRIER}", f"--logfile={root / 'sippy.log'}"],
                            cwd=root, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    time.sleep(1.5)
    if proc.poll() is not None:
        raise RuntimeError("sippy b2bua did not start")
    return proc, f"127.0.0.1:{port}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rates", default="25,50,100,150,200,250,300,400,500,600,800")
    ap.add_argument("--step-s", type=float, default=5.0)
    ap.add_argument("--call-ms", type=int, default=500)
    ap.add_argument("--dialogs", type=int, default=1000)
    ap.add_argument("--max-setup-ms", type=float, default=1000.0)
    ap.add_argument("--vs-sippy", action="store_true")
    ap.add_argument("--json", type=Path)
    a = ap.parse_args()
    rates = [int(r) for r in a.rates.split(",")]
    root = Path(tempfile.mkdtemp(prefix="contactor-sipbench-"))
    root.chmod(0o711)  # the embedded PostgreSQL's user must traverse it
    procs: list[subprocess.Popen[bytes] | subprocess.Popen[str]] = []
    result: dict[str, object] = {}
    try:
        pg = start_embedded(root / "pg-data", durable=False)
        apply_migrations(pg.url)
        tel, target, far_port = start_contactor(root, pg.url)
        procs.append(tel)
        procs.append(start_sipp_uas(far_port, root))
        time.sleep(0.5)
        print(f"contactor (pid {tel.pid}) at {target}, far end {CARRIER}:{far_port}",
              flush=True)
        steps = ramp("contactor", target, tel.pid, rates, a.step_s, a.call_ms, root,
                     a.max_setup_ms)
        top = best(steps)
        per_dialog = memory_per_dialog(target, tel.pid, a.dialogs, root)
        print(f"  memory: {per_dialog / 1024:.1f} KiB per call ({a.dialogs} calls up at once)")
        result = {
            "max_cps": top.rate if top else 0,
            "invite_200_p50_ms": round(top.p50_ms, 2) if top else None,
            "invite_200_p99_ms": round(top.p99_ms, 2) if top else None,
            "cpu_ms_per_call": round(top.cpu_ms_per_call, 3) if top else None,
            "bytes_per_dialog": round(per_dialog),
            "steps": [asdict(s) for s in steps],
        }
        if a.vs_sippy:
            sippy, sippy_target = start_sippy(far_port, root)
            procs.append(sippy)
            print(f"sippy b2bua (pid {sippy.pid}) at {sippy_target}", flush=True)
            sippy_steps = ramp("sippy", sippy_target, sippy.pid, rates, a.step_s, a.call_ms,
                               root, a.max_setup_ms)
            sippy_top = best(sippy_steps)
            sippy_cps = sippy_top.rate if sippy_top else 0
            result.update(
                sippy_max_cps=sippy_cps,
                sippy_invite_200_p50_ms=round(sippy_top.p50_ms, 2) if sippy_top else None,
                sippy_invite_200_p99_ms=round(sippy_top.p99_ms, 2) if sippy_top else None,
                sippy_cpu_ms_per_call=round(sippy_top.cpu_ms_per_call, 3) if sippy_top else None,
                ratio_vs_sippy=round(result["max_cps"] / sippy_cps, 2) if sippy_cps else None,  # type: ignore[operator]
                sippy_steps=[asdict(s) for s in sippy_steps],
            )
    finally:
        for proc in reversed(procs):
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
        stop_embedded(root / "pg-data")
        shutil.rmtree(root, ignore_errors=True)
    summary = {k: v for k, v in result.items() if not k.endswith("steps")}
    print(json.dumps(summary, indent=2))
    if "ratio_vs_sippy" in result:
        print(f"contactor / sippy max CPS: {result['ratio_vs_sippy']}")
    if a.json:
        a.json.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
