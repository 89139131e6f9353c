"""Time distributions of a scenario (talk, wrap-up, answer delay, patience, pauses).

A distribution is data (``Dist``); drawing needs a :class:`numpy.random.Generator` passed in,
so every random number of a run comes from the one seeded generator.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

DistKind = Literal["fixed", "exponential", "lognormal", "uniform"]
KINDS: tuple[str, ...] = ("fixed", "exponential", "lognormal", "uniform")


class DistError(ValueError):
    """A distribution in a scenario is malformed; the message names the key."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Dist:
    kind: DistKind
    #: fixed: the value; exponential/lognormal: the mean; uniform: unused
    mean: float = 0.0
    #: lognormal: standard deviation (of the value, not of its log)
    sd: float = 0.0
    low: float = 0.0
    high: float = 0.0

    @property
    def expected(self) -> float:
        if self.kind == "uniform":
            return (self.low + self.high) / 2
        return self.mean

    def draw(self, rng: np.random.Generator) -> float:
        if self.kind == "fixed":
            return self.mean
        if self.kind == "exponential":
            return float(rng.exponential(self.mean)) if self.mean > 0 else 0.0
        if self.kind == "uniform":
            return float(rng.uniform(self.low, self.high))
        mu, sigma = _lognormal_params(self.mean, self.sd)
        return float(rng.lognormal(mu, sigma))

    def draw_many(self, rng: np.random.Generator, n: int) -> np.ndarray[Any, np.dtype[np.float64]]:
        if self.kind == "fixed":
            return np.full(n, self.mean)
        if self.kind == "exponential":
            return rng.exponential(self.mean, n) if self.mean > 0 else np.zeros(n)
        if self.kind == "uniform":
            return rng.uniform(self.low, self.high, n)
        mu, sigma = _lognormal_params(self.mean, self.sd)
        return rng.lognormal(mu, sigma, n)


def _lognormal_params(mean: float, sd: float) -> tuple[float, float]:
    sigma2 = math.log1p((sd / mean) ** 2)
    return math.log(mean) - sigma2 / 2, math.sqrt(sigma2)


def fixed(value: float) -> Dist:
    return Dist(kind="fixed", mean=value)


def parse_dist(raw: object, where: str) -> Dist:
    """``30`` (fixed), or a table ``{dist = "exponential", mean = 180}``,
    ``{dist = "lognormal", mean = 180, sd = 90}``, ``{dist = "uniform", low = 1, high = 4}``,
    ``{dist = "fixed", value = 5}``."""
    if isinstance(raw, bool):
        raise DistError(f"{where}: expected seconds or a distribution table, got {raw!r}")
    if isinstance(raw, int | float):
        if raw < 0:
            raise DistError(f"{where} = {raw}: a time cannot be negative")
        return fixed(float(raw))
    if not isinstance(raw, dict):
        raise DistError(f"{where}: expected seconds or a distribution table, got {raw!r}")
    kind = raw.get("dist")
    if kind not in KINDS:
        raise DistError(f"{where}.dist = {kind!r}: one of {', '.join(KINDS)}")
    allowed = {"fixed": {"value"}, "exponential": {"mean"}, "lognormal": {"mean", "sd"},
               "uniform": {"low", "high"}}[kind]  # fmt: skip
    extra = set(raw) - allowed - {"dist"}
    if extra:
        raise DistError(f"{where}: unknown key(s) {', '.join(sorted(extra))} for {kind} "
                        f"(takes {', '.join(sorted(allowed))})")  # fmt: skip
    missing = allowed - set(raw)
    if missing:
        raise DistError(f"{where}: {kind} needs {', '.join(sorted(missing))}")
    vals: dict[str, float] = {}
    for k in allowed:
        v = raw[k]
        if isinstance(v, bool) or not isinstance(v, int | float) or v < 0 or math.isnan(v):
            raise DistError(f"{where}.{k} = {v!r}: a number >= 0")
        vals[k] = float(v)
    if kind == "fixed":
        return fixed(vals["value"])
    if kind == "exponential":
        return Dist(kind="exponential", mean=vals["mean"])
    if kind == "uniform":
        if vals["high"] < vals["low"]:
            raise DistError(f"{where}: uniform needs low ({vals['low']}) <= high ({vals['high']})")
        return Dist(kind="uniform", low=vals["low"], high=vals["high"])
    if vals["mean"] <= 0:
        raise DistError(f"{where}.mean = {vals['mean']}: lognormal needs a mean > 0")
    return Dist(kind="lognormal", mean=vals["mean"], sd=vals["sd"])
