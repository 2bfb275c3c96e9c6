"""Daily drift monitor: each new day's partition against the CURRENT champion's training reference.

Over the project's drift share it alerts (log, lake, webhook) and reports `drifted`, which the
monitor DAG turns into an Airflow Asset event that also schedules the training DAG (early retrain).
No champion yet, or no rows for the day: skipped, with the reason in the log and the result.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from typing import Any

from pipelines import tracking
from pipelines.config import ProjectConfig
from pipelines.storage import Lake

log = logging.getLogger(__name__)


def monitor_prefix(project: str, day: dt.date) -> str:
    return f"monitoring/{project}/dt={day.isoformat()}/"


def monitor_day(cfg: ProjectConfig, lake: Lake, day: dt.date) -> dict[str, Any]:
    from pipelines.alerts import send_alert
    from pipelines.drift import run_drift
    from pipelines.extract import read_partitions

    base = {"project": cfg.name, "day": day.isoformat()}
    champ = tracking.alias_version(cfg.name, tracking.CHAMPION)
    if champ is None:
        log.info("drift check for %s on %s skipped: no champion yet (nothing serves, nothing to compare with)", cfg.name, day)
        return {**base, "status": "skipped", "reason": "no champion yet"}
    current, _ = read_partitions(lake, cfg.name, day, day)
    if current.empty:
        log.info("drift check for %s on %s skipped: no rows in raw/%s/dt=%s", cfg.name, day, cfg.name, day)
        return {**base, "status": "skipped", "reason": "empty day", "champion_version": champ.version}
    reference = lake.get_parquet(lake.key_of(champ.tags["mlops.train_uri"]))
    result, html = run_drift(cfg, reference, current)
    out = {**base, **result.to_dict(), "champion_version": champ.version, "reference": champ.tags["mlops.train_uri"]}
    prefix = monitor_prefix(cfg.name, day)
    out["report_uri"] = lake.put_text(prefix + "drift.html", html) if html else None
    out["json_uri"] = lake.put_json(prefix + "drift.json", out)
    if result.drift_share is not None:
        # A time series on the champion's run: the MLflow UI charts drift share by day.
        step = (day - dt.date(2000, 1, 1)).days
        tracking.client().log_metric(champ.run_id, "monitor/drift_share", result.drift_share, step=step)
    cols = [c["column"] for c in result.columns if c["drifted"]]
    if result.drifted:
        log.warning("DRIFT in %s on %s vs champion v%s: %s; columns %s", cfg.name, day, champ.version, result.reason, cols)
        send_alert(cfg.name, "drift", f"data drift on {day} vs champion v{champ.version}: {result.reason}; columns {cols}",
                   {"report_uri": out["report_uri"], "share": result.drift_share, "day": day.isoformat()}, lake=lake)
    else:
        log.info("no drift in %s on %s vs champion v%s: %s (%d rows)", cfg.name, day, champ.version, result.reason, len(current))
    return {k: out[k] for k in ("project", "day", "status", "reason", "drift_share", "champion_version", "report_uri")} | {
        "drifted_columns": json.dumps(cols)}
