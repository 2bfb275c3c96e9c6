"""The target as the model sees it, in one place: 0/1 for classification (1 = the configured
`positive_label`, whatever the data's label type: 1, "1", "Yes"), floats for regression."""

from __future__ import annotations

import numpy as np
import pandas as pd

from pipelines.config import ProjectConfig


class TargetError(ValueError):
    pass


def _as_number(label: str) -> float | None:
    try:
        return float(label)
    except ValueError:
        return None


def is_positive(cfg: ProjectConfig, values: pd.Series) -> pd.Series:
    """True where a raw target value is the positive class (missing values are not)."""
    pos = cfg.positive_label
    num = _as_number(pos)
    if num is not None and pd.api.types.is_numeric_dtype(values):
        return values.astype(float).eq(num)
    return values.astype("string").str.strip().eq(pos).fillna(False).astype(bool)


def encode_target(cfg: ProjectConfig, df: pd.DataFrame) -> np.ndarray:
    if cfg.target not in df.columns:
        raise TargetError(f"data lacks the target column {cfg.target!r}")
    col = df[cfg.target]
    if cfg.regression:
        return pd.to_numeric(col, errors="coerce").to_numpy(dtype=float)
    return is_positive(cfg, col).to_numpy(dtype=np.int64)


def training_xy(cfg: ProjectConfig, df: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray]:
    """Model inputs and encoded target; time-split projects come sorted by time (time-ordered CV)."""
    missing = [c for c in [*cfg.input_columns, cfg.target] if c not in df.columns]
    if missing:
        raise TargetError(f"training data lacks column(s) {missing}")
    if cfg.split.strategy == "time":
        t = pd.to_datetime(df[cfg.split.time_column], errors="coerce")
        df = df.iloc[np.argsort(t.to_numpy(), kind="stable")].reset_index(drop=True)
    y = encode_target(cfg, df)
    if not cfg.regression and len(np.unique(y)) < 2:
        raise TargetError(f"the training rows hold one class only of {cfg.target!r} (positive label "
                          f"{cfg.positive_label!r}): check positive_label against the data's labels")
    return df[cfg.input_columns], y


def row_amounts(cfg: ProjectConfig, df: pd.DataFrame) -> np.ndarray | None:
    """Per-row amounts of the cost model (e.g. the loan amount), or None for a fixed amount."""
    cost = cfg.threshold.cost
    if cost is None or cost.amount_column is None:
        return None
    return pd.to_numeric(df[cost.amount_column], errors="coerce").fillna(0.0).to_numpy(dtype=float)
