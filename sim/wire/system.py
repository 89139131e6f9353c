"""The center's own figures during a wire-level run: CPU and memory of its processes.

The processes are the ones ``contactor status --json`` lists (supervisor, core, actors,
telephony, media workers, stats) plus the embedded PostgreSQL and its backends; CPU seconds
and resident memory are read from ``/proc`` (Linux) at the start, at each progress line
(peak memory) and at the end.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


@dataclass(frozen=True, slots=True, kw_only=True)
class ProcessFigures:
    name: str
    pid: int
    cpu_s: float
    peak_rss_mib: float


def center_status(config_path: Path, data_dir: Path, timeout: float = 20.0) -> dict[str, object]:
    """``contactor status --json`` of the center (raises RuntimeError if it is not running)."""
    done = subprocess.run(
        [sys.executable, "-m", "cli.main", "status", "--json", "--data", str(data_dir),
         "--config", str(config_path)],
        capture_output=True, text=True, timeout=timeout, check=False,
    )  # fmt: skip
    if done.returncode != 0 or not done.stdout.strip():
        raise RuntimeError(f"contactor status --json failed ({done.returncode}): "
                           f"{done.stderr.strip()[:300]}")  # fmt: skip
    doc: dict[str, object] = json.loads(done.stdout)
    return doc


def process_ids(status: dict[str, object]) -> dict[str, int]:
    """Process name -> pid from a status document, PostgreSQL backends included."""
    pids: dict[str, int] = {}
    sup = status.get("supervisor")
    if isinstance(sup, dict) and sup.get("pid"):
        pids["supervisor"] = int(sup["pid"])
    for p in status.get("processes") or []:  # type: ignore[attr-defined]
        if isinstance(p, dict) and p.get("pid"):
            pids[str(p["name"])] = int(p["pid"])
    db = status.get("database")
    if isinstance(db, dict) and db.get("pid"):
        pg = int(db["pid"])
        pids["postgres"] = pg
        for child in _children(pg):
            pids[f"postgres-{child}"] = child
    return pids


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(entry.name))
    return found


def cpu_and_rss(pid: int) -> tuple[float, float] | None:
    """CPU seconds (user + system) and resident MiB of ``pid``; None once it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    cpu = (int(fields[11]) + int(fields[12])) / _TICKS
    rss = int(fields[21]) * _PAGE / (1024 * 1024)
    return cpu, rss


@dataclass
class CenterSampler:
    """CPU used by each center process since :meth:`start`, and its peak memory."""

    pids: dict[str, int] = field(default_factory=dict)
    cpu0: dict[str, float] = field(default_factory=dict)
    cpu: dict[str, float] = field(default_factory=dict)
    peak: dict[str, float] = field(default_factory=dict)

    def start(self, pids: dict[str, int]) -> None:
        self.pids = dict(pids)
        for name, pid in pids.items():
            got = cpu_and_rss(pid)
            if got is not None:
                self.cpu0[name] = self.cpu[name] = got[0]
                self.peak[name] = got[1]

    def sample(self) -> None:
        for name, pid in self.pids.items():
            got = cpu_and_rss(pid)
            if got is None:
                continue
            self.cpu[name] = got[0]
            self.peak[name] = max(self.peak.get(name, 0.0), got[1])

    def figures(self) -> list[ProcessFigures]:
        """Per process, PostgreSQL backends folded into one ``postgres`` row."""
        rows: dict[str, list[float]] = {}
        for name, pid in self.pids.items():
            key = "postgres" if name.startswith("postgres") else name
            row = rows.setdefault(key, [float(pid), 0.0, 0.0])
            if key == name:
                row[0] = float(pid)
            row[1] += self.cpu.get(name, 0.0) - self.cpu0.get(name, 0.0)
            row[2] += self.peak.get(name, 0.0)
        return [ProcessFigures(name=k, pid=int(v[0]), cpu_s=round(v[1], 2),
                               peak_rss_mib=round(v[2], 1)) for k, v in rows.items()]
