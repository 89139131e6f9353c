"""Thespian set-up: which system base, which ports, which addresses, and two patches.

Thespian's TCP transport pickles messages and, left alone, listens on *every* interface
(``IPActorAddress`` binds ``('', port)`` whatever address it advertises; neither a
capability nor ``THESPIAN_BASE_IPADDR`` changes that).  A pickle listener reachable from
the network is remote code execution, so :func:`install` patches the bind address to the
advertised one, and :func:`prepare_environment` makes the advertised address
``127.0.0.1`` unless the operator chose a private interface for a multi-host convention.
Verify with ``ss -ltnp``.

The second patch makes Thespian's logger process die with the admin, like our actors do
(Thespian starts it as a plain child and never looks back).  Both patches must be installed
before the ``ActorSystem`` is created: the admin, the logger and every actor are forked
from that process and inherit them.  ``install`` refuses to run against a Thespian whose
internals moved, rather than silently listening on all interfaces.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

from supervision.lifeline import set_parent_death_signal, set_process_name

SYSTEM_BASE = "multiprocTCPBase"
DEFAULT_BIND_HOST = "127.0.0.1"
#: Thespian global name of the root supervisor in each center's actor system
ROOT_NAME = "contactor-root"
_PATCHED = "_contactor_patched"


class ActorSystemSetupError(RuntimeError):
    """Thespian cannot be set up safely (unexpected version, unusable address)."""


def install() -> None:
    """Patch Thespian in this process (idempotent); see the module docstring."""
    from thespian.system import multiprocCommon
    from thespian.system.transport import IPBase

    address_class = getattr(IPBase, "IPActorAddress", None)
    if address_class is None or not isinstance(address_class.__dict__.get("bindArgs"),
                                               property):
        raise ActorSystemSetupError(
            "thespian.system.transport.IPBase.IPActorAddress.bindArgs changed; cannot force "
            "Thespian to listen on the loopback interface (check the thespian version)")
    if not getattr(address_class, _PATCHED, False):
        address_class.bindArgs = property(_bind_to_advertised_address)
        setattr(address_class, _PATCHED, True)

    for name, wrapper in (("startupASLogger", _logger_entry), ("startAdmin", _admin_entry)):
        original = getattr(multiprocCommon, name, None)
        if original is None:
            raise ActorSystemSetupError(f"thespian.system.multiprocCommon.{name} is missing; "
                                        "cannot tie Thespian's processes to their parents")
        if not getattr(original, _PATCHED, False):
            patched = wrapper(original)
            setattr(patched, _PATCHED, True)
            setattr(multiprocCommon, name, patched)


def _bind_to_advertised_address(self: Any) -> tuple[tuple[Any, ...]]:
    host, *rest = self.bindname
    if not host:
        host = self.sockname[0]
    return ((host, *rest),)


def _logger_entry(original: Callable[..., Any]) -> Callable[..., Any]:
    def start_logger(*args: Any, **kwargs: Any) -> Any:
        set_parent_death_signal()
        set_process_name("ctr:thesp-log")
        return original(*args, **kwargs)

    return start_logger


def _admin_entry(original: Callable[..., Any]) -> Callable[..., Any]:
    def start_admin(*args: Any, **kwargs: Any) -> Any:
        set_process_name("ctr:admin")
        return original(*args, **kwargs)

    return start_admin


def prepare_environment(bind_host: str, log_dir: Path) -> None:
    """Environment read by Thespian in this process and everything forked from it."""
    if bind_host in ("", "0.0.0.0"):
        raise ActorSystemSetupError(
            "Thespian must listen on one specific address (127.0.0.1 or a private "
            f"interface), not {bind_host!r}: its TCP transport accepts pickles")
    os.environ["THESPIAN_BASE_IPADDR"] = bind_host
    log_dir.mkdir(parents=True, exist_ok=True)
    os.environ["THESPLOG_FILE"] = str(log_dir / "thespian.log")
    os.environ.setdefault("THESPLOG_THRESHOLD", "WARNING")
    from thespian.system.transport.IPBase import thisSystem

    thisSystem.add_local_addr(bind_host)  # read at import; keep it consistent


def capabilities(admin_port: int, *, convention: str | None = None,
                 extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """Capabilities of a center's actor system.

    ``convention`` is ``"leader-host:port"`` for a multi-host install (see
    docs/supervision.md); ``extra`` carries placement capabilities (``contactor.host``...).
    """
    caps: dict[str, Any] = {"Admin Port": admin_port, "Process Startup Method": "fork"}
    if convention:
        caps["Convention Address.IPv4"] = convention
    caps.update(extra or {})
    return caps


def free_port(host: str = DEFAULT_BIND_HOST) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        port: int = probe.getsockname()[1]
    return port


def address_of(host: str, port: int) -> Any:
    """The Thespian address of an actor listening on ``host:port``."""
    from thespian.system.transport.TCPTransport import TCPTransport

    return TCPTransport.getAddressFromString((host, port))


def address_endpoint(address: Any) -> tuple[str, int]:
    host, port = address.addressDetails.sockname[:2]
    return str(host), int(port)
