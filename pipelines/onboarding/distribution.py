"""A column's distribution as a suite checks it, with tolerances sized for ONE daily partition.

A profile of thousands of rows gives each statistic's value; a daily partition of `batch_rows` rows
scatters around it. The bounds a drafted suite writes are therefore

    value +- (Z standard errors at `batch_rows` rows)  widened by a tolerance for real drift,

where Z = 4.5 (a clean day crosses one bound about once in 300,000 days, so 200 clean days with
~60 bounds each stay clean) and the standard errors come from resampling the profiled column at the
batch size (quantiles, standard deviation, distinct values) or from the binomial distribution
(shares of a category, a code, a flag or of zeros). A larger batch (the 60-day window a run
validates) varies less, so the same bounds hold for it. The tolerance leaves room for drift, which
the drift monitor reports; what the suite refuses is a broken feed: a constant column, all zeros,
a rare code become universal, a unit changed by 100x, a column collapsed onto a few values.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

Z = 4.5
TAIL = float(stats.norm.sf(Z))  # one-sided probability of crossing one bound on a clean batch
QUANTILES = (0.1, 0.25, 0.5, 0.75, 0.9)
MIN_BATCH_ROWS = 30  # the suites' own row-count floor: no valid batch is smaller
PROJECTED_ROWS = 10_000_000  # unique-value proportions are projected to a batch this large
MIN_PROPORTION_FLOOR = 0.1  # below this a proportion floor tells nothing: a distinct-count floor instead
RESAMPLES = 400


@dataclass
class NumericDistribution:
    """What the suite needs of one numeric column (not a code, not a flag): values and standard errors at
    `batch_rows` rows, and how to floor its distinct values."""

    batch_rows: int
    quantiles: dict[float, float]
    quantile_se: dict[float, float]
    iqr: float
    std: float
    std_se: float
    zero_share: float
    unique_kind: str  # proportion | count
    unique_floor: float
    notes: list[str] = field(default_factory=list)


def _stat_samples(values: np.ndarray, n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return values[rng.integers(0, len(values), size=(RESAMPLES, n))]


def _seed(name: str) -> int:
    return int.from_bytes(name.encode()[:8].ljust(8, b"\0"), "little") % (2**32)


def value_space(distinct: int, rows: int) -> float:
    """The number of equally likely values that would give `distinct` values in `rows` draws (from
    d = M (1 - exp(-rows / M))); with no repeat at all, the smallest M consistent with that (rows^2/2)."""
    if distinct >= rows:
        return rows * rows / 2.0
    lo, hi = float(distinct), float(rows) * rows
    for _ in range(200):
        mid = math.sqrt(lo * hi)
        if mid * (1 - math.exp(-rows / mid)) < distinct:
            lo = mid
        else:
            hi = mid
    return hi


def projected_proportion(space: float, rows: int) -> float:
    """Expected share of distinct values among `rows` draws from `space` equally likely values."""
    return space * (1 - math.exp(-rows / space)) / rows


def numeric_distribution(s: pd.Series, batch_rows: int, spread_tolerance: float) -> NumericDistribution:
    """Profile one numeric column for the suite (nulls are ignored, as GX ignores them)."""
    values = pd.to_numeric(s, errors="coerce").dropna().to_numpy(dtype=float)
    nonnull = max(1.0 - float(s.isna().mean()), 1e-9)
    n_batch = max(2, int(round(batch_rows * nonnull)))
    seed = _seed(str(s.name))
    sample = _stat_samples(values, n_batch, seed)
    # GX computes quantiles with interpolation "nearest" on pandas: the profile does the same.
    qs = {q: float(np.quantile(values, q, method="nearest")) for q in QUANTILES}
    q_samples = np.quantile(sample, QUANTILES, axis=1, method="nearest")
    q_se = {q: float(np.std(q_samples[i], ddof=1)) for i, q in enumerate(QUANTILES)}
    std = float(np.std(values, ddof=1))
    std_se = float(np.std(np.std(sample, axis=1, ddof=1), ddof=1))
    distinct = int(len(np.unique(values)))
    space = value_space(distinct, len(values))
    proportion = projected_proportion(space, PROJECTED_ROWS)
    floor = proportion * (1 - spread_tolerance)
    notes = []
    if floor >= MIN_PROPORTION_FLOOR:
        kind = "proportion"
        notes.append(f"distinct values ~{space:,.0f} equally likely: {proportion:.2f} of a {PROJECTED_ROWS:,}-row batch distinct")
    else:
        kind = "count"
        small = _stat_samples(values, max(2, int(MIN_BATCH_ROWS * nonnull)), seed + 1)
        counts = np.array([len(np.unique(r)) for r in small], dtype=float)
        floor = max(2.0, math.floor((counts.mean() - Z * counts.std(ddof=1)) * (1 - spread_tolerance)))
        notes.append(f"{distinct} distinct values in {len(values)} rows: at least {floor:.0f} distinct in any {MIN_BATCH_ROWS}-row batch")
    return NumericDistribution(batch_rows=batch_rows, quantiles=qs, quantile_se=q_se, iqr=qs[0.75] - qs[0.25], std=std, std_se=std_se,
                               zero_share=float(np.mean(values == 0)), unique_kind=kind, unique_floor=round(floor, 4), notes=notes)


def share_bounds(share: float, tolerance: float, batch_rows: int | None = None) -> tuple[float, float]:
    """Bounds of a share (a category, a code, a flag's 1s, zeros). The true share may shrink to
    (1 - t) x and grow to (1 + 2t) x (+2 points): room for drift. A batch of `batch_rows` rows
    scatters around its true share (binomial): the bounds add Z standard errors' worth of that
    tail on either side. A vanished or universal value fails at any batch size; a halved one fails
    where the batch is large enough to tell."""
    lo, hi = max(0.0, share * (1 - tolerance)), min(1.0, share * (1 + 2 * tolerance) + 0.02)
    if batch_rows:
        lo = float(stats.binom.ppf(TAIL, batch_rows, lo)) / batch_rows
        hi = float(stats.binom.isf(TAIL, batch_rows, hi)) / batch_rows
    return round(lo, 4), round(min(hi, 1.0), 4)


def flag_bounds(rate: float, tolerance: float, batch_rows: int) -> tuple[float, float]:
    """Bounds of a binary flag's rate: either class may shrink to (1 - t) x (room for drift), plus a
    batch's binomial scatter (Z standard errors' worth of tail) on either side."""
    lo, hi = rate * (1 - tolerance), 1 - (1 - rate) * (1 - tolerance)
    return (round(float(stats.binom.ppf(TAIL, batch_rows, lo)) / batch_rows, 4),
            round(float(stats.binom.isf(TAIL, batch_rows, hi)) / batch_rows, 4))


def null_floor(nulls: float, batch_rows: int) -> float:
    """`mostly` of the not-null check: the null share may grow to x1.5 + 2 points, plus a batch's
    binomial scatter on top."""
    hi = min(1.0, 1.5 * nulls + 0.02)
    return round(max(0.0, 1 - float(stats.binom.isf(TAIL, batch_rows, hi)) / batch_rows), 4)


def location_bounds(d: NumericDistribution, q: float, tolerance: float) -> tuple[float, float]:
    """A quantile may move by Z standard errors plus `tolerance` x the column's IQR (its std when the
    IQR is 0): room for drift, none for a unit change."""
    scale = d.iqr if d.iqr > 0 else d.std
    room = Z * d.quantile_se[q] + tolerance * scale
    return round(d.quantiles[q] - room, 4), round(d.quantiles[q] + room, 4)


def std_floor(d: NumericDistribution, tolerance: float) -> float:
    """The standard deviation may fall to (1 - t) x of its lowest clean-batch value: a constant or
    nearly constant column fails."""
    return round(max(0.0, (d.std - Z * d.std_se) * (1 - tolerance)), 4)
