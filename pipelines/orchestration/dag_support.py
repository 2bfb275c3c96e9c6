"""What the DAG files share: the projects that load, a DAG's start date, the Assets that start a
training run early (drift, decay on realized outcomes), the daily monitors' DAG shape, and a run's
(start, end) dates. Airflow glue, light at import (the DAG folder parses it).
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

import pendulum
from airflow.sdk import DAG, Asset, DeltaDataIntervalTimetable

from pipelines.config import ProjectConfig, ProjectConfigError, load_project, project_names
from pipelines.config.settings import Settings
from pipelines.orchestration.notifications import TaskFailureAlert

log = logging.getLogger(__name__)


def loaded_projects(settings: Settings) -> list[ProjectConfig]:
    """Every project whose YAML loads; one that does not is left out here (logged) and reported as
    an import error by dags/project_configs.py, so the other projects keep their DAGs."""
    out = []
    for name in project_names(settings):
        try:
            out.append(load_project(name, settings))
        except ProjectConfigError as err:
            log.error("skipping project %s: %s", name, err)
    return out


def dag_start(cfg: ProjectConfig) -> pendulum.DateTime:
    return pendulum.datetime(cfg.dag.start_date.year, cfg.dag.start_date.month, cfg.dag.start_date.day, tz="UTC")


def drift_asset(project: str) -> Asset:
    """Emitted by the drift monitor when drift crosses the threshold; the training DAG listens."""
    return Asset(name=f"{project}_drift_detected", uri=f"mlops://{project}/drift")


def decay_asset(project: str) -> Asset:
    """Emitted by the outcomes DAG when the champion's realized metric breaks the decay rule."""
    return Asset(name=f"{project}_outcomes_decayed", uri=f"mlops://{project}/outcomes-decay")


def retrain_signals(cfg: ProjectConfig) -> Any:
    """What starts the training DAG early: drift, or (with an outcomes block) decay on realized outcomes."""
    return drift_asset(cfg.name) | decay_asset(cfg.name) if cfg.outcomes is not None else drift_asset(cfg.name)


def daily_dag(cfg: ProjectConfig, kind: str, tag: str, *, description: str, doc_md: str, max_active_runs: int) -> DAG:
    """A daily monitor of a project (`<project>_<kind>`): one-day data intervals from the project's start
    date, no catch-up, the project's retries and failure alert."""
    return DAG(dag_id=f"{cfg.name}_{kind}", description=description, schedule=DeltaDataIntervalTimetable(dt.timedelta(days=1)),
               start_date=dag_start(cfg), catchup=False, max_active_runs=max_active_runs,
               dagrun_timeout=dt.timedelta(minutes=cfg.dag.dagrun_timeout_minutes), default_args=_monitor_args(cfg),
               tags=sorted({"mlops", tag, cfg.name}), doc_md=doc_md)


def _monitor_args(cfg: ProjectConfig) -> dict[str, Any]:
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
