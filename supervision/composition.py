"""The composition root: one center's processes, where they listen, who serves what.

Every service builds a :class:`Center` from the same config and data dir, so all processes
agree on the bus topology and on the placement of actor kinds without asking anyone. The
supervision tree (``supervision.tree``) is derived from the same process plan.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from actors.agent.behaviour import AgentBehaviour
from actors.agent.reconcile import ReconcilerBehaviour
from actors.behaviour import Behaviour
from actors.matcher.behaviour import MatcherBehaviour
from actors.placement import Placement
from actors.probe import Probe
from actors.queue.behaviour import QueueBehaviour
from bus.auth import User
from bus.directory import Directory
from bus.topology import Topology
from conf.load import load_config
from conf.schema import Config

#: kind -> factory(center) of the behaviour serving it; rooms add their kinds here
BehaviourFactory = Callable[["Center"], Behaviour[Any]]


def _behaviour_factories() -> dict[str, BehaviourFactory]:
    factories: dict[str, BehaviourFactory] = {
        "directory": lambda c: Directory(),
        "agent": lambda c: AgentBehaviour(),
        "queue": lambda c: QueueBehaviour(),
        "matcher": lambda c: MatcherBehaviour(),
        "reconciler": lambda c: ReconcilerBehaviour(),
        "call": _call_behaviour,
    }
    return factories


def _call_behaviour(center: Center) -> Behaviour[Any]:
    from telephony.service import call_behaviour  # the telephony room (sockets, store)

    return call_behaviour(center, center.process("telephony").args)


#: kinds served by the ``telephony`` process only (``sip`` is its listener's port, ``ivr-io``
#: the IVR port: HTTP requests and debug logs of schemes)
TELEPHONY_KINDS = ("call", "sip", "ivr-io")


LOCAL_ADMIN = "local-admin"


@dataclass(frozen=True, slots=True, kw_only=True)
class ProcessPlan:
    """One supervised process: its id, entry point, actor kinds and mesh index."""

    id: str
    start: str
    index: int
    kinds: tuple[str, ...] = ()
    args: dict[str, Any] = field(default_factory=dict)
    restart: str = "permanent"
    shutdown_s: float = 5.0


@dataclass(frozen=True, slots=True)
class Store:
    writer: Any
    reader: Any
    pool: Any


class Center:
    def __init__(self, config: Config, data_dir: Path) -> None:
        self.config = config
        self.data_dir = data_dir
        bus = config.bus
        self.topology = Topology.build(
            data_dir=data_dir, transport=bus.transport, address=bus.host,
            base_port=bus.base_port, gateway_port=bus.gateway_port,
        )
        self.plans = self._plan()
        self._by_id = {p.id: p for p in self.plans}

    @classmethod
    def load(cls, config_path: Path, data_dir: Path) -> Center:
        return cls(load_config(config_path), data_dir)

    def _plan(self) -> tuple[ProcessPlan, ...]:
        # The shape of a single-machine center. Rooms that add processes add them here.
        base = (
            ProcessPlan(id="core", start="bus.core_service:main", index=0,
                        kinds=("directory",)),
            ProcessPlan(id="actors-1", start="actors.service:main", index=1,
                        kinds=tuple(k for k in self.actor_kinds()
                                    if k != "directory" and k not in TELEPHONY_KINDS)),
        )
        # Order matters under ``rest_for_one``: a child's crash restarts the ones after it.
        # The SIP listener, registrar and call actors share one process, so SIP events reach
        # their call actor without a hop.
        telephony = ProcessPlan(id="telephony", start="telephony.service:main",
                                index=len(base), kinds=TELEPHONY_KINDS)
        # Media workers serve the ``media`` port kind (no behaviour: ``media.service``);
        # each owns the slice ``worker`` of ``workers`` of the RTP port range. A worker's
        # crash restarts only the workers after it and stats, never telephony.
        workers = self.config.media.workers
        media = tuple(
            ProcessPlan(id=f"media-{k + 1}", start="media.service:main",
                        index=len(base) + 1 + k, kinds=("media",),
                        args={"worker": k, "workers": workers})
            for k in range(workers)
        )
        # Reporting projector, live figures (topic ``stats``) and the OpenMetrics endpoint:
        # last, so that its restart disturbs nothing else.
        stats = ProcessPlan(id="stats", start="stats.service:main",
                            index=len(base) + 1 + len(media), kinds=())
        return (*base, telephony, *media, stats)

    def actor_kinds(self) -> tuple[str, ...]:
        return tuple(_behaviour_factories())

    # ------------------------------------------------------------------ lookups

    def process(self, process_id: str) -> ProcessPlan:
        try:
            return self._by_id[process_id]
        except KeyError:
            known = ", ".join(self._by_id)
            raise KeyError(f"no process {process_id!r} in this center (known: {known})") from None

    def placement(self) -> Placement:
        kinds: dict[str, list[str]] = {}
        for p in self.plans:
            for k in p.kinds:
                kinds.setdefault(k, []).append(p.id)
        return Placement({k: tuple(v) for k, v in kinds.items()})

    def endpoint(self, process_id: str) -> str:
        return self.topology.host(process_id, self.process(process_id).index)

    def endpoints(self) -> dict[str, str]:
        return {p.id: self.topology.host(p.id, p.index) for p in self.plans}

    def behaviours(self, kinds: Sequence[str], host_id: str = "") -> list[Behaviour[Any]]:
        factories = _behaviour_factories()
        out: list[Behaviour[Any]] = [Probe(host_id)]
        for k in kinds:
            if k not in factories:
                raise KeyError(f"no behaviour for actor kind {k!r}")
            out.append(factories[k](self))
        return out

    def users(self) -> dict[str, User]:
        # ``local-admin`` has no password: only tokens minted with the center's secret (the
        # local CLI, which can read the data dir) act as it.
        users = {LOCAL_ADMIN: User(name=LOCAL_ADMIN, password="", roles=frozenset({"admin"}))}
        users |= {
            a.login: User(name=a.login, password=a.password, roles=frozenset(a.roles))
            for a in self.config.agents
        }
        for u in self.config.users:
            if u.password:
                users[u.login] = User(name=u.login, password=u.password, roles=frozenset(u.roles))
        return users

    # ------------------------------------------------------------------ resources

    def database_url(self) -> str:
        from store.db import database_url

        return database_url(self.config.store.url, self.data_dir)

    @contextlib.asynccontextmanager
    async def open_store(self) -> AsyncIterator[Store]:
        from store.db import open_pool
        from store.journal import JournalReader
        from store.journal_writer import JournalWriter

        url = self.database_url()
        writer = JournalWriter(url)
        await writer.start()
        pool = open_pool(url, min_size=1, max_size=2)
        try:
            yield Store(writer=writer, reader=JournalReader(pool), pool=pool)
        finally:
            await writer.close(timeout=5)
            pool.close()

    def secret(self, name: str) -> bytes:
        """A random secret kept in ``<data>/run/<name>`` (0600, made on first use), so that a
        restarted process still accepts what it signed before (gateway tokens, SIP nonces)."""
        path = self.data_dir / "run" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return path.read_bytes()
        secret = os.urandom(32)
        with os.fdopen(fd, "wb") as f:
            f.write(secret)
        return secret

    def dead_letter_log(self, process_id: str, log: Any) -> Callable[[dict[str, Any]], None]:
        """Dead letters go to ``<data>/logs/dead-letters.jsonl`` and to the service log."""
        path = self.data_dir / "logs" / "dead-letters.jsonl"
        path.parent.mkdir(parents=True, exist_ok=True)

        def record(item: dict[str, Any]) -> None:
            row = {"ts": time.time(), "process": process_id, **item}
            with path.open("a", encoding="utf-8") as f:
                f.write(json.dumps(row, default=str) + "\n")
            log.error("dead_letter", **{k: v for k, v in row.items() if k != "traceback"})

        return record
