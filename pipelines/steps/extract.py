"""The extract step: read a run's training window from the raw partitions, split it, write immutable
snapshots.

A run with data interval [start, end) trains on the `training_window_days` partitions before `end`
(its as-of date) and calls the partitions in [start, end) its "new" rows (drift compares those).
Nothing after `end` is read, so a backfilled run never sees the future. Snapshots are keyed by the
window's content hash and never rewritten; keys, filters and the split are `pipelines.domain.rows`.
"""

from __future__ import annotations

import datetime as dt
import logging

import pandas as pd

from pipelines.config import ProjectConfig
from pipelines.contracts import Extracted, RunSpec, layout
from pipelines.domain.rows import concat, content_hash, prepare, row_keys, split, split_description
from pipelines.resources import Resources
from pipelines.resources.lake import Lake, LakeError
from pipelines.steps.summary import summarize

log = logging.getLogger(__name__)


class EmptyWindowError(ValueError):
    """The training window holds no rows: nothing to train on."""


class ExtractError(RuntimeError):
    """A raw partition could not be read (corrupt or unreadable object)."""


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


def older_test_rows(lake: Lake, cfg: ProjectConfig, as_of: dt.date, window_first: dt.date
                    ) -> tuple[pd.DataFrame | None, pd.DataFrame | None]:
    """The test-side rows of the partitions between `split.comparison_days` before as-of and the window
    (prepared like the window's: filters, maturity), and those partitions as they arrived."""
    start = cfg.comparison_start(as_of)
    if start is None or start >= window_first:
        return None, None
    days = read_days(lake, cfg, start, window_first - dt.timedelta(days=1))
    raw = concat([f for _, f in days])
    if raw.empty:
        return None, None
    prepared, _ = prepare(raw, cfg, as_of)
    _, test = split(prepared, cfg)
    return test, raw


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
    older, older_raw = older_test_rows(lake, cfg, as_of, first)
    if older is not None:
        log.info("comparison set reaches back %d days: %d older test-side rows (%s..%s) join the %d of the window", cfg.split.comparison_days,
                 len(older), older[layout.ROW_DATE].min() if len(older) else "-", older[layout.ROW_DATE].max() if len(older) else "-",
                 len(test))
        test = concat([older, test]).reset_index(drop=True)
    # The rows as they arrived (the window, and the older partitions the test set reaches into): same raw data -> same hash.
    data_hash = content_hash(raw if older_raw is None else concat([older_raw, raw]))
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


# --------------------------------------------------------------------------------------- extract
def step_extract(res: Resources, cfg: ProjectConfig, run: RunSpec) -> Extracted:
    ex = extract(res.lake, cfg, run.as_of, run.interval_start, run.window_days)
    summarize("extract", [f"{ex.rows} rows from {ex.partitions} partitions ({ex.window}) as of {ex.as_of}",
                          f"train {ex.train_rows} / test {ex.test_rows} ({ex.split}); {ex.new_rows} new rows since {ex.new_since}",
                          f"snapshots: {layout.run_prefix(cfg.name, run.as_of, ex.data_hash)} (data {layout.data_id(ex.data_hash)})"])
    return ex
