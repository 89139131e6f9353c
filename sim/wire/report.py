"""A wire-level run for people: progress lines, the KPI table, calls, CDRs and system figures."""

from __future__ import annotations

from sim.report import kpi_lines
from sim.wire.result import WireProgress, WireResult

MAX_LISTED = 20


def progress_line(p: WireProgress) -> str:
    return (f"  wall {p.wall_s:6.1f} s  placed {p.placed:5d}  up {p.up:4d} (ivr {p.ivr:3d}, "
            f"queued {p.queued:3d}, talking {p.talking:3d})  answered {p.answered:5d}  "
            f"abandoned {p.abandoned:4d}  failed {p.failed:3d}  peak {p.peak_up:4d}")  # fmt: skip


def _num(x: float | None, unit: str, digits: int = 1) -> str:
    return "-" if x is None else f"{x:,.{digits}f} {unit}"


def render(r: WireResult) -> str:
    c = r.calls
    a = r.accounting
    k = r.kpis
    lines = [
        f"scenario: {r.scenario}  (wire level, seed {r.seed}, {r.agents} agents, {c.placed} "
        f"calls, {r.run_s:.1f} s; KPIs from the center's journal over the whole run)",
        "",
        *kpi_lines(k, r.erlang),
        "",
        "Calls (as the simulated callers saw them)",
        f"  placed {c.placed}   answered {c.answered}   abandoned {c.abandoned}   failed "
        f"{c.failed}   cut at the end {c.cut}",
        f"  peak concurrent calls {c.peak_concurrent} (at {c.peak_at_s:.1f} s)   agent phones: "
        f"{c.phone_calls} offered, {c.phone_missed} missed",
        f"  INVITE -> answer p50 {_num(c.invite_answer_p50_ms, 'ms')}   p99 "
        f"{_num(c.invite_answer_p99_ms, 'ms')}   INVITE -> agent p50 "
        f"{_num(c.to_agent_p50_s, 's')}",
        f"  DTMF by SIP INFO {c.dtmf_info}, by RFC 4733 {c.dtmf_rfc4733}   RTP packets sent "
        f"{c.rtp_sent:,}, received {c.rtp_received:,}   answered with media both ways "
        f"{c.talking_with_media}",
        "",
        f"CDRs: {a.in_journal} of {a.placed} calls in the journal (call.created .. call.ended), "
        f"{a.in_reports} in report_call (waited {a.waited_s:.1f} s for the projector)",
    ]
    if a.missing:
        lines.append(f"  MISSING: {len(a.missing)} call(s) not accounted for:")
        lines.extend(f"    {m}" for m in a.missing[:MAX_LISTED])
        if len(a.missing) > MAX_LISTED:
            lines.append(f"    ... and {len(a.missing) - MAX_LISTED} more (see --json)")
    else:
        lines.append("  every call placed is accounted for")
    if a.mismatched:
        lines.append(f"  outcome differs from the CDR for {len(a.mismatched)} call(s):")
        lines.extend(f"    {m}" for m in a.mismatched[:MAX_LISTED])
    lines += [
        "",
        f"Center processes (contactor status --json; CPU over the run, peak resident memory; "
        f"total {r.center_cpu_s:.1f} s CPU, {r.center_rss_mib:.0f} MiB)",
    ]
    for p in sorted(r.center, key=lambda p: -p.cpu_s):
        lines.append(f"  {p.name:<12} pid {p.pid:>7}   CPU {p.cpu_s:7.2f} s   "
                     f"RSS {p.peak_rss_mib:7.1f} MiB")  # fmt: skip
    lines.append(f"Simulator: CPU {r.sim_cpu_s:.1f} s   peak RSS {r.sim_peak_rss_mib:.0f} MiB   "
                 f"RTP tick late p99 {_num(r.rtp_tick_late_p99_ms, 'ms')}")  # fmt: skip
    if r.errors:
        lines.append(f"  ERRORS: {len(r.errors)}, first: {r.errors[0]}")
    return "\n".join(lines)
