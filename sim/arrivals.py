"""The calls of a run, drawn up front: when each arrives, which IVR route it takes, its patience.

Arrivals are a non-homogeneous Poisson process with a piecewise-constant rate (given a count
``N ~ Poisson(rate * length)`` per step, the times are uniform in it), plus bursts.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from sim.scenario import Scenario

FloatArray = np.ndarray[Any, np.dtype[np.float64]]
IntArray = np.ndarray[Any, np.dtype[np.int64]]


@dataclass(frozen=True, slots=True)
class Plan:
    times: FloatArray
    #: index into ``Scenario.routes``
    routes: IntArray
    #: seconds; ``inf`` for a caller who never hangs up unanswered
    patience: FloatArray

    def __len__(self) -> int:
        return len(self.times)


def arrival_times(scenario: Scenario, rng: np.random.Generator) -> FloatArray:
    parts: list[FloatArray] = []
    steps = sorted(scenario.rates, key=lambda r: r.from_s)
    for i, r in enumerate(steps):
        start = min(r.from_s, scenario.duration_s)
        end = steps[i + 1].from_s if i + 1 < len(steps) else scenario.duration_s
        end = min(end, scenario.duration_s)
        if r.rate <= 0 or end <= start:
            continue
        n = int(rng.poisson(r.rate * (end - start)))
        parts.append(rng.uniform(start, end, n))
    for b in scenario.bursts:
        if b.over_s > 0:
            parts.append(rng.uniform(b.at_s, b.at_s + b.over_s, b.calls))
        else:
            parts.append(np.full(b.calls, b.at_s))
    if not parts:
        return np.zeros(0)
    return np.sort(np.concatenate(parts), kind="stable")


def plan(scenario: Scenario, rng: np.random.Generator) -> Plan:
    times = arrival_times(scenario, rng)
    n = len(times)
    probs = np.array([r.probability for r in scenario.routes])
    routes = rng.choice(len(probs), size=n, p=probs / probs.sum()).astype(np.int64)
    patience = np.full(n, np.inf)
    for i, r in enumerate(scenario.routes):
        dist = r.patience or scenario.patience
        if dist is None:
            continue
        mask = routes == i
        patience[mask] = dist.draw_many(rng, int(mask.sum()))
    return Plan(times=times, routes=routes, patience=patience)
