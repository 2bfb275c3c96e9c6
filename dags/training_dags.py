"""DAG factory: per project YAML in `pipelines/projects/`, two DAGs:

    <project>_training       extract -> validate -> train -> evaluate -> register -> drift
                             every 2 days on 2-day data intervals, OR early when drift is detected
    <project>_drift_monitor  check_drift -> signal_retrain (emits the project's drift Asset)
                             daily: yesterday's partition vs the current champion's training rows

This file only wires tasks. Each task is a short adapter over `pipelines.steps`; heavy libraries
(pandas, sklearn, optuna, mlflow, great_expectations, evidently) are imported inside task bodies,
so parsing stays fast. XCom carries only URIs, MLflow run ids and model versions.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

import pendulum
from airflow.sdk import DAG, Asset, AssetOrTimeSchedule, DeltaDataIntervalTimetable, Param, get_current_context, task

from pipelines.config import ProjectConfig, load_project, project_names

log = logging.getLogger(__name__)


def _on_failure(context: dict[str, Any]) -> None:
    from pipelines.alerts import task_failure_callback

    task_failure_callback(context)


def drift_asset(project: str) -> Asset:
    """Emitted by the drift monitor when drift crosses the threshold; the training DAG listens."""
    return Asset(name=f"{project}_drift_detected", uri=f"mlops://{project}/drift")


def _interval(ctx: Any, days: int) -> tuple[dt.date, dt.date]:
    """(start, end) dates; asset-triggered runs have no data interval: end = the run's run_after day."""
    start, end = ctx.get("data_interval_start"), ctx.get("data_interval_end")
    if end is None:
        end_date = ctx["dag_run"].run_after.date()
        return end_date - dt.timedelta(days=days), end_date
    return start.date(), end.date()


def _run_context(project: str) -> Any:
    """The step's RunContext from the Airflow context: as-of = data interval end (see FACTS.md)."""
    from pipelines.steps import RunContext

    ctx = get_current_context()
    start, end = _interval(ctx, 2)
    params = ctx["params"]
    return RunContext(
        project=project,
        as_of=end,
        interval_start=start,
        dag_id=ctx["dag"].dag_id,
        run_id=ctx["run_id"],
        n_trials=int(params["n_trials"]),
        timeout_minutes=float(params["timeout_minutes"]),
        window_days=int(params["training_window_days"]),
        promote=bool(params["promote"]),
        optuna_workers=int(params["optuna_workers"]),
    )


def _doc(cfg: ProjectConfig) -> str:
    return f"""
### {cfg.name}: training pipeline

{cfg.description}

`extract -> validate -> train -> evaluate -> register -> drift`, every {cfg.dag.schedule_days} days on a
{cfg.dag.schedule_days}-day data interval. A run trains on the {cfg.training_window_days} daily partitions
before its **data interval end** (the as-of date) and writes its outputs under `runs/{cfg.name}/<as-of>/`.

* **target** `{cfg.target}`, primary metric `{cfg.primary_metric}`, families {', '.join(cfg.search.families)}
* **validate**: GX suite `expectations/{cfg.validation.suite}`; a failure stops the run (no retry), nothing is registered
* **register**: version aliased `challenger`; `champion` moves only if the fail-closed policy passes (old one -> `previous`)
* **Params**: `n_trials`, `timeout_minutes`, `training_window_days`, `promote`, `optuna_workers`

Rerunning a date is safe: same data hash -> the same MLflow run and model version are reused.
"""


def build_training_dag(cfg: ProjectConfig) -> DAG:
    project = cfg.name
    start = pendulum.datetime(cfg.dag.start_date.year, cfg.dag.start_date.month, cfg.dag.start_date.day, tz="UTC")
    default_args = {
        "owner": cfg.dag.owner,
        "retries": cfg.dag.retries,
        "retry_delay": dt.timedelta(minutes=cfg.dag.retry_delay_minutes),
        "retry_exponential_backoff": True,
        "max_retry_delay": dt.timedelta(minutes=30),
        "on_failure_callback": _on_failure,
    }
    with DAG(
        dag_id=cfg.dag_id,
        description=f"{project}: extract -> validate -> train -> evaluate -> register -> drift",
        # Every N days on real N-day intervals, and early whenever the drift monitor signals drift.
        schedule=AssetOrTimeSchedule(
            timetable=DeltaDataIntervalTimetable(dt.timedelta(days=cfg.dag.schedule_days)), assets=[drift_asset(project)]
        ),
        start_date=start,
        catchup=False,
        max_active_runs=1,
        default_args=default_args,
        tags=sorted({"mlops", *cfg.dag.tags}),
        doc_md=_doc(cfg),
        params={
            "n_trials": Param(cfg.search.n_trials, type="integer", minimum=1, maximum=2000,
                              description="Optuna trials for this run"),
            "timeout_minutes": Param(float(cfg.search.timeout_minutes), type="number", exclusiveMinimum=0, maximum=1440,
                                     description="wall-clock budget of the search"),
            "training_window_days": Param(cfg.training_window_days, type="integer", minimum=1, maximum=3650,
                                          description="days of partitions before the as-of date to train on"),
            "promote": Param(True, type="boolean", description="false: register and evaluate, never move champion"),
            "optuna_workers": Param(1, type="integer", minimum=1, maximum=16,
                                    description="parallel Optuna processes on one study (needs Postgres storage)"),
        },
    ) as dag:

        @task
        def extract() -> dict[str, Any]:
            from airflow.sdk.exceptions import AirflowFailException

            from pipelines.extract import EmptyWindowError
            from pipelines.steps import step_extract

            try:
                return step_extract(_run_context(project))
            except EmptyWindowError as e:  # no data yet: retrying in minutes will not help, and with
                raise AirflowFailException(str(e)) from e  # max_active_runs=1 it would block other runs

        @task(retries=0)
        def validate(extracted: dict[str, Any]) -> dict[str, Any]:
            from airflow.sdk.exceptions import AirflowFailException

            from pipelines.steps import step_validate
            from pipelines.validate import DataValidationError

            try:
                return step_validate(_run_context(project), extracted)
            except DataValidationError as e:  # bad data does not get better on retry
                raise AirflowFailException(str(e)) from e

        @task
        def train(extracted: dict[str, Any], validation: dict[str, Any]) -> dict[str, Any]:
            from pipelines.steps import step_train

            return step_train(_run_context(project), extracted, validation)

        @task
        def evaluate(extracted: dict[str, Any], trained: dict[str, Any]) -> dict[str, Any]:
            from pipelines.steps import step_evaluate

            return step_evaluate(_run_context(project), extracted, trained)

        # One register at a time per project (pool of size 1, created by scripts/create_pools.py):
        # the champion is re-read and compared-and-set inside it.
        @task(pool=f"{project}_register")
        def register(extracted: dict[str, Any], trained: dict[str, Any], evaluated: dict[str, Any]) -> dict[str, Any]:
            from pipelines.steps import step_register

            return step_register(_run_context(project), extracted, trained, evaluated)

        @task
        def drift(extracted: dict[str, Any], trained: dict[str, Any], evaluated: dict[str, Any]) -> dict[str, Any]:
            from pipelines.steps import step_drift

            return step_drift(_run_context(project), extracted, trained, evaluated)

        e = extract()
        v = validate(e)
        t = train(e, v)
        ev = evaluate(e, t)
        r = register(e, t, ev)
        d = drift(e, t, ev)
        r >> d
    return dag


def build_drift_monitor_dag(cfg: ProjectConfig) -> DAG:
    project = cfg.name
    start = pendulum.datetime(cfg.dag.start_date.year, cfg.dag.start_date.month, cfg.dag.start_date.day, tz="UTC")
    with DAG(
        dag_id=f"{project}_drift_monitor",
        description=f"{project}: daily drift of the newest partition vs the champion's training rows",
        schedule=DeltaDataIntervalTimetable(dt.timedelta(days=1)),
        start_date=start,
        catchup=False,
        max_active_runs=3,
        default_args={"owner": cfg.dag.owner, "retries": cfg.dag.retries, "retry_delay": dt.timedelta(minutes=cfg.dag.retry_delay_minutes),
                      "retry_exponential_backoff": True, "on_failure_callback": _on_failure},
        tags=sorted({"mlops", "drift", project}),
        doc_md=f"""
### {project}: drift monitor

Daily. A run with interval `[D, D+1)` compares partition `dt=D` with the training rows of the model
that is `champion` now (Evidently; per-column methods and thresholds from the project YAML, dataset
drift when the drifted share >= {cfg.drift.drift_share}). On drift: an alert (log, `alerts/` in the
lake, webhook if configured) and an event on Asset `{project}_drift_detected`, which schedules
`{cfg.dag_id}` early. No champion yet or an empty day: skipped, with the reason logged.
Reports: `monitoring/{project}/dt=D/drift.html` in the lake; `monitor/drift_share` on the champion's MLflow run.
""",
    ) as dag:

        @task
        def check_drift() -> dict[str, Any]:
            from pipelines.config import load_project
            from pipelines.monitor import monitor_day
            from pipelines.storage import open_lake

            start_day, _ = _interval(get_current_context(), 1)
            return monitor_day(load_project(project), open_lake(), start_day)

        @task(outlets=[drift_asset(project)])
        def signal_retrain(result: dict[str, Any]) -> str:
            from airflow.sdk.exceptions import AirflowSkipException

            if result["status"] != "drifted":
                raise AirflowSkipException(f"no retrain: drift status {result['status']} ({result.get('reason')})")
            log.warning("drift on %s (share %.2f): emitting %s_drift_detected -> %s_training runs early",
                        result["day"], result["drift_share"], project, project)
            return result["day"]

        signal_retrain(check_drift())
    return dag


for _name in project_names():
    try:
        _cfg = load_project(_name)
    except Exception as _err:  # one broken YAML must not hide the other projects' DAGs (tests load all)
        log.error("skipping project %s: %s", _name, _err)
        continue
    globals()[_cfg.dag_id] = build_training_dag(_cfg)
    globals()[f"{_cfg.name}_drift_monitor"] = build_drift_monitor_dag(_cfg)
