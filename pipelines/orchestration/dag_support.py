"""What the DAG files share: the Assets that start a training run early (drift, decay on realized
outcomes), the default args of the daily monitors, and a run's (start, end) dates. Airflow glue, light
at import (the DAG folder parses it).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from airflow.sdk import Asset

from pipelines.config import ProjectConfig
from pipelines.orchestration.notifications import TaskFailureAlert


def drift_asset(project: str) -> Asset:
    """Emitted by the drift monitor when drift crosses the threshold; the training DAG listens."""
    return Asset(name=f"{project}_drift_detected", uri=f"mlops://{project}/drift")


def decay_asset(project: str) -> Asset:
    """Emitted by the outcomes DAG when the champion's realized metric breaks the decay rule."""
    return Asset(name=f"{project}_outcomes_decayed", uri=f"mlops://{project}/outcomes-decay")


def retrain_signals(cfg: ProjectConfig) -> Any:
    """What starts the training DAG early: drift, or (with an outcomes block) decay on realized outcomes."""
    return drift_asset(cfg.name) | decay_asset(cfg.name) if cfg.outcomes is not None else drift_asset(cfg.name)


def monitor_args(cfg: ProjectConfig) -> dict[str, Any]:
    return {"owner": cfg.dag.owner, "retries": cfg.dag.retries, "retry_delay": dt.timedelta(minutes=cfg.dag.retry_delay_minutes),
            "retry_exponential_backoff": True, "execution_timeout": dt.timedelta(minutes=cfg.dag.task_timeout_minutes),
            "on_failure_callback": TaskFailureAlert(cfg.name)}


def run_interval(ctx: Any, days: int) -> tuple[dt.date, dt.date]:
    """(start, end) dates; asset-triggered runs have no data interval: end = the run's run_after day."""
    start, end = ctx.get("data_interval_start"), ctx.get("data_interval_end")
    if end is None:
        end_date = ctx["dag_run"].run_after.date()
        return end_date - dt.timedelta(days=days), end_date
    return start.date(), end.date()
