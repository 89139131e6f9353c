"""The periodic reconciliation of agents against reality (issue 5's self-healing state).

Telephony is the process that knows which calls are live (its call actors) and which phones
are registered (its registrar), so it gathers the facts and hands them to the pure
``reconciler/center`` actor, which repairs stuck agents and journals each repair.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence

from actors.agent.messages import GetAgent
from actors.agent.reconcile import AgentView, Reconcile
from actors.agent.states import AgentState
from actors.host import Host
from actors.queue.messages import GetQueue, QueueState
from bus.errors import BusError

RECONCILER = "reconciler/center"
EVERY_S = 10.0


async def gather(
    host: Host,
    logins: Sequence[str],
    is_registered: Callable[[str], bool],
    queues: Sequence[str] = (),
) -> Reconcile | None:
    """The facts for one run, or None when an agent did not answer (try again next time)."""
    views = []
    for login in logins:
        try:
            state = await host.ask(f"agent/{login}", GetAgent(), timeout=2.0)
        except BusError:
            return None
        if isinstance(state, AgentState):
            views.append(
                AgentView(
                    login=state.login,
                    status=state.status,
                    call_id=state.call_id,
                    phone_uri=state.phone_uri,
                )
            )
    waiting: dict[str, str] = {}
    for name in queues:
        try:
            queue = await host.ask(f"queue/{name}", GetQueue(), timeout=2.0)
        except BusError:
            return None
        if isinstance(queue, QueueState):
            waiting.update((e.call_id, name) for e in queue.entries)
    # A call id is live while its actor exists here (call actors stop when their call ends).
    # Read after the asks: a call that arrived meanwhile is live, not a dead entry.
    live = tuple(a.partition("/")[2] for a in host.cells if a.startswith("call/"))
    registered = tuple(
        sorted({v.phone_uri for v in views if v.phone_uri and is_registered(v.phone_uri)})
    )
    return Reconcile(agents=tuple(views), live_calls=live, registered=registered,
                     waiting=waiting)


async def reconcile_forever(
    host: Host,
    logins: Sequence[str],
    is_registered: Callable[[str], bool],
    stopping: asyncio.Event,
    every_s: float = EVERY_S,
    queues: Sequence[str] = (),
) -> None:
    while not stopping.is_set():
        try:
            await asyncio.wait_for(stopping.wait(), every_s)
            return
        except TimeoutError:
            pass
        facts = await gather(host, logins, is_registered, queues)
        if facts is not None:
            host.tell(RECONCILER, facts)
