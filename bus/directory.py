"""The directory (the seed's Core registry), as an actor on the core process: ``directory/core``.

Hosts and services register where they listen and what they serve; anyone may look an address
or a service up; every change is broadcast on topic ``directory`` so caches stay fresh.
Placement of entity actors is deterministic (``actors.placement``), so the directory is not on
the path of every message: it is consulted at start-up and when a process moves.
"""

from __future__ import annotations

from collections.abc import Sequence

from actors.effects import Effect, Fail, Publish, Reply
from bus.message import Message, message
from bus.system import DirectoryTable, HostInfo, Located, Lookup, RegisterHost


@message("dir.state")
class DirectoryState(Message):
    hosts: tuple[HostInfo, ...] = ()
    version: int = 0


class Directory:
    kind = "directory"

    def initial(self, address: str) -> DirectoryState:
        return DirectoryState()

    def decide(
        self, state: DirectoryState, msg: Message, now: float
    ) -> tuple[DirectoryState, Sequence[Effect]]:
        if isinstance(msg, RegisterHost):
            if msg.host in state.hosts:  # the periodic re-registration: nothing changed
                return state, (Reply(msg=DirectoryTable(hosts=state.hosts, version=state.version)),)
            others = tuple(h for h in state.hosts if h.host_id != msg.host.host_id)
            hosts = tuple(sorted((*others, msg.host), key=lambda h: h.host_id))
            new = DirectoryState(hosts=hosts, version=state.version + 1)
            table = DirectoryTable(hosts=new.hosts, version=new.version)
            return new, (Publish(topic="directory", msg=table), Reply(msg=table))
        if isinstance(msg, Lookup):
            found = _locate(state.hosts, msg.address)
            if found is None:
                return state, (Fail(code="dir.unknown", text=f"no host serves {msg.address!r}"),)
            return state, (
                Reply(
                    msg=Located(address=msg.address, host_id=found.host_id, endpoint=found.endpoint)
                ),
            )
        if isinstance(msg, DirectoryTable):
            return state, (Reply(msg=DirectoryTable(hosts=state.hosts, version=state.version)),)
        return state, (Fail(code="dir.unexpected", text=f"directory does not take {msg.TAG}"),)


def _locate(hosts: tuple[HostInfo, ...], address: str) -> HostInfo | None:
    kind = address.partition("/")[0]
    for h in hosts:
        if address in h.services or address == f"host/{h.host_id}":
            return h
    for h in hosts:
        if kind in h.kinds:
            return h
    return None


DIRECTORY_MESSAGES: tuple[type[Message], ...] = (DirectoryState,)
