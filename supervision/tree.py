"""The supervision tree of a real center: one table, derived from the composition root.

The processes themselves (ids, entry points, arguments, restart types) are listed once, in
``supervision.composition.Center._plan``; add a service there (its ``start`` module must
exist) and it appears here.  This module only adds how they are supervised.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

from actors.configure import acd_messages
from supervision.spec import ChildSpec, SpecError, Strategy, SupervisorSpec

#: One process's crash restarts that process only. Nothing needs more: placement is static
#: (every process computes it from the config), ZeroMQ reconnects peers by itself, and every
#: process re-registers with the directory (in ``core``) every few seconds. ``rest_for_one``
#: was tried first: a crash of ``actors-1`` then also restarted telephony, dropping every call.
STRATEGY: Strategy = "one_for_one"


def default_tree(config: Any, data_dir: Path) -> SupervisorSpec:
    """The tree ``contactor up`` runs for ``config`` (a ``conf.schema.Config``)."""
    from supervision.composition import Center

    center = Center(config, Path(data_dir))
    children = tuple(
        ChildSpec(id=plan.id, start=plan.start, args=dict(plan.args),
                  restart=plan.restart,  # type: ignore[arg-type]  # validated by ChildSpec
                  shutdown_s=plan.shutdown_s)
        for plan in center.plans
    )
    acd_messages(config)  # a queue/agent setting the ACD cannot honour fails here, not later
    missing = [c.start for c in children if not _module_exists(c.start.partition(":")[0])]
    if missing:
        raise SpecError(f"tree: start modules not found: {', '.join(missing)}")
    limits = config.supervision
    return SupervisorSpec(
        children=children,
        strategy=STRATEGY,
        intensity=limits.intensity,
        period_s=limits.period_s,
        backoff_initial_s=limits.backoff_s,
        backoff_max_s=max(limits.backoff_max_s, limits.backoff_s),
    )


def _module_exists(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False
