"""The batch scorer: each day's new raw partition scored by `@champion`, and by `@challenger` in shadow
when there is one, written to the same prediction log the HTTP service writes (so the outcomes loop
judges both the same way).

A run as of D scores partition D-1 "at D" (the prediction's time is D, 00:00 UTC): a backfill writes
what would have been predicted then. A model never scores a partition older than its own as-of date:
it may have trained on those rows, and judging it on them would flatter it. The target column is not
read. Output keys name the partition, version and arm, and are written once: a rerun writes nothing.
"""

from __future__ import annotations

import datetime as dt
import logging

import pandas as pd

from pipelines.config import ProjectConfig
from pipelines.contracts import ScoredArm, ScoredPartition, layout, names
from pipelines.contracts.rollout import ARM_CHAMPION, ARM_SHADOW
from pipelines.domain.rows import concat
from pipelines.domain.outcomes import id_text
from pipelines.domain.scoring import predict_arrays, prediction_log_columns
from pipelines.resources import Resources
from pipelines.resources.registry import VersionInfo
from pipelines.steps.extract import read_days

log = logging.getLogger(__name__)


def _score_arm(res: Resources, cfg: ProjectConfig, raw: pd.DataFrame, info: VersionInfo, arm: str, day: dt.date,
               at: dt.datetime) -> ScoredArm:
    trained_to = info.tags.get(names.AS_OF)
    if trained_to and day < dt.date.fromisoformat(trained_to):
        reason = f"v{info.version} is as of {trained_to}: partition {day} may be in its training rows, not scored"
        log.info("%s %s: %s", cfg.name, arm, reason)
        return ScoredArm(version=info.version, arm=arm, rows=0, reason=reason)
    key = layout.prediction_key(cfg.name, at.date().isoformat(), f"batch-{day.isoformat()}-v{info.version}-{arm}")
    if res.lake.exists(key):
        log.info("%s %s v%s: %s already scored (%s)", cfg.name, arm, info.version, day, res.lake.uri(key))
        return ScoredArm(version=info.version, arm=arm, rows=len(raw), uri=res.lake.uri(key), reason="already scored")
    model = res.load_model(f"models:/{cfg.name}/{info.version}")
    inputs = raw[cfg.input_columns]
    record_ids = id_text(raw[cfg.id_column]).to_numpy(dtype=object) if cfg.id_column else None
    frame = pd.DataFrame(prediction_log_columns(at.isoformat(), f"batch-{at.date().isoformat()}", record_ids, info.version, arm,
                                                predict_arrays(model, inputs, cfg.regression), inputs))
    uri, _ = res.lake.write_parquet_once(key, frame)  # a concurrent retry that wrote it first wins: same rows
    log.info("%s %s v%s: scored %d rows of %s -> %s", cfg.name, arm, info.version, len(raw), day, uri)
    return ScoredArm(version=info.version, arm=arm, rows=len(raw), uri=uri)


def score_partition(res: Resources, cfg: ProjectConfig, as_of: dt.date) -> ScoredPartition:
    day = as_of - dt.timedelta(days=1)
    champion = res.registry.alias_version(cfg.name, names.CHAMPION)  # a registry error fails the task (retried)
    if champion is None:
        log.info("%s: nothing scored as of %s: no champion yet", cfg.name, as_of)
        return ScoredPartition(project=cfg.name, as_of=as_of, partition=day, status="skipped", reason="no champion yet")
    raw = concat([f for _, f in read_days(res.lake, cfg, day, day)])
    if raw.empty:
        log.info("%s: nothing scored as of %s: partition %s is empty or missing", cfg.name, as_of, day)
        return ScoredPartition(project=cfg.name, as_of=as_of, partition=day, status="skipped", reason=f"no rows in partition {day}")
    at = dt.datetime(as_of.year, as_of.month, as_of.day, tzinfo=dt.timezone.utc)
    arms = [_score_arm(res, cfg, raw, champion, ARM_CHAMPION, day, at)]
    challenger = res.registry.alias_version(cfg.name, names.CHALLENGER)
    if challenger is not None and challenger.version != champion.version:
        arms.append(_score_arm(res, cfg, raw, challenger, ARM_SHADOW, day, at))
    status = "scored" if any(a.uri for a in arms) else "skipped"
    return ScoredPartition(project=cfg.name, as_of=as_of, partition=day, status=status, arms=arms,
                           reason="" if status == "scored" else "; ".join(a.reason for a in arms))
