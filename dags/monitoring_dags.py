"""DAG factory for the daily monitors, per project YAML in `pipelines/projects/`:

    <project>_drift_monitor  check_drift -> signal_retrain (emits the project's drift Asset)
                             daily: yesterday's partition vs the current champion's training rows
    <project>_scoring        score_partition: yesterday's partition scored by @champion (and
                             @challenger in shadow) into the prediction log, write-once
    <project>_outcomes       realized_metrics -> signal_retrain (emits the decay Asset); projects with
                             an `outcomes:` block: served predictions judged on outcomes that arrived

Like training_dags.py, this file only wires tasks over `pipelines.steps`; heavy imports stay inside
task bodies. An invalid project YAML is left out (reported by project_configs.py).
"""

from __future__ import annotations

import logging
from typing import Any

from airflow.sdk import DAG, get_current_context, task

from pipelines.config import ProjectConfig, load_project
from pipelines.config.settings import Settings
from pipelines.contracts import names
from pipelines.orchestration.dag_support import daily_dag, decay_asset, drift_asset, loaded_projects, run_interval

log = logging.getLogger(__name__)


def build_drift_monitor_dag(cfg: ProjectConfig) -> DAG:
    project = cfg.name
    with daily_dag(
        cfg, "drift_monitor", "drift", max_active_runs=3,
        description=f"{project}: daily drift of the newest partition vs the champion's training rows",
        doc_md=f"""
### {project}: drift monitor

Daily. A run with interval `[D, D+1)` compares partition `dt=D` with the training rows of the model
that is `champion` now (Evidently; per-column methods and thresholds from the project YAML, dataset
drift when the drifted share >= {cfg.drift.drift_share}). On drift: an alert (log, `alerts/` in the
lake, webhook if configured) and an event on Asset `{project}_drift_detected`, which schedules
`{cfg.dag_id}` early. No champion yet or an empty day: skipped, with the reason logged.
Reports: the lake (`monitoring/{project}/dt=D/`) and the champion's MLflow run (`monitoring/dt=D/`,
linked from the task), `monitor/drift_share` charted there by day.
""",
    ) as dag:

        @task(task_id=names.TASK_CHECK_DRIFT)
        def check_drift() -> dict[str, Any]:
            from pipelines.resources import Resources
            from pipelines.steps.monitor import monitor_day

            settings = Settings.from_env()
            start_day, _ = run_interval(get_current_context(), 1)
            return monitor_day(Resources.from_settings(settings), load_project(project, settings), start_day).to_json()

        @task(task_id=names.TASK_SIGNAL, outlets=[drift_asset(project)])
        def signal_retrain(result: dict[str, Any]) -> str:
            from airflow.sdk.exceptions import AirflowSkipException

            if result["status"] != "drifted":
                raise AirflowSkipException(f"no retrain: drift status {result['status']} ({result.get('reason')})")
            log.warning("drift on %s (share %.2f): emitting %s_drift_detected -> %s_training runs early",
                        result["day"], result["drift_share"], project, project)
            return str(result["day"])

        signal_retrain(check_drift())
    return dag


def build_outcomes_dag(cfg: ProjectConfig) -> DAG:
    assert cfg.outcomes is not None
    project, o = cfg.name, cfg.outcomes
    with daily_dag(
        cfg, "outcomes", "outcomes", max_active_runs=1,
        description=f"{project}: served predictions judged on the outcomes that arrived",
        doc_md=f"""
### {project}: realized outcomes

Daily. A run as of D joins the predictions served over the {o.window_days} days before D with the
outcomes that ARRIVED before D (`pipelines outcomes import`; due {o.label_delay_days} days after a
prediction), once per (id, version, arm), and reports realized metrics per version and arm with
bootstrap intervals next to the version's evaluation-time estimate; a shadow challenger is compared
with the champion on the same ids. Write-once report: `monitoring/{project}/dt=D/realized.md`.
Decay rule: `{o.decay.model_dump(exclude_defaults=False) if o.decay else "none"}`; when its streak reaches the rule (and
every as many windows again while it lasts), an alert and an event on Asset `{project}_outcomes_decayed`, which starts
`{cfg.dag_id}` early (promotion still goes through the gate).
""",
    ) as dag:

        @task(task_id="realized_metrics")
        def realized_metrics() -> dict[str, Any]:
            from pipelines.resources import Resources
            from pipelines.steps.outcomes import realized

            settings = Settings.from_env()
            _, as_of = run_interval(get_current_context(), 1)
            rep, uri = realized(Resources.from_settings(settings), load_project(project, settings), as_of)
            return {"as_of": as_of.isoformat(), "matched": rep.counts.matched, "decayed": rep.decayed, "signal": rep.signal,
                    "reason": rep.decay_reason, "report_uri": uri}

        @task(task_id=names.TASK_SIGNAL, outlets=[decay_asset(project)])
        def signal_retrain(result: dict[str, Any]) -> str:
            from airflow.sdk.exceptions import AirflowSkipException

            if not result["signal"]:
                why = "decayed, signalled earlier in this streak" if result["decayed"] else (result["reason"] or "no decay rule")
                raise AirflowSkipException(f"no retrain: {why} ({result['matched']} judged predictions)")
            log.warning("decay on realized outcomes as of %s (%s): emitting %s_outcomes_decayed -> %s runs early",
                        result["as_of"], result["reason"], project, cfg.dag_id)
            return str(result["as_of"])

        signal_retrain(realized_metrics())
    return dag


def build_scoring_dag(cfg: ProjectConfig) -> DAG:
    project = cfg.name
    with daily_dag(
        cfg, "scoring", "scoring", max_active_runs=3,
        description=f"{project}: yesterday's partition scored by the champion (and a shadow challenger)",
        doc_md=f"""
### {project}: batch scoring

Daily. A run as of D scores partition `dt=D-1` with the model that is `@champion` (and `@challenger`,
as a shadow, when one is set), through the project's skops loader, and writes the predictions keyed by
id, model version, arm and partition into the prediction log the HTTP service also writes
(`predictions/{project}/dt=D/part-batch-...`, never rewritten: a rerun writes nothing). A model does
not score a partition older than its own as-of date (it may have trained on it). The outcomes DAG
judges these predictions like the served ones. Backfill it from the UI for past days.
""",
    ) as dag:

        @task(task_id="score_partition")
        def score_partition() -> dict[str, Any]:
            from pipelines.resources import Resources
            from pipelines.steps.scoring import score_partition as score

            settings = Settings.from_env()
            _, as_of = run_interval(get_current_context(), 1)
            return score(Resources.from_settings(settings), load_project(project, settings), as_of).to_json()

        score_partition()
    return dag


def build_all(settings: Settings) -> dict[str, DAG]:
    dags: dict[str, DAG] = {}
    for cfg in loaded_projects(settings):
        dags[f"{cfg.name}_drift_monitor"] = build_drift_monitor_dag(cfg)
        dags[f"{cfg.name}_scoring"] = build_scoring_dag(cfg)
        if cfg.outcomes is not None:
            dags[f"{cfg.name}_outcomes"] = build_outcomes_dag(cfg)
    return dags


globals().update(build_all(Settings.from_env()))
