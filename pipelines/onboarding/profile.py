"""Profiling a CSV for onboarding: each column's kind (numeric, binary flag, categorical, time, or
dropped with the reason), null share, range, value set and shares, and for numeric columns the
distribution a daily partition of `batch_rows` rows shows (`pipelines.onboarding.distribution`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from pipelines.onboarding.distribution import MIN_BATCH_ROWS, NumericDistribution, numeric_distribution

NUMERIC_TYPES = ["int64", "int32", "Int64", "float64", "float32", "Float64", "bool", "boolean"]
TEXT_TYPES = ["object", "str", "string", "StringDtype"]
DATE_TYPES = ["datetime64[ns]", "datetime64[us]", "datetime64[ms]", "datetime64[s]", "object", "str", "string"]
MAX_CATEGORIES = 30
MIN_SHARE = 0.05  # categories below this share get no share check (too noisy)
SPREAD_TOLERANCE = 0.5  # a standard deviation or a distinct-value floor may halve (below its clean-batch low)


class OnboardingError(ValueError):
    pass


@dataclass
class ColumnProfile:
    name: str
    kind: str  # numeric | binary | categorical | time | dropped
    nulls: float
    distinct: int
    reason: str = ""
    low: float | None = None
    high: float | None = None
    values: list[Any] = field(default_factory=list)
    shares: dict[str, float] = field(default_factory=dict)
    rate: float | None = None  # binary flags: share of 1s
    number: bool = True  # stored as numbers (else text)
    date: bool = False
    batch_rows: int = MIN_BATCH_ROWS  # the daily partition the tolerances are sized for
    dist: NumericDistribution | None = None  # numeric columns that are not codes


def _is_binary(s: pd.Series) -> bool:
    vals = set(pd.unique(s.dropna()))
    return pd.api.types.is_numeric_dtype(s) and len(vals) == 2 and vals <= {0, 1, 0.0, 1.0, True, False}


def _looks_datetime(s: pd.Series) -> bool:
    if pd.api.types.is_datetime64_any_dtype(s):
        return True
    if s.dtype != object:
        return False
    sample = s.dropna().astype(str).head(200)
    return len(sample) > 0 and sample.str.match(r"^\d{4}-\d{2}-\d{2}").mean() > 0.9


def _open_ended_count(s: pd.Series) -> bool:
    """A count (loans paid off, products held) can reach a new maximum any day; a code (a closed set)
    cannot. A contiguous run of non-negative integers whose largest value is rare (< 1% of rows: a
    thinning tail) is read as a count and gets a range, not an exact value set."""
    v = s.dropna().astype("int64")
    values = sorted(int(x) for x in pd.unique(v))
    contiguous = values[0] >= 0 and len(values) == values[-1] - values[0] + 1
    return contiguous and float((v == values[-1]).mean()) < 0.01


def profile_column(s: pd.Series, *, protected: set[str], time_column: str | None = None, batch_rows: int = MIN_BATCH_ROWS
                   ) -> ColumnProfile:
    name, n = str(s.name), max(len(s), 1)
    nulls, distinct = float(s.isna().mean()), int(s.nunique(dropna=True))
    p = ColumnProfile(name=name, kind="dropped", nulls=nulls, distinct=distinct, number=pd.api.types.is_numeric_dtype(s),
                      date=_looks_datetime(s), batch_rows=max(MIN_BATCH_ROWS, batch_rows))
    if name == time_column:
        p.kind = "time"
    elif distinct <= 1 and name not in protected:
        p.reason = "constant: a single value carries no information"
    elif p.date:
        p.reason = "a date: not a feature (pass --time-column to split on it)"
    elif _is_binary(s):
        p.kind, p.rate, p.values = "binary", float(pd.to_numeric(s, errors="coerce").mean()), [0, 1]
    elif pd.api.types.is_numeric_dtype(s):
        integer_like = pd.api.types.is_integer_dtype(s) or bool((s.dropna() % 1 == 0).all())
        if integer_like and distinct > 0.95 * n and name not in protected:
            p.reason = f"id-like: {distinct / n:.0%} distinct integers"
        else:
            p.kind, p.low, p.high = "numeric", float(s.min()), float(s.max())
            if distinct <= 10 and integer_like:  # a code or a small count: each value's share is checked
                p.shares = {str(int(k)): float(v) for k, v in s.dropna().value_counts(normalize=True).items()}
                if not _open_ended_count(s):
                    p.values = sorted(int(v) for v in pd.unique(s.dropna()))
            if not p.values:  # a measurement or a count: its distribution is checked
                p.dist = numeric_distribution(s, p.batch_rows, SPREAD_TOLERANCE)
    elif distinct > MAX_CATEGORIES and name not in protected:
        p.reason = f"free text or an identifier: {distinct} distinct values"
    else:
        p.kind = "categorical"
        counts = s.dropna().astype(str).value_counts(normalize=True)
        p.values, p.shares = sorted(counts.index.tolist()), {str(k): float(v) for k, v in counts.items()}
    return p


def default_batch_rows(rows: int, days: int = 60) -> int:
    """`init` spreads a CSV over `days` daily partitions: one of them is the batch the tolerances are for."""
    return max(MIN_BATCH_ROWS, round(rows / max(days, 1)))


def profile(df: pd.DataFrame, target: str, time_column: str | None = None, keep: set[str] | None = None,
            batch_rows: int | None = None) -> dict[str, ColumnProfile]:
    """Each column's kind and statistics; `keep` names columns that must stay features (redrafting a
    shipped project's suite), so they are profiled instead of dropped. Tolerances are sized for a
    daily partition of `batch_rows` rows (default: the CSV spread over 60 days)."""
    if target not in df.columns:
        raise OnboardingError(f"the CSV has no column {target!r}; columns: {list(df.columns)}")
    if time_column and time_column not in df.columns:
        raise OnboardingError(f"the CSV has no column {time_column!r} for --time-column")
    protected = {target} | (keep or set())
    batch = batch_rows or default_batch_rows(len(df))
    return {c: profile_column(df[c], protected=protected, time_column=time_column, batch_rows=batch) for c in df.columns}
