"""Extract: read a run's training window from the raw partitions, split it, write immutable snapshots.

A run with data interval [start, end) trains on the `training_window_days` partitions before `end`
(its as-of date) and calls the partitions in [start, end) its "new" rows (drift compares those).
Nothing after `end` is read, so a backfilled run never sees the future.

Every row gets a stable key (`_row_key`: the project's id column, else a hash of its raw values
and partition date) and its partition date. The `hash` split sends a row to the test side when a
salted hash of its key is under `test_fraction`: the same row is on the same side in every run, so
no model is ever compared on rows another model of the project trained on. Snapshots are keyed by
the window's content hash and never rewritten.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging

import numpy as np
import pandas as pd

from pipelines import layout
from pipelines.config import ProjectConfig
from pipelines.contracts import Extracted
from pipelines.storage import Lake, LakeError

log = logging.getLogger(__name__)


class EmptyWindowError(ValueError):
    """The training window holds no rows: nothing to train on."""


class ExtractError(RuntimeError):
    """A raw partition could not be read (corrupt or unreadable object)."""


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


def read_days(lake: Lake, cfg: ProjectConfig, first: dt.date, last: dt.date) -> list[tuple[dt.date, pd.DataFrame]]:
    """Each day's raw partition objects (first..last, inclusive), keyed and dated, in date then file order."""
    out: list[tuple[dt.date, pd.DataFrame]] = []
    day = first
    while day <= last:
        for key in (k for k in lake.list(layout.raw_partition_prefix(cfg.name, day)) if k.endswith(".parquet")):
            try:
                df = lake.get_parquet(key)
            except LakeError as e:
                raise ExtractError(f"cannot read raw partition object {lake.uri(key)}: {e}") from e
            df[layout.ROW_KEY] = row_keys(cfg, day, df)
            df[layout.ROW_DATE] = day.isoformat()
            out.append((day, df))
        day += dt.timedelta(days=1)
    return out


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


def extract(lake: Lake, cfg: ProjectConfig, as_of: dt.date, interval_start: dt.date | None = None,
            window_days: int | None = None) -> Extracted:
    first, last = cfg.window(as_of, window_days)
    days = read_days(lake, cfg, first, last)
    df, partitions = concat([f for _, f in days]), len({d for d, _ in days})
    if df.empty:
        raise EmptyWindowError(
            f"no rows for {cfg.name} in the training window {first}..{last} (as of {as_of}) under "
            f"{lake.uri(layout.raw_prefix(cfg.name))}; feed data first: python -m pipelines feed {cfg.name} ...")
    new_first = interval_start if interval_start is not None and interval_start < as_of else as_of - dt.timedelta(days=1)
    new_first = max(new_first, first)
    raw, raw_rows = df, len(df)
    df, dropped = prepare(df, cfg, as_of)
    new = df[df[layout.ROW_DATE] >= new_first.isoformat()]
    if dropped:
        log.info("prepared %s: %d of %d rows kept; dropped %s", cfg.name, len(df), raw_rows, dropped)
    if df.empty:
        raise EmptyWindowError(f"no rows left for {cfg.name} in {first}..{last} after filters: dropped {dropped}")
    train, test = split(df, cfg)
    data_hash = content_hash(raw)  # the window as it arrived: same raw data -> same hash, whatever the code
    keys = {name: layout.snapshot_key(cfg.name, as_of, data_hash, name) for name in
            ("window.parquet", "train.parquet", "test.parquet", "new.parquet", "extract.json")}
    uris = {name: lake.write_parquet_once(keys[name], frame)[0] for name, frame in
            (("window.parquet", raw), ("train.parquet", train), ("test.parquet", test), ("new.parquet", new))}
    result = Extracted(project=cfg.name, as_of=as_of, window_start=first, window_end=last, new_since=new_first, partitions=partitions,
                       rows=len(df), data_hash=data_hash, window_uri=uris["window.parquet"], train_uri=uris["train.parquet"],
                       test_uri=uris["test.parquet"], new_uri=uris["new.parquet"], manifest_uri=lake.uri(keys["extract.json"]),
                       raw_rows=raw_rows, train_rows=len(train),
                       test_rows=len(test), new_rows=len(new), split=split_description(cfg), dropped=dropped)
    lake.write_json_once(keys["extract.json"], result.to_json())
    log.info("extracted %s as of %s: %d rows from %d partitions (%s..%s) -> train %d / test %d (%s); %d new rows since %s; "
             "data %s", cfg.name, as_of, len(df), partitions, first, last, len(train), len(test), result.split, len(new), new_first,
             layout.data_id(data_hash))
    return result


def load_snapshot(lake: Lake, uri: str) -> pd.DataFrame:
    return lake.get_parquet(lake.key_of(uri))


def strip_snapshot_columns(df: pd.DataFrame) -> pd.DataFrame:
    """The rows as they arrived (what the GX suite describes): without the key and partition date."""
    return df.drop(columns=[c for c in layout.SNAPSHOT_COLUMNS if c in df.columns])
