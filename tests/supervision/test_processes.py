"""Real process trees under Thespian: restarts, escalation, orphans, isolation, cleanup."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from pathlib import Path

from supervision.control import Control, is_running, last_failure
from supervision.lifeline import pid_alive
from supervision.messages import StatusReply
from supervision.spec import ChildSpec, SupervisorSpec
from tests.supervision.procs import StartCenter, daemons, wait_until

SERVICES = "tests.supervision.services"


def child(child_id: str, main: str = "steady", **kw: object) -> ChildSpec:
    return ChildSpec(id=child_id, start=f"{SERVICES}:{main}", **kw)  # type: ignore[arg-type]


def steady_tree(*ids: str, **kw: object) -> SupervisorSpec:
    return SupervisorSpec(children=tuple(child(i) for i in ids), **kw)  # type: ignore[arg-type]


def by_name(status: StatusReply, name: str) -> dict[str, object]:
    c = next(c for c in status.children if c.name == name)
    return {"pid": c.pid, "state": c.state, "restarts": c.restarts, "stats": c.stats,
            "last_error": c.last_error}


def test_kill_9_of_a_service_is_back_and_running_within_a_second(
        start_center: StartCenter) -> None:
    control = start_center(steady_tree("a", "b"))
    before = control.wait_running(10.0)
    victim, bystander = by_name(before, "a"), by_name(before, "b")
    assert victim["stats"] == {"actors_by_kind": {"call": 0, "agent": 0}, "pid": victim["pid"]}

    os.kill(int(victim["pid"]), signal.SIGKILL)  # type: ignore[call-overload]

    def back() -> bool:
        now = by_name(control.status(), "a")
        return now["state"] == "running" and now["pid"] not in (None, victim["pid"])

    took = wait_until(back, 5.0, "a to be running again")
    assert took < 1.0, f"restart took {took:.3f}s"
    after = control.status()
    assert by_name(after, "a")["restarts"] == 1
    assert "killed" in str(by_name(after, "a")["last_error"])
    assert by_name(after, "b") == bystander  # one_for_one: b untouched


def test_intensity_exceeded_escalates_and_shuts_everything_down(
        start_center: StartCenter) -> None:
    spec = SupervisorSpec(children=(child("a"), child("crashy", "crash", args={"after_s": 0.02})),
                          intensity=2, period_s=30.0)
    control = start_center(spec)
    data = control.info.data_dir
    wait_until(lambda: not is_running(data), 10.0, "the center to give up")
    wait_until(lambda: not daemons(data), 5.0, "every process to exit")
    failure = last_failure(data)
    assert failure is not None
    assert "crashy failed (RuntimeError: crashy crashed on purpose)" in failure
    assert "exceed the intensity of 2" in failure


def test_services_die_with_a_sigkilled_supervisor(start_center: StartCenter) -> None:
    control = start_center(steady_tree("a", "b"))
    status = control.wait_running(10.0)
    services = [c.pid for c in status.children if c.pid]
    assert len(services) == 2
    os.kill(status.supervisor_pid, signal.SIGKILL)
    wait_until(lambda: not any(pid_alive(p) for p in services), 2.0, "orphans to die")


def test_everything_dies_with_a_sigkilled_admin(start_center: StartCenter) -> None:
    control = start_center(steady_tree("a"))
    status = control.wait_running(10.0)
    data = control.info.data_dir
    everything = daemons(data)
    assert status.admin_pid in everything and len(everything) >= 4  # + logger, root, a
    os.kill(status.admin_pid, signal.SIGKILL)
    wait_until(lambda: not daemons(data), 3.0, "logger, supervisor and service to die")


def test_shutdown_leaves_no_daemon_and_no_run_file(start_center: StartCenter) -> None:
    control = start_center(steady_tree("a", "b"))
    control.wait_running(10.0)
    data = control.info.data_dir
    assert daemons(data)
    assert control.shutdown(timeout=10) is None
    assert daemons(data) == []
    assert not is_running(data) and not (data / "run" / "center.json").exists()
    logs = (data / "logs" / "a.log").read_text()
    assert '"event": "service.finished"' in logs  # drained, not killed


def test_two_data_dirs_run_side_by_side(start_center: StartCenter) -> None:
    one = start_center(steady_tree("a"), name="one")
    two = start_center(steady_tree("a"), name="two")
    assert one.info.admin_port != two.info.admin_port
    s1, s2 = one.wait_running(10.0), two.wait_running(10.0)
    assert {s1.admin_pid, s1.supervisor_pid}.isdisjoint({s2.admin_pid, s2.supervisor_pid})
    one.shutdown(timeout=10)
    assert daemons(one.info.data_dir) == []
    assert two.status().phase == "running"
    assert by_name(two.status(), "a")["pid"] == s2.children[0].pid


def test_thespian_listens_on_loopback_only(start_center: StartCenter) -> None:
    control = start_center(steady_tree("a"))
    control.wait_running(10.0)
    ours = set(daemons(control.info.data_dir))
    listening = subprocess.run(["ss", "-ltnpH"], capture_output=True, text=True,
                               check=True).stdout.splitlines()
    addresses = [line.split()[3] for line in listening
                 if ours & {int(p) for p in re.findall(r"pid=(\d+)", line)}]
    assert f"127.0.0.1:{control.info.admin_port}" in addresses
    assert len(addresses) >= 4  # admin, logger, supervisor, service
    assert all(a.startswith("127.0.0.1:") for a in addresses), addresses


def test_restart_types_in_real_processes(start_center: StartCenter) -> None:
    spec = SupervisorSpec(children=(
        child("once", "finish", restart="transient"),
        child("flaky", "crash", restart="transient", args={"after_s": 0.2}),
        child("a"),
    ), intensity=50, period_s=5.0)
    control = start_center(spec)

    def settled() -> bool:
        status = control.status()
        return (by_name(status, "once")["state"] == "stopped"
                and int(by_name(status, "flaky")["restarts"]) >= 1)  # type: ignore[call-overload]

    wait_until(settled, 10.0, "the transient children to settle")
    status = control.status()
    assert by_name(status, "once")["restarts"] == 0 and by_name(status, "once")["pid"] is None
    assert "crashed on purpose" in str(by_name(status, "flaky")["last_error"])
    assert by_name(status, "a")["state"] == "running"


def test_stop_cancels_laggards_and_kills_blocked_processes(start_center: StartCenter) -> None:
    spec = SupervisorSpec(children=(
        child("lazy", "ignores_stop", shutdown_s=0.2),
        child("stuck", "blocks_forever", shutdown_s=0.2),
    ))
    control = start_center(spec)
    status = control.wait_running(10.0)
    stuck = by_name(status, "stuck")["pid"]
    started = time.monotonic()
    assert control.stop_tree(timeout=20) is None
    assert time.monotonic() - started < 6.0
    assert not pid_alive(int(stuck))  # type: ignore[call-overload]
    logs = (control.info.data_dir / "logs")
    assert '"event": "service.cancelled"' in (logs / "lazy.log").read_text()
    assert '"event": "child.kill"' in (logs / "supervisor.log").read_text()


def test_operator_restart(start_center: StartCenter) -> None:
    control = start_center(steady_tree("a", "b"))
    before = by_name(control.wait_running(10.0), "a")["pid"]
    control.restart("a")

    def restarted() -> bool:
        now = by_name(control.status(), "a")
        return now["state"] == "running" and now["pid"] != before

    wait_until(restarted, 5.0, "a to restart")
    assert by_name(control.status(), "a")["restarts"] == 1


def test_the_tree_stops_when_its_foreground_owner_dies(start_center: StartCenter) -> None:
    owner = subprocess.Popen(["sleep", "60"])
    try:
        control = start_center(steady_tree("a"), owner_pid=owner.pid)
        control.wait_running(10.0)
        data: Path = control.info.data_dir
    finally:
        owner.kill()
        owner.wait()
    wait_until(lambda: not daemons(data), 5.0, "the center to stop after its owner died")
    assert isinstance(control, Control)
