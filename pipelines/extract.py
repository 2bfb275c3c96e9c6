"""Extract: read a run's training window from the raw partitions, split it (seeded), write snapshots.

A run with data interval [start, end) trains on the `training_window_days` partitions before `end`
(its as-of date) and calls the partitions in [start, end) its "new" rows (drift compares those).
Nothing after `end` is read, so a backfilled run never sees the future.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
from dataclasses import asdict, dataclass, field

import pandas as pd
from sklearn.model_selection import train_test_split

from pipelines.config import ProjectConfig
from pipelines.storage import Lake, LakeError, raw_partition_prefix, run_prefix

log = logging.getLogger(__name__)


class EmptyWindowError(ValueError):
    """The training window holds no rows: nothing to train on."""


class ExtractError(RuntimeError):
    """A raw partition could not be read (corrupt or unreadable object)."""


@dataclass(frozen=True)
class ExtractResult:
    project: str
    as_of: str
    window_start: str
    window_end: str
    partitions: int
    rows: int
    train_uri: str
    test_uri: str
    new_uri: str
    train_rows: int
    test_rows: int
    new_rows: int
    data_hash: str
    manifest_uri: str
    dropped: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def content_hash(df: pd.DataFrame) -> str:
    """Stable hash of a frame's content and column names (same data -> same hash, any backend)."""
    h = hashlib.sha256()
    h.update("\x1f".join(map(str, df.columns)).encode())
    h.update(pd.util.hash_pandas_object(df, index=False).to_numpy().tobytes())
    return h.hexdigest()


def read_days(lake: Lake, project: str, first: dt.date, last: dt.date) -> list[tuple[dt.date, pd.DataFrame]]:
    """Each day's raw partition objects (first..last, inclusive), in date then file order."""
    out: list[tuple[dt.date, pd.DataFrame]] = []
    day = first
    while day <= last:
        for key in (k for k in lake.list(raw_partition_prefix(project, day)) if k.endswith(".parquet")):
            try:
                out.append((day, lake.get_parquet(key)))
            except LakeError as e:
                raise ExtractError(f"cannot read raw partition object {lake.uri(key)}: {e}") from e
        day += dt.timedelta(days=1)
    return out


def _concat(frames: list[pd.DataFrame]) -> pd.DataFrame:
    # Partitions with differing columns still concatenate (absent -> NaN): validation names them.
    return pd.concat(frames, ignore_index=True, sort=False) if frames else pd.DataFrame()


def read_partitions(lake: Lake, project: str, first: dt.date, last: dt.date) -> tuple[pd.DataFrame, int]:
    """Concatenate the raw partitions dated first..last (inclusive); also the number of days with data."""
    days = read_days(lake, project, first, last)
    return _concat([f for _, f in days]), len({d for d, _ in days})


def prepare(df: pd.DataFrame, cfg: ProjectConfig) -> tuple[pd.DataFrame, dict[str, int]]:
    """Apply the config's row filters and derived target; return the rows kept and, per rule, the
    number dropped -- reported in extract.json and the log, never silent."""
    dropped: dict[str, int] = {}
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
        keep |= col.isna() & f.keep_missing
        keep &= col.notna() | f.keep_missing
        rule = f"{f.column}" + (f" {'>' if f.exclusive else '>='} {f.min:g}" if f.min is not None else "") + (
            f" {'<' if f.exclusive else '<='} {f.max:g}" if f.max is not None else "") + (f" in {f.values}" if f.values is not None else "")
        dropped[rule] = int((~keep).sum())
        df = df[keep]
    d = cfg.derive_target
    if d is not None and d.source in df.columns:
        src = df[d.source]
        known = src.isin(d.positive) | src.isin(d.negative)
        for value, n in src[~known].value_counts(dropna=False).items():
            dropped[f"{d.source}={value} (not a final outcome)"] = int(n)
        df = df[known].copy()
        df[cfg.target] = df[d.source].isin(d.positive).astype("int64")
    return df.reset_index(drop=True), dropped


def split(df: pd.DataFrame, cfg: ProjectConfig) -> tuple[pd.DataFrame, pd.DataFrame]:
    if cfg.split.strategy == "time":
        # The latest rows by time are the test set: nothing after a training row's time is tested
        # against, and nothing from the test period reaches training.
        t = pd.to_datetime(df[cfg.split.time_column], errors="coerce")
        order = t.sort_values(kind="stable").index
        cut = int(round(len(df) * (1 - cfg.split.test_fraction)))
        return df.loc[order[:cut]].reset_index(drop=True), df.loc[order[cut:]].reset_index(drop=True)
    stratify = None
    if cfg.split.stratify and not cfg.regression and cfg.target in df.columns:
        counts = df[cfg.target].value_counts(dropna=False)
        if df[cfg.target].notna().all() and len(counts) > 1 and counts.min() >= 2:
            stratify = df[cfg.target]
        else:
            # Not fatal here: validation (next step) names the target problem precisely.
            log.warning("cannot stratify on %s (classes %s); splitting without stratification", cfg.target, counts.to_dict())
    train, test = train_test_split(df, test_size=cfg.split.test_fraction, random_state=cfg.split.seed, stratify=stratify)
    return train.reset_index(drop=True), test.reset_index(drop=True)


def extract(
    lake: Lake,
    cfg: ProjectConfig,
    as_of: dt.date,
    interval_start: dt.date | None = None,
    window_days: int | None = None,
) -> ExtractResult:
    first, last = cfg.window(as_of, window_days)
    days = read_days(lake, cfg.name, first, last)
    df, partitions = _concat([f for _, f in days]), len({d for d, _ in days})
    if df.empty:
        raise EmptyWindowError(
            f"no rows for {cfg.name} in the training window {first}..{last} (as of {as_of}) under "
            f"{lake.uri('raw/' + cfg.name + '/')}; feed data first: python -m pipelines feed {cfg.name} ..."
        )
    new_first = interval_start if interval_start is not None and interval_start < as_of else as_of - dt.timedelta(days=1)
    new_first = max(new_first, first)
    new = _concat([f for d, f in days if d >= new_first])  # already read: the interval lies inside the window
    raw_rows = len(df)
    df, dropped = prepare(df, cfg)
    new, _ = prepare(new, cfg)
    if dropped:
        log.info("prepared %s: %d of %d rows kept; dropped %s", cfg.name, len(df), raw_rows, dropped)
    if df.empty:
        raise EmptyWindowError(f"no rows left for {cfg.name} in {first}..{last} after filters: dropped {dropped}")
    train, test = split(df, cfg)
    prefix = run_prefix(cfg.name, as_of)
    train_uri = lake.put_parquet(prefix + "train.parquet", train)
    test_uri = lake.put_parquet(prefix + "test.parquet", test)
    new_uri = lake.put_parquet(prefix + "new.parquet", new if not new.empty else df.iloc[0:0])
    result = ExtractResult(
        project=cfg.name,
        as_of=as_of.isoformat(),
        window_start=first.isoformat(),
        window_end=last.isoformat(),
        partitions=partitions,
        rows=len(df),
        train_uri=train_uri,
        test_uri=test_uri,
        new_uri=new_uri,
        train_rows=len(train),
        test_rows=len(test),
        new_rows=len(new),
        data_hash=content_hash(df),
        manifest_uri=lake.uri(prefix + "extract.json"),
        dropped=dropped,
    )
    lake.put_json(prefix + "extract.json", result.to_dict())
    log.info(
        "extracted %s as of %s: %d rows from %d partitions (%s..%s) -> train %d / test %d; %d new rows since %s; hash %s",
        cfg.name, as_of, len(df), partitions, first, last, len(train), len(test), len(new), new_first, result.data_hash[:12],
    )
    return result


def load_extract(lake: Lake, cfg: ProjectConfig, as_of: dt.date) -> ExtractResult:
    return ExtractResult(**lake.get_json(run_prefix(cfg.name, as_of) + "extract.json"))
