"""Registrar bindings in the store (``sip_binding``, migration 003).

The registrar keeps its bindings in memory and reports every change as the complete new set
of one address of record; this module replaces that set in one transaction. Times are
stored as wall-clock epoch seconds: the telephony process runs on a monotonic clock, so the
service converts at this boundary. RFC 5626 flow bindings are not stored: they are reached
over a connection of this process, which a restart ends, and the phone registers anew.
"""

from __future__ import annotations

from psycopg_pool import ConnectionPool

from telephony.messages import Peer
from telephony.registrar import Binding, BindingsChanged

_COLUMNS = ("aor, contact, expires_at, registered_at, call_id, cseq, q, peer_transport, "
            "peer_host, peer_port, user_agent")


class BindingStore:
    def __init__(self, pool: ConnectionPool) -> None:
        self.pool = pool

    def save(self, change: BindingsChanged, offset: float) -> None:
        """Replace the bindings of ``change.aor``; ``offset`` turns loop time into epoch time."""
        rows = [(b.aor, b.contact, b.expires_at + offset, b.registered_at + offset, b.call_id,
                 b.cseq, b.q, b.peer.transport, b.peer.host, b.peer.port, b.user_agent)
                for b in change.bindings if not b.is_flow]
        with self.pool.connection() as conn, conn.transaction():
            conn.execute("DELETE FROM sip_binding WHERE aor = %s", (change.aor,))
            with conn.cursor() as cur:
                cur.executemany(
                    f"INSERT INTO sip_binding ({_COLUMNS}) VALUES "
                    "(%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)", rows)

    def load(self, offset: float, now_epoch: float) -> list[Binding]:
        """Unexpired bindings, with times moved onto the loop clock (``epoch - offset``)."""
        with self.pool.connection() as conn:
            rows = conn.execute(f"SELECT {_COLUMNS} FROM sip_binding WHERE expires_at > %s",
                                (now_epoch,)).fetchall()
        return [
            Binding(aor=r[0], contact=r[1], expires_at=r[2] - offset,
                    registered_at=r[3] - offset, call_id=r[4], cseq=r[5], q=float(r[6]),
                    peer=Peer(transport=r[7], host=r[8], port=r[9]), user_agent=r[10])
            for r in rows
        ]

    def purge_expired(self, now_epoch: float) -> int:
        with self.pool.connection() as conn:
            cur = conn.execute("DELETE FROM sip_binding WHERE expires_at <= %s", (now_epoch,))
            return cur.rowcount
