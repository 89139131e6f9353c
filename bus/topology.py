"""Where every process of one center listens. Computed, not configured piece by piece.

Single-host installs (the default) put the bus on unix sockets (``ipc://``) under a short
per-center folder: nothing listens on a network port but the client gateway, the SIP listener
and RTP. A multi-host install sets ``[bus] transport = "tcp"`` and a private-network address;
every host then derives the same endpoints from the same config.
"""

from __future__ import annotations

import hashlib
import tempfile
from dataclasses import dataclass
from pathlib import Path

#: fixed offsets from ``[bus] base_port`` in tcp mode (hosts get base + 10 + index)
CORE, XSUB, XPUB = 0, 1, 2
HOST_BASE = 10
MAX_IPC_PATH = 100  # sun_path is 108 bytes on Linux


@dataclass(frozen=True, slots=True, kw_only=True)
class Topology:
    transport: str  # "ipc" | "tcp"
    address: str  # tcp: the bus interface (127.0.0.1 by default)
    base_port: int
    ipc_dir: Path
    gateway_router: str
    gateway_pub: str

    @classmethod
    def build(
        cls,
        *,
        data_dir: Path,
        transport: str = "ipc",
        address: str = "127.0.0.1",
        base_port: int = 7400,
        gateway_port: int = 7390,
    ) -> Topology:
        if transport not in ("ipc", "tcp"):
            raise ValueError(f"bus transport must be 'ipc' or 'tcp', got {transport!r}")
        ipc_dir = data_dir.resolve() / "run" / "bus"
        if len(str(ipc_dir)) + 24 > MAX_IPC_PATH:
            # Deep data dirs would overflow sun_path: use a short folder keyed by the data dir.
            digest = hashlib.sha1(str(data_dir.resolve()).encode()).hexdigest()[:10]
            ipc_dir = Path(tempfile.gettempdir()) / f"contactor-{digest}"
        return cls(
            transport=transport,
            address=address,
            base_port=base_port,
            ipc_dir=ipc_dir,
            gateway_router=f"tcp://{address}:{gateway_port}",
            gateway_pub=f"tcp://{address}:{gateway_port + 1}",
        )

    def _endpoint(self, name: str, offset: int) -> str:
        if self.transport == "ipc":
            return f"ipc://{self.ipc_dir}/{name}.sock"
        return f"tcp://{self.address}:{self.base_port + offset}"

    @property
    def xsub(self) -> str:
        return self._endpoint("xsub", XSUB)

    @property
    def xpub(self) -> str:
        return self._endpoint("xpub", XPUB)

    def host(self, host_id: str, index: int) -> str:
        """The mesh endpoint of the ``index``-th actor-hosting process (core is index 0)."""
        return self._endpoint(f"host-{host_id}", HOST_BASE + index)

    def prepare(self) -> None:
        if self.transport == "ipc":
            self.ipc_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
