"""Tie a supervised process's life to its parent's.

Thespian forks each actor from its parent actor and never cleans up after a parent that was
SIGKILLed: its children live on as orphans (re-parented to init or a subreaper).  Each of our
actor processes therefore asks the kernel to SIGKILL it when its parent dies
(``prctl(PR_SET_PDEATHSIG)``, Linux) and, as a fallback for other systems or a parent that
died before the prctl call, runs a watchdog thread that exits when the parent pid changes.

PR_SET_PDEATHSIG fires when the *thread* that forked us exits; Thespian forks children from
its main thread, which lives as long as the actor does.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import signal
import sys
import threading
from pathlib import Path

PR_SET_NAME = 15
PR_SET_PDEATHSIG = 1
WATCHDOG_PERIOD_S = 0.25


def _libc() -> ctypes.CDLL | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    except OSError:
        return None


def set_parent_death_signal(sig: int = signal.SIGKILL) -> bool:
    """Ask the kernel to send ``sig`` to this process when its parent dies (Linux only)."""
    libc = _libc()
    if libc is None:
        return False
    return bool(libc.prctl(PR_SET_PDEATHSIG, ctypes.c_ulong(sig), 0, 0, 0) == 0)


def set_process_name(name: str) -> None:
    """Name shown by ``ps -o comm``/``top`` (15 bytes; the command line is unchanged)."""
    libc = _libc()
    if libc is not None:
        libc.prctl(PR_SET_NAME, ctypes.c_char_p(name.encode()[:15]), 0, 0, 0)


def die_with_parent(parent_pid: int | None = None, *, watchdog: bool = True) -> None:
    """Exit at once when the parent process goes away.

    ``parent_pid`` is the pid the parent announced; if we were already re-parented when this
    runs (the parent died between fork and here), the process exits immediately.  With
    ``watchdog=False`` the caller polls :func:`parent_changed` itself.
    """
    expected = os.getppid() if parent_pid is None else parent_pid
    set_parent_death_signal(signal.SIGKILL)
    if os.getppid() != expected:
        os._exit(70)
    if not watchdog:
        return
    thread = threading.Thread(target=_watch_parent, args=(expected,),
                                name="parent-watchdog", daemon=True)
    thread.start()


def _watch_parent(expected: int) -> None:
    stop = threading.Event()
    while not stop.wait(WATCHDOG_PERIOD_S):
        if os.getppid() != expected:
            # No cleanup: the supervisor that would coordinate it is gone, and a clean
            # shutdown of Thespian would block trying to tell the dead parent.
            os._exit(70)


def pid_alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie, exited but not yet reaped, counts as gone)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="ascii", errors="replace")
    except OSError:
        return True  # no procfs: trust the signal probe
    # Field 3 follows the parenthesised command name, which may itself hold spaces.
    return stat.rpartition(")")[2].split()[:1] != ["Z"]
