"""Daily drift monitor: each new day's partition against the CURRENT champion's training reference.

Over the project's drift share it alerts (log, lake, webhook) and reports `drifted`, which the
monitor DAG turns into an Airflow Asset event that also schedules the training DAG (early retrain).
No champion yet, or no rows for the day: skipped, with the reason in the log and the result.
Reports go to the lake and to the champion's MLflow run (`monitoring/dt=<day>/`), and the drift
share is logged there as `monitor/drift_share` timestamped with the monitored day.
"""

from __future__ import annotations

import datetime as dt
import logging

from pipelines.config import ProjectConfig
from pipelines.contracts import DriftSummary, layout, names
from pipelines.domain.drift import check_drift
from pipelines.domain.rows import concat
from pipelines.resources import Resources
from pipelines.steps.drift import DriftTarget, record_drift
from pipelines.steps.extract import load_snapshot, read_days

log = logging.getLogger(__name__)


def monitor_day(res: Resources, cfg: ProjectConfig, day: dt.date) -> DriftSummary:
    champ = res.registry.alias_version(cfg.name, names.CHAMPION)  # a registry error fails the task (retried)
    if champ is None:
        log.info("drift check for %s on %s skipped: no champion yet (nothing serves, nothing to compare with)", cfg.name, day)
        return DriftSummary(project=cfg.name, day=day, status="skipped", reason="no champion yet")
    current = concat([f for _, f in read_days(res.lake, cfg, day, day)])
    if current.empty:
        log.info("drift check for %s on %s skipped: no rows in %s", cfg.name, day, layout.raw_partition_prefix(cfg.name, day))
        return DriftSummary(project=cfg.name, day=day, status="skipped", reason="empty day", champion_version=champ.version)
    train_uri = champ.tags.get(names.TRAIN_URI)
    if not train_uri:
        raise RuntimeError(f"champion v{champ.version} of {cfg.name} has no {names.TRAIN_URI} tag: no reference to compare with")
    result, report = check_drift(cfg, load_snapshot(res.lake, train_uri), current, seed=cfg.split.seed)
    prefix = layout.monitoring_prefix(cfg.name, day) + f"vs-v{champ.version}/"
    midnight = dt.datetime(day.year, day.month, day.day, tzinfo=dt.timezone.utc)
    target = DriftTarget(json_key=prefix + "drift.json", html_key=prefix + "drift.html", mlflow_run_id=champ.run_id,
                         mlflow_experiment_id=res.registry.experiment_id(cfg.name), metric="monitor/drift_share",
                         artifact_dir=f"{names.ARTIFACT_MONITOR}/dt={day.isoformat()}", timestamp_ms=int(midnight.timestamp() * 1000))
    return record_drift(res, cfg, result, report, day=day, reference=f"champion v{champ.version} training rows", target=target,
                        champion_version=champ.version, label=f"on {day} ({len(current)} rows)")
