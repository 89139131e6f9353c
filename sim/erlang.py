"""Erlang C: the M/M/c queue (Poisson arrivals, exponential handling, c agents, nobody leaves).

With offered load ``A = lambda * AHT`` erlangs and ``c > A`` agents:

* ``P(wait) = C(c, A)`` - the Erlang C formula;
* ``ASA = C * AHT / (c - A)`` - mean wait over *all* calls (answered at once count as 0);
* ``SL(t) = 1 - C * exp(-(c - A) * t / AHT)`` - share of calls answered within ``t``.

``erlang_c`` uses the Erlang B recursion (``B(k) = A B(k-1) / (k + A B(k-1))``), which stays
exact and overflow-free for thousands of agents where the textbook factorials do not.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


class ErlangError(ValueError):
    """Arguments outside the M/M/c model (names the argument)."""


def _check(agents: int, load: float) -> None:
    if agents < 1:
        raise ErlangError(f"agents = {agents}: at least 1")
    if not load >= 0:
        raise ErlangError(f"load = {load}: erlangs are >= 0")
    if load >= agents:
        raise ErlangError(f"load = {load:g} erlangs >= agents = {agents}: the queue never empties")


def erlang_b(agents: int, load: float) -> float:
    """Blocking probability of ``agents`` servers offered ``load`` erlangs (no queue)."""
    if agents < 0 or not load >= 0:
        raise ErlangError(f"erlang_b({agents}, {load}): need agents >= 0 and load >= 0")
    b = 1.0
    for k in range(1, agents + 1):
        b = load * b / (k + load * b)
    return b


def erlang_c(agents: int, load: float) -> float:
    """Probability that a call waits at all."""
    _check(agents, load)
    b = erlang_b(agents, load)
    rho = load / agents
    return b / (1.0 - rho + rho * b)


def asa(agents: int, load: float, aht_s: float) -> float:
    """Mean wait over all calls, seconds."""
    return erlang_c(agents, load) * aht_s / (agents - load)


def service_level(agents: int, load: float, aht_s: float, threshold_s: float) -> float:
    """Share of calls answered within ``threshold_s``."""
    return 1.0 - erlang_c(agents, load) * math.exp(-(agents - load) * threshold_s / aht_s)


@dataclass(frozen=True, slots=True, kw_only=True)
class ErlangFigures:
    agents: int
    load_erlangs: float
    occupancy: float
    p_wait: float
    asa_s: float
    service_level: float
    sl_threshold_s: float


def figures(
    agents: int, rate_per_s: float, aht_s: float, sl_threshold_s: float
) -> ErlangFigures | None:
    """Everything Erlang C predicts; None when the load reaches the agents (no steady state)."""
    load = rate_per_s * aht_s
    if load >= agents:
        return None
    return ErlangFigures(
        agents=agents,
        load_erlangs=load,
        occupancy=load / agents,
        p_wait=erlang_c(agents, load),
        asa_s=asa(agents, load, aht_s),
        service_level=service_level(agents, load, aht_s, sl_threshold_s),
        sl_threshold_s=sl_threshold_s,
    )
