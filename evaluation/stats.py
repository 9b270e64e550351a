"""The numbers of an evaluation report, in plain numpy: no Django, nothing of the project.

* :func:`wilson` -- the Wilson score interval of a proportion.
* :func:`bootstrap_mean` -- a mean with a percentile bootstrap interval, items resampled.
* :func:`bradley_terry` -- strengths from pairwise outcomes (ties count half a win to each
  side), fitted by the minorisation-maximisation iteration of Hunter (2004), with percentile
  bootstrap intervals (comparisons resampled).
* :func:`spread` -- how far apart a model's scores lie within a group of items.

Every random draw comes from a generator seeded by the caller, so the same data and seed give
the same report. Resampling n items with replacement and averaging is drawing the counts of
the distinct values from a multinomial with the observed frequencies (the same distribution,
cell by cell), which is what :func:`bootstrap_mean` does: memory grows with the number of
distinct values, not with the items. Bradley-Terry's bootstrap does the same over the cells
(pair of models, outcome) of the comparison table.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

Z95 = 1.959963984540054  # the standard normal's 97.5th percentile
DEFAULT_SEED = 20_240_613
DEFAULT_RESAMPLES = 1_000
BT_RESAMPLES = 200
BT_TOLERANCE = 1e-12
BT_MAX_ITERATIONS = 10_000


@dataclass(frozen=True)
class Interval:
    value: float | None
    low: float | None
    high: float | None
    n: int

    def as_dict(self, name: str = "value") -> dict[str, float | int | None]:
        return {name: self.value, "low": self.low, "high": self.high, "n": self.n}


def wilson(successes: int, n: int, z: float = Z95) -> Interval:
    """The Wilson score interval of successes / n (None when n is 0)."""
    if n <= 0:
        return Interval(None, None, None, 0)
    p = successes / n
    z2 = z * z
    centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / (1 + z2 / n)
    return Interval(p, max(0.0, centre - half), min(1.0, centre + half), n)


def _percentiles(samples: np.ndarray, level: float = 0.95) -> tuple[float, float]:
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(samples, [tail, 100 - tail], axis=0)
    return float(low), float(high)


def bootstrap_mean(
    values: Sequence[float] | np.ndarray,
    *,
    rng: np.random.Generator,
    resamples: int = DEFAULT_RESAMPLES,
    level: float = 0.95,
) -> Interval:
    """The mean of `values` (one per item) and its percentile bootstrap interval."""
    values = np.asarray(values, dtype=np.float64)
    n = len(values)
    if n == 0:
        return Interval(None, None, None, 0)
    mean = float(values.mean())
    if n == 1:
        return Interval(mean, mean, mean, 1)
    distinct, counts = np.unique(values, return_counts=True)
    # Chunks keep the count matrix small when the values are all distinct.
    chunk = max(1, 2_000_000 // len(distinct))
    means = []
    for start in range(0, resamples, chunk):
        size = min(chunk, resamples - start)
        drawn = rng.multinomial(n, counts / n, size=size)
        means.append(drawn @ distinct / n)
    low, high = _percentiles(np.concatenate(means), level)
    return Interval(mean, low, high, n)


# --- Bradley-Terry ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Comparisons:
    """Outcomes between models: for each unordered pair (i < j) the wins of i, the ties and
    the wins of j."""

    models: tuple[str, ...]
    first: np.ndarray  # pair -> index of model i
    second: np.ndarray  # pair -> index of model j
    counts: np.ndarray  # pair -> [wins of i, ties, wins of j]

    @classmethod
    def from_outcomes(
        cls, models: Sequence[str], outcomes: dict[tuple[str, str], list[int]]
    ) -> Comparisons:
        """`outcomes[(a, b)]` = [wins of a, ties, wins of b], any order of a and b."""
        index = {m: i for i, m in enumerate(models)}
        table: dict[tuple[int, int], np.ndarray] = {}
        for (a, b), (wins, ties, losses) in outcomes.items():
            i, j = index[a], index[b]
            if i == j:
                continue
            row = np.array([wins, ties, losses] if i < j else [losses, ties, wins], dtype=float)
            key = (min(i, j), max(i, j))
            table[key] = table.get(key, np.zeros(3)) + row
        keys = sorted(table)
        return cls(
            models=tuple(models),
            first=np.array([k[0] for k in keys], dtype=np.intp),
            second=np.array([k[1] for k in keys], dtype=np.intp),
            counts=np.array([table[k] for k in keys], dtype=float).reshape(-1, 3),
        )


def _mm_fit(
    first: np.ndarray, second: np.ndarray, counts: np.ndarray, m: int
) -> tuple[np.ndarray, int]:
    """MM iteration for many tables at once: counts (R, pairs, 3) -> strengths (R, m), each
    row summing to 1. Ties count half a win to each side. Returns (strengths, iterations)."""
    wins_i = counts[..., 0] + counts[..., 1] / 2
    wins_j = counts[..., 2] + counts[..., 1] / 2
    games = counts.sum(axis=-1)  # (R, pairs)
    replicates = counts.shape[0]
    wins = np.zeros((replicates, m))
    np.add.at(wins, (slice(None), first), wins_i)
    np.add.at(wins, (slice(None), second), wins_j)
    p = np.full((replicates, m), 1.0 / m)
    for iteration in range(1, BT_MAX_ITERATIONS + 1):
        ratio = games / (p[:, first] + p[:, second])  # (R, pairs)
        denominator = np.zeros((replicates, m))
        np.add.at(denominator, (slice(None), first), ratio)
        np.add.at(denominator, (slice(None), second), ratio)
        with np.errstate(divide="ignore", invalid="ignore"):
            updated = np.where(denominator > 0, wins / denominator, p)
        total = updated.sum(axis=1, keepdims=True)
        updated = np.divide(updated, total, out=np.full_like(updated, 1.0 / m), where=total > 0)
        change = float(np.max(np.abs(updated - p))) if updated.size else 0.0
        p = updated
        if change < BT_TOLERANCE:
            return p, iteration
    return p, BT_MAX_ITERATIONS


@dataclass(frozen=True)
class Strength:
    model: str
    strength: float
    low: float | None
    high: float | None
    wins: float  # ties counted half
    games: int


def bradley_terry(
    comparisons: Comparisons,
    *,
    rng: np.random.Generator | None = None,
    resamples: int = BT_RESAMPLES,
    level: float = 0.95,
) -> list[Strength]:
    """Bradley-Terry strengths (normalised to sum to 1), highest first, with percentile
    bootstrap intervals when `rng` is given (comparisons resampled). A model that never won
    has strength 0 (the maximum-likelihood estimate is on the boundary)."""
    m = len(comparisons.models)
    if m == 0:
        return []
    counts = comparisons.counts
    fitted, _ = _mm_fit(comparisons.first, comparisons.second, counts[None, ...], m)
    strengths = fitted[0]
    lows = highs = [None] * m
    total = int(counts.sum())
    if rng is not None and total > 0 and resamples > 0:
        cells = counts.reshape(-1)
        drawn = rng.multinomial(total, cells / total, size=resamples).astype(float)
        samples, _ = _mm_fit(
            comparisons.first, comparisons.second, drawn.reshape(resamples, -1, 3), m
        )
        tail = (1 - level) / 2 * 100
        lows, highs = np.percentile(samples, [tail, 100 - tail], axis=0).tolist()
    wins = np.zeros(m)
    games = np.zeros(m)
    np.add.at(wins, comparisons.first, counts[:, 0] + counts[:, 1] / 2)
    np.add.at(wins, comparisons.second, counts[:, 2] + counts[:, 1] / 2)
    np.add.at(games, comparisons.first, counts.sum(axis=1))
    np.add.at(games, comparisons.second, counts.sum(axis=1))
    result = [
        Strength(
            model=comparisons.models[i],
            strength=float(strengths[i]),
            low=None if lows[i] is None else float(lows[i]),
            high=None if highs[i] is None else float(highs[i]),
            wins=float(wins[i]),
            games=int(games[i]),
        )
        for i in range(m)
    ]
    return sorted(result, key=lambda s: (-s.strength, s.model))


def connected(comparisons: Comparisons) -> bool:
    """Whether every model is linked to every other through comparisons (otherwise strengths
    of different components are not comparable)."""
    m = len(comparisons.models)
    if m <= 1:
        return True
    parent = list(range(m))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i, j, row in zip(comparisons.first, comparisons.second, comparisons.counts, strict=True):
        if row.sum() > 0:
            parent[root(int(i))] = root(int(j))
    return len({root(i) for i in range(m)}) == 1


# --- consistency ------------------------------------------------------------------------------


def spread(values: Sequence[float]) -> float | None:
    """Max minus min of a model's scores of one criterion within a group (None for fewer than
    two)."""
    if len(values) < 2:
        return None
    return float(max(values) - min(values))
