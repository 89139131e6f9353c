from __future__ import annotations

import os
import pwd
import shutil
import signal
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psycopg
import pytest

from store.db import database_url
from store.embedded import (
    DEFAULT_SERVER_USER,
    EmbeddedPostgresError,
    _Account,
    _check_reachable,
    embedded_status,
    start_embedded,
    stop_embedded,
)


def _owner_uid(pid: int) -> int:
    return os.stat(f"/proc/{pid}").st_uid


def _wait_gone(pid: int, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] == "Z":
                return  # a zombie is dead, merely not yet reaped
        except FileNotFoundError:
            return
        time.sleep(0.02)
    raise AssertionError(f"process {pid} still alive")


def test_start_reuse_stop_restart(pg_data_dir: Path) -> None:
    assert embedded_status(pg_data_dir) is None
    first = start_embedded(pg_data_dir)
    # Never as root: as root the dedicated system user runs it.
    expected = pwd.getpwnam(DEFAULT_SERVER_USER).pw_uid if os.geteuid() == 0 else os.getuid()
    assert _owner_uid(first.pid) == expected != 0
    assert (pg_data_dir / "pg" / "password").stat().st_mode & 0o777 == 0o600
    wrong = first.url.replace(first.password, "not-the-password")
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        psycopg.connect(wrong).close()
    with psycopg.connect(first.url) as conn:
        conn.execute("CREATE TABLE kept (x int)")
        conn.execute("INSERT INTO kept VALUES (42)")

    again = start_embedded(pg_data_dir)
    assert again == first  # same postmaster, same port, same password
    assert embedded_status(pg_data_dir) == first

    assert stop_embedded(pg_data_dir) is True
    _wait_gone(first.pid)
    assert embedded_status(pg_data_dir) is None
    assert stop_embedded(pg_data_dir) is False

    restarted = start_embedded(pg_data_dir)
    assert restarted.pid != first.pid
    assert restarted.port == first.port  # the remembered port was still free
    with psycopg.connect(restarted.url) as conn:
        assert conn.execute("SELECT x FROM kept").fetchone() == (42,)


def test_concurrent_starts_then_restart_after_postmaster_crash(pg_data_dir: Path) -> None:
    with ThreadPoolExecutor(3) as pool:  # racing callers: one initdb, one server
        clusters = list(pool.map(lambda _: start_embedded(pg_data_dir), range(3)))
    assert clusters[0] == clusters[1] == clusters[2]
    cluster = clusters[0]
    with psycopg.connect(cluster.url, autocommit=True) as conn:
        conn.execute("CREATE TABLE t (x int)")
        conn.execute("INSERT INTO t VALUES (7)")
    os.kill(cluster.pid, signal.SIGKILL)
    _wait_gone(cluster.pid)
    assert embedded_status(pg_data_dir) is None

    recovered = start_embedded(pg_data_dir)
    assert recovered.pid != cluster.pid
    with psycopg.connect(recovered.url) as conn:
        assert conn.execute("SELECT x FROM t").fetchone() == (7,)


def test_database_url_prefers_configured_url(tmp_path: Path) -> None:
    assert database_url("postgresql://db.example/contactor", tmp_path) == (
        "postgresql://db.example/contactor"
    )
    assert not (tmp_path / "pg").exists()  # nothing embedded was started


def _as_unprivileged_child(data_dir: Path, uid: int, gid: int) -> tuple[int, int]:
    """Fork, drop to ``uid`` (the venv's interpreter may be unreachable for that user, so
    no exec), start + stop a cluster there; returns (caller uid, server uid)."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: never return into pytest
        status = 1
        try:
            os.close(read_end)
            if os.geteuid() != uid:
                os.setgroups([])
                os.setgid(gid)
                os.setuid(uid)
            cluster = start_embedded(data_dir)
            with psycopg.connect(cluster.url) as conn:
                conn.execute("SELECT 1")
            server_uid = _owner_uid(cluster.pid)
            stop_embedded(data_dir)
            os.write(write_end, f"{os.geteuid()} {server_uid}".encode())
            status = 0
        finally:
            os._exit(status)
    os.close(write_end)
    with os.fdopen(read_end) as reader:
        output = reader.read()
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    caller_uid, server_uid = map(int, output.split())
    return caller_uid, server_uid


def test_unprivileged_caller_runs_server_as_itself() -> None:
    """As root, a non-root caller is simulated with `nobody`; otherwise it is us."""
    data_dir = Path(tempfile.mkdtemp(prefix="contactor-pgu-"))
    data_dir.chmod(0o755)
    if os.geteuid() == 0:
        entry = pwd.getpwnam("nobody")
        uid, gid = entry.pw_uid, entry.pw_gid
        os.chown(data_dir, uid, gid)
    else:
        uid, gid = os.getuid(), os.getgid()
    try:
        caller_uid, server_uid = _as_unprivileged_child(data_dir, uid, gid)
        assert caller_uid == server_uid == uid != 0
        assert not (data_dir / "pg" / "data" / "postmaster.pid").exists()  # stopped
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)


def test_unreachable_data_dir_is_reported() -> None:
    nobody = pwd.getpwnam("nobody")
    base = Path(tempfile.mkdtemp(prefix="contactor-reach-"))
    base.chmod(0o755)
    closed = base / "closed"
    target = closed / "pg"
    target.mkdir(parents=True)
    closed.chmod(0o700)
    account = _Account("nobody", nobody.pw_uid, nobody.pw_gid)
    with pytest.raises(EmbeddedPostgresError, match=rf"cannot traverse {closed} \(mode 0o700\)"):
        _check_reachable(target, account)
    closed.chmod(0o711)
    _check_reachable(target, account)
    # The calling user itself is never checked.
    _check_reachable(target, _Account(None, os.getuid(), os.getgid()))
    shutil.rmtree(base)
