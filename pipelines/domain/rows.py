"""The rows of a training window: stable keys, the content hash, the derived target, the cleaning
filters and label maturity (every drop counted), and the split.

Every row gets a stable key (`_row_key`: the project's id column, else a hash of its raw values
and partition date) and its partition date. The `hash` split sends a row to the test side when a
salted hash of its key is under `test_fraction`: the same row is on the same side in every run, so
no model is ever compared on rows another model of the project trained on. Pure functions over
frames and the project config; reading partitions and writing snapshots is `pipelines.steps.extract`.
"""

from __future__ import annotations

import datetime as dt
import hashlib

import numpy as np
import pandas as pd

from pipelines.config import ProjectConfig
from pipelines.contracts import layout


def content_hash(df: pd.DataFrame) -> str:
    """Stable hash of a frame's content and column names (same data -> same hash, any backend)."""
    h = hashlib.sha256()
    h.update("\x1f".join(map(str, df.columns)).encode())
    h.update(pd.util.hash_pandas_object(df, index=False).to_numpy().tobytes())
    return h.hexdigest()


def row_keys(cfg: ProjectConfig, day: dt.date, df: pd.DataFrame) -> pd.Series:
    """`id_column` as text where the project has one, else `<day>:<hash of the row's raw values>`."""
    if cfg.id_column and cfg.id_column in df.columns:
        return df[cfg.id_column].astype(str)
    cols = sorted(c for c in df.columns if c not in layout.SNAPSHOT_COLUMNS)
    h = pd.util.hash_pandas_object(df[cols], index=False).to_numpy()
    return pd.Series([f"{day.isoformat()}:{v:016x}" for v in h], index=df.index, dtype=object)


def concat(frames: list[pd.DataFrame]) -> pd.DataFrame:
    # Partitions with differing columns still concatenate (absent -> NaN): validation names them.
    return pd.concat(frames, ignore_index=True, sort=False) if frames else pd.DataFrame()


def derive_target(cfg: ProjectConfig, df: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, int]]:
    """`derive_target`: positive source values -> 1, negative -> 0, any other -> missing (no final
    outcome). Applied when data is imported; a no-op when the target column is already there."""
    d = cfg.derive_target
    if d is None or cfg.target in df.columns or d.source not in df.columns:
        return df, {}
    src = df[d.source]
    out = df.copy()
    out[cfg.target] = np.where(src.isin(d.positive), 1.0, np.where(src.isin(d.negative), 0.0, np.nan))
    counts = {f"{d.source}={v} (not a final outcome)": int(n) for v, n in src[out[cfg.target].isna()].value_counts(dropna=False).items()}
    return out, counts


def _filter_rule(f: object) -> str:
    col, lo, hi, ex, vals = (getattr(f, a) for a in ("column", "min", "max", "exclusive", "values"))
    return f"{col}" + (f" {'>' if ex else '>='} {lo:g}" if lo is not None else "") + (
        f" {'<' if ex else '<='} {hi:g}" if hi is not None else "") + (f" in {vals}" if vals is not None else "")


def prepare(df: pd.DataFrame, cfg: ProjectConfig, as_of: dt.date | None = None) -> tuple[pd.DataFrame, dict[str, int]]:
    """The config's row filters, rows without a final outcome (missing target, or younger than the
    label-maturity cut-off): the rows kept and, per rule, the number dropped (never silent)."""
    df, dropped = derive_target(cfg, df)
    for f in cfg.filters:
        if f.column not in df.columns:
            continue  # validation names the missing column
        col = df[f.column]
        num = pd.to_numeric(col, errors="coerce") if (f.min is not None or f.max is not None) else col
        keep = pd.Series(True, index=df.index)
        if f.min is not None:
            keep &= (num > f.min) if f.exclusive else (num >= f.min)
        if f.max is not None:
            keep &= (num < f.max) if f.exclusive else (num <= f.max)
        if f.values is not None:
            keep &= col.isin(f.values)
        keep = (keep | (col.isna() & f.keep_missing)) & (col.notna() | f.keep_missing)
        dropped[_filter_rule(f)] = int((~keep).sum())
        df = df[keep]
    if cfg.target in df.columns and (cfg.derive_target is not None or cfg.maturity is not None):
        missing = df[cfg.target].isna()
        if missing.any():
            dropped.setdefault(f"{cfg.target} missing (no final outcome)", 0)
            dropped[f"{cfg.target} missing (no final outcome)"] += int(missing.sum())
            df = df[~missing]
    m = cfg.maturity
    if m is not None and as_of is not None and m.time_column in df.columns:
        t = pd.to_datetime(df[m.time_column], errors="coerce")
        young = (t >= pd.Timestamp(as_of - dt.timedelta(days=m.days))).to_numpy()
        dropped[f"{m.time_column} within {m.days} days of the as-of date (outcome not final yet)"] = int(young.sum())
        df = df[~young]
    return df.reset_index(drop=True), dropped


def hash_test_mask(keys: pd.Series, test_fraction: float, seed: int) -> np.ndarray:
    """True for the rows whose salted key hash falls under test_fraction: stable across runs."""
    salt = hashlib.sha256(f"mlops-split:{seed}".encode()).hexdigest()[:16]
    h = pd.util.hash_array(keys.astype(str).to_numpy(dtype=object), hash_key=salt)
    return (h.astype(np.float64) / 2.0**64) < test_fraction


def split(df: pd.DataFrame, cfg: ProjectConfig) -> tuple[pd.DataFrame, pd.DataFrame]:
    if cfg.split.strategy == "time":
        # The newest rows by time are the test set: nothing after a training row's time is tested
        # against, and nothing from the test period reaches training.
        t = pd.to_datetime(df[cfg.split.time_column], errors="coerce")
        order = np.argsort(t.to_numpy(), kind="stable")
        cut = int(round(len(df) * (1 - cfg.split.test_fraction)))
        return df.iloc[order[:cut]].reset_index(drop=True), df.iloc[order[cut:]].reset_index(drop=True)
    test = hash_test_mask(df[layout.ROW_KEY], cfg.split.test_fraction, cfg.split.seed)
    return df[~test].reset_index(drop=True), df[test].reset_index(drop=True)


def split_description(cfg: ProjectConfig) -> str:
    if cfg.split.strategy == "time":
        return f"time: newest {cfg.split.test_fraction:.0%} by {cfg.split.time_column}"
    key = cfg.id_column or "row values + partition date"
    return f"hash of {key} (seed {cfg.split.seed}): {cfg.split.test_fraction:.0%} test, same side in every run"


def strip_snapshot_columns(df: pd.DataFrame) -> pd.DataFrame:
    """The rows as they arrived (what the GX suite describes): without the key and partition date."""
    return df.drop(columns=[c for c in layout.SNAPSHOT_COLUMNS if c in df.columns])
