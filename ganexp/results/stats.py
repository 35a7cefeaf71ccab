"""The difference of two configurations' means over seeds (``cells.Cell``: mean ± sd (n)) with a 95% interval.

The interval is Welch's t interval (Welch 1947): the difference of the two means ± t(0.975, ν) times
its standard error sqrt(s1²/n1 + s2²/n2), ν by the Welch–Satterthwaite equation. Why this test: seeds
are independent runs, and GAN variants differ strongly in how much they vary from seed to seed, so no
common variance may be pooled (Student's t); with the 3-5 seeds a grid affords, a bootstrap has too few
distinct resamples (10 for n = 3) to give a 95% interval. Below MIN_SEEDS seeds on either side the
comparison says "too few seeds" instead of an interval.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from .cells import Cell

MIN_SEEDS = 3
LEVEL = 0.95


@dataclass(frozen=True)
class Difference:
    """``other − best`` with its Welch interval (None, None when either side has too few seeds)."""

    diff: float
    low: float | None
    high: float | None
    df: float | None

    @property
    def decided(self) -> bool:
        """Whether the interval excludes 0 (the difference is unlikely to be seed noise)."""
        return self.low is not None and (self.low > 0 or self.high < 0)


def welch(other: Cell, best: Cell, level: float = LEVEL) -> Difference:
    """Welch's interval for ``mean(other) − mean(best)``; no interval below ``MIN_SEEDS`` on a side."""
    diff = other.mean - best.mean
    if min(other.n, best.n) < MIN_SEEDS:
        return Difference(diff, None, None, None)
    v1, v2 = other.std ** 2 / other.n, best.std ** 2 / best.n
    se = math.sqrt(v1 + v2)
    if se == 0.0:  # every seed gave the same value on both sides: no spread to test against
        return Difference(diff, diff, diff, None)
    df = (v1 + v2) ** 2 / (v1 ** 2 / (other.n - 1) + v2 ** 2 / (best.n - 1))
    half = t_quantile((1 + level) / 2, df) * se
    return Difference(diff, diff - half, diff + half, df)


def t_quantile(p: float, df: float) -> float:
    """The ``p`` quantile of Student's t with ``df`` (real-valued) degrees of freedom."""
    from scipy.stats import t  # scipy comes with torch-fidelity

    return float(t.ppf(p, df))
