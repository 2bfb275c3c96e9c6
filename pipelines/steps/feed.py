"""Data feeds: write immutable daily raw partitions `raw/<project>/dt=YYYY-MM-DD/part-0000.parquet`.

Two sources share one writer: a synthetic generator calibrated to the project's public dataset
(`pipelines.domain.synthetic`, so the main job runs anywhere), and `--from-csv`, which spreads a real CSV
over the date range (seeded) so real data flows through the same path. A derived target
(`derive_target`) is computed at import, so a CSV with the source column imports as it comes. A CSV
is validated against the project's suite BEFORE anything is written (a refused file writes
nothing). Existing partitions are refused unless `overwrite`.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from pipelines.config import ProjectConfig
from pipelines.contracts import layout
from pipelines.domain.rows import derive_target
from pipelines.domain.synthetic import CONCEPT_SHIFT, GENERATORS
from pipelines.resources.lake import Lake, LakeKeyExists

log = logging.getLogger(__name__)


class FeedError(ValueError):
    pass


@dataclass(frozen=True)
class FeedResult:
    partitions: int
    rows: int
    first: dt.date
    last: dt.date


# --------------------------------------------------------------------------- writer
def _days(start: dt.date, end: dt.date) -> list[dt.date]:
    if end < start:
        raise FeedError(f"--end {end} is before --start {start}")
    return [start + dt.timedelta(days=i) for i in range((end - start).days + 1)]


def _write_partitions(lake: Lake, cfg: ProjectConfig, frames: dict[dt.date, pd.DataFrame], overwrite: bool) -> FeedResult:
    # Check every target first: a refused feed writes nothing rather than half a range.
    if not overwrite:
        taken = [d for d in frames if lake.list(layout.raw_partition_prefix(cfg.name, d))]
        if taken:
            raise LakeKeyExists(
                f"{len(taken)} partition(s) already exist for {cfg.name} (first: dt={taken[0]}); raw "
                "partitions are immutable: pass --overwrite to replace them"
            )
    rows = 0
    for day, df in frames.items():
        lake.put_parquet(layout.raw_partition_key(cfg.name, day), df, overwrite=overwrite)
        rows += len(df)
    days = sorted(frames)
    log.info("wrote %d partitions (%d rows) for %s, %s..%s", len(days), rows, cfg.name, days[0], days[-1])
    return FeedResult(partitions=len(days), rows=rows, first=days[0], last=days[-1])


def feed_synthetic(
    lake: Lake,
    cfg: ProjectConfig,
    start: dt.date,
    end: dt.date,
    *,
    rows_per_day: int | None = None,
    seed: int = 0,
    drift_from: dt.date | None = None,
    concept_shift_from: dt.date | None = None,
    overwrite: bool = False,
) -> FeedResult:
    gen = GENERATORS.get(cfg.feed.generator) if cfg.feed.generator else None
    if gen is None:
        raise FeedError(f"project {cfg.name} has no synthetic generator ({cfg.feed.generator!r}; known: {sorted(GENERATORS)}): "
                        "import data with --from-csv")
    if concept_shift_from is not None and cfg.feed.generator not in CONCEPT_SHIFT:
        raise FeedError(f"generator {cfg.feed.generator!r} cannot plant a concept shift (those that can: {sorted(CONCEPT_SHIFT)})")
    n = rows_per_day or cfg.feed.rows_per_day
    if n < 1:
        raise FeedError("--rows-per-day must be >= 1")
    frames = {}
    for day in _days(start, end):
        # Seeded per day, not per range: a day's data is the same whichever range produced it.
        rng = np.random.default_rng([seed, day.toordinal()])
        drifted = drift_from is not None and day >= drift_from
        # +-10% rows per day so counts are not suspiciously constant.
        rows = max(1, int(round(n * rng.uniform(0.9, 1.1))))
        shifted = concept_shift_from is not None and day >= concept_shift_from
        frame = gen(day, rows, rng, drifted, concept_shift=True) if shifted else gen(day, rows, rng, drifted)  # type: ignore[call-arg]
        frames[day] = derive_target(cfg, frame)[0]
    return _write_partitions(lake, cfg, frames, overwrite)


def read_csv(path: Path) -> pd.DataFrame:
    try:
        return pd.read_csv(path)
    except FileNotFoundError as e:
        raise FeedError(f"CSV not found: {path}") from e
    except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as e:
        raise FeedError(f"cannot parse CSV {path}: {e}") from e


def feed_from_csv(
    lake: Lake,
    cfg: ProjectConfig,
    path: Path,
    start: dt.date,
    end: dt.date,
    *,
    seed: int = 0,
    overwrite: bool = False,
    validate: Callable[[pd.DataFrame], object] | None = None,
) -> FeedResult:
    """Spread a real CSV's rows over [start, end], shuffled with `seed`, one partition a day.
    `validate(df)` runs on the whole file first (raising writes nothing)."""
    df, unknown = derive_target(cfg, read_csv(path))
    if unknown:
        log.info("%s: target %s derived from %s at import; rows without a final outcome: %s", cfg.name, cfg.target,
                 cfg.derive_target.source if cfg.derive_target else "?", unknown)
    required = [c for c in (cfg.id_column, cfg.target, *cfg.input_columns) if c]
    missing = [c for c in dict.fromkeys(required) if c not in df.columns]
    if missing:
        raise FeedError(f"CSV {path} lacks required column(s) {missing} for project {cfg.name}")
    if validate is not None:
        validate(df)
    days = _days(start, end)
    if len(df) < len(days):
        raise FeedError(f"CSV {path} has {len(df)} rows, fewer than the {len(days)} days to fill")
    order = np.random.default_rng(seed).permutation(len(df))
    chunks = np.array_split(order, len(days))
    frames = {day: df.iloc[np.sort(idx)].reset_index(drop=True) for day, idx in zip(days, chunks)}
    return _write_partitions(lake, cfg, frames, overwrite)
