"""DAG factory: per project YAML in `pipelines/projects/`, the training DAGs (the daily monitors are
in `monitoring_dags.py`):

    <project>_training       extract -> validate -> plan_search -> tune (mapped) -> refit -> evaluate -> register -> drift
                             every N days on N-day data intervals, OR early when drift (or decay on
                             realized outcomes) is signalled
    <project>_policy_replay  manual: every recorded decision re-decided under a proposed policy

This file only wires tasks. Each task builds the stores once (`Resources.from_env()`), calls one
`pipelines.steps` function and returns its typed result as JSON; heavy libraries (pandas, sklearn,
optuna, mlflow, great_expectations, evidently) are imported inside task bodies, so parsing stays
fast. XCom carries only URIs, MLflow run ids, model versions and small summaries.
A project whose YAML does not load is left out here and reported as an import error by
`project_configs.py` in this folder (the UI shows "Broken DAG" naming the file and field).
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

import pendulum
from airflow.sdk import DAG, AssetOrTimeSchedule, DeltaDataIntervalTimetable, Param, get_current_context, task

from pipelines.config import MAX_TRIALS, ProjectConfig, load_project
from pipelines.config.settings import Settings
from pipelines.contracts import names
from pipelines.orchestration.dag_support import dag_start, loaded_projects, retrain_signals, run_interval
from pipelines.orchestration.notifications import TaskFailureAlert

log = logging.getLogger(__name__)


def _task_env(project: str) -> tuple[Any, ProjectConfig, Any]:
    """Inside a task: the stores (built once), the project config and the RunSpec. The as-of date is
    the data interval's END: the same for scheduled runs, manual triggers, backfills and dags test."""
    from airflow.sdk.log import mask_secret

    from pipelines.contracts import RunSpec
    from pipelines.resources import Resources

    settings = Settings.from_env()
    for secret in settings.secrets:  # Airflow masks these in every task log line
        mask_secret(secret)
    res = Resources.from_settings(settings)
    cfg = load_project(project, settings)
    ctx = get_current_context()
    start, end = run_interval(ctx, cfg.dag.schedule_days)
    p = ctx["params"]
    run = RunSpec(project=project, as_of=end, interval_start=start, dag_id=ctx["dag"].dag_id, run_id=ctx["run_id"],
                  n_trials=int(p["n_trials"]), timeout_minutes=float(p["timeout_minutes"]), window_days=int(p["training_window_days"]),
                  promote=bool(p["promote"]), optuna_workers=int(p["optuna_workers"]))
    return res, cfg, run


def _doc(cfg: ProjectConfig) -> str:
    return f"""
### {cfg.name}: training pipeline

{cfg.description}

`extract -> validate -> plan_search -> tune (x optuna_workers) -> refit -> evaluate -> register -> drift`, every
{cfg.dag.schedule_days} days on a {cfg.dag.schedule_days}-day data interval. A run trains on the {cfg.training_window_days}
daily partitions **before its data interval end** (the as-of date): trigger it for a date whose previous days have
data (`make demo` feeds the {cfg.training_window_days} days up to yesterday; `python -m pipelines status {cfg.name}`
shows the champion's as-of date). Outputs: `runs/{cfg.name}/<as-of>/<data hash>/` in the lake.

* **target** `{cfg.target}`, primary metric `{cfg.primary_metric}`, families {', '.join(cfg.search.families)}
* **validate**: GX suite `expectations/{cfg.validation.suite}`; a failure stops the run (no retry), nothing is registered
* **register**: the decision is written before any alias moves; `champion` moves only if the fail-closed policy passes
  (old one -> `previous`; `challenger` = the newest version not promoted)
* **Params**: `n_trials`, `timeout_minutes`, `training_window_days`, `promote`, `optuna_workers`

Rerunning a date is safe: same data hash and settings -> the same MLflow run and model version are reused.
"""


def _params(cfg: ProjectConfig) -> dict[str, Param]:
    return {
        "n_trials": Param(cfg.search.n_trials, type="integer", minimum=1, maximum=MAX_TRIALS, description="Optuna trials for this run"),
        "timeout_minutes": Param(float(cfg.search.timeout_minutes), type="number", exclusiveMinimum=0, maximum=1440,
                                 description="wall-clock budget of the search"),
        "training_window_days": Param(cfg.training_window_days, type="integer", minimum=1, maximum=3650,
                                      description="days of partitions before the as-of date (the data interval's end) to train on"),
        "promote": Param(True, type="boolean", description="false: register and evaluate, never move champion"),
        "optuna_workers": Param(1, type="integer", minimum=1, maximum=16,
                                description="mapped tune tasks sharing one study (needs Postgres storage for more than 1)"),
    }


def build_training_dag(cfg: ProjectConfig) -> DAG:
    project = cfg.name
    start = dag_start(cfg)
    task_timeout = dt.timedelta(minutes=cfg.dag.task_timeout_minutes)
    search_timeout = dt.timedelta(minutes=cfg.search.timeout_minutes + cfg.dag.train_margin_minutes)
    default_args = {"owner": cfg.dag.owner, "retries": cfg.dag.retries, "retry_delay": dt.timedelta(minutes=cfg.dag.retry_delay_minutes),
                    "retry_exponential_backoff": True, "max_retry_delay": dt.timedelta(minutes=30), "execution_timeout": task_timeout,
                    "on_failure_callback": TaskFailureAlert(project)}
    with DAG(
        dag_id=cfg.dag_id,
        description=f"{project}: extract -> validate -> tune -> refit -> evaluate -> register -> drift",
        # Every N days on real N-day intervals, and early whenever the drift monitor signals drift (or the
        # outcomes DAG signals decay).
        schedule=AssetOrTimeSchedule(timetable=DeltaDataIntervalTimetable(dt.timedelta(days=cfg.dag.schedule_days)),
                                     assets=retrain_signals(cfg)),
        start_date=start, catchup=False, max_active_runs=1, default_args=default_args,
        dagrun_timeout=dt.timedelta(minutes=cfg.dag.dagrun_timeout_minutes),
        tags=sorted({"mlops", *cfg.dag.tags}), doc_md=_doc(cfg), params=_params(cfg),
    ) as dag:

        @task(task_id=names.TASK_EXTRACT)
        def extract() -> dict[str, Any]:
            from airflow.sdk.exceptions import AirflowFailException

            from pipelines.steps.extract import EmptyWindowError, step_extract

            res, c, run = _task_env(project)
            try:
                return step_extract(res, c, run).to_json()
            except EmptyWindowError as e:  # no data yet: retrying in minutes will not help, and with
                raise AirflowFailException(str(e)) from e  # max_active_runs=1 it would block other runs

        @task(task_id=names.TASK_VALIDATE, retries=0)
        def validate(extracted: dict[str, Any]) -> dict[str, Any]:
            from airflow.sdk.exceptions import AirflowFailException

            from pipelines.contracts import Extracted
            from pipelines.domain.validation import DataValidationError
            from pipelines.steps.validate import step_validate

            res, c, run = _task_env(project)
            try:
                return step_validate(res, c, run, Extracted.from_json(extracted)).to_json()
            except DataValidationError as e:  # bad data does not get better on retry
                raise AirflowFailException(str(e)) from e

        @task(task_id=names.TASK_PLAN)
        def plan_search(extracted: dict[str, Any]) -> list[dict[str, Any]]:
            """One element per tune worker (one on SQLite), each carrying the plan."""
            from pipelines.contracts import Extracted
            from pipelines.steps.train import step_plan_search

            res, c, run = _task_env(project)
            p = step_plan_search(res, c, run, Extracted.from_json(extracted))
            return [{**w, "plan": p.to_json()} for w in p.worker_tasks()]

        @task(task_id=names.TASK_TUNE, execution_timeout=search_timeout)
        def tune(extracted: dict[str, Any], worker_task: dict[str, Any]) -> dict[str, Any]:
            from pipelines.contracts import Extracted, SearchPlan
            from pipelines.steps.train import step_tune

            res, c, _ = _task_env(project)
            return step_tune(res, c, Extracted.from_json(extracted), SearchPlan.from_json(worker_task["plan"]), worker_task["worker"],
                             worker_task["trials"]).to_json()

        @task(task_id=names.TASK_REFIT)
        def refit(extracted: dict[str, Any], validation: dict[str, Any], workers: list[dict[str, Any]], tuned: Any) -> dict[str, Any]:
            from pipelines.contracts import Extracted, SearchPlan, Validated
            from pipelines.steps.refit import step_refit

            res, c, run = _task_env(project)
            return step_refit(res, c, run, Extracted.from_json(extracted), Validated.from_json(validation),
                              SearchPlan.from_json(workers[0]["plan"])).to_json()

        @task(task_id=names.TASK_EVALUATE)
        def evaluate(extracted: dict[str, Any], trained: dict[str, Any]) -> dict[str, Any]:
            from pipelines.contracts import Extracted, Trained
            from pipelines.steps.evaluate import step_evaluate

            res, c, run = _task_env(project)
            return step_evaluate(res, c, run, Extracted.from_json(extracted), Trained.from_json(trained)).to_json()

        # One register at a time per project: the pool (size 1, scripts/create_pools.py) keeps the
        # queue short; the registry lock (Postgres advisory lock on servers) makes it safe.
        @task(task_id=names.TASK_REGISTER, pool=f"{project}_register")
        def register(extracted: dict[str, Any], trained: dict[str, Any], evaluated: dict[str, Any]) -> dict[str, Any]:
            from pipelines.contracts import Evaluated, Extracted, Trained
            from pipelines.steps.register import step_register

            res, c, run = _task_env(project)
            return step_register(res, c, run, Extracted.from_json(extracted), Trained.from_json(trained),
                                 Evaluated.from_json(evaluated)).to_json()

        @task(task_id=names.TASK_DRIFT)
        def drift(extracted: dict[str, Any], trained: dict[str, Any], evaluated: dict[str, Any]) -> dict[str, Any]:
            from pipelines.contracts import Evaluated, Extracted, Trained
            from pipelines.steps.drift import step_drift

            res, c, run = _task_env(project)
            return step_drift(res, c, run, Extracted.from_json(extracted), Trained.from_json(trained),
                              Evaluated.from_json(evaluated)).to_json()

        e = extract()
        v = validate(e)
        p = plan_search(e)
        v >> p
        t = tune.partial(extracted=e).expand(worker_task=p)
        r = refit(e, v, p, t)
        ev = evaluate(e, r)
        reg = register(e, r, ev)
        d = drift(e, r, ev)
        reg >> d
    return dag


def build_policy_replay_dag(cfg: ProjectConfig) -> DAG:
    """Manual only: re-decide every recorded version under the policy typed into the trigger form."""
    import yaml

    project = cfg.name
    shipped = yaml.safe_dump({"promotion": cfg.promotion.model_dump(mode="json", exclude_defaults=True)}, sort_keys=False)
    with DAG(
        dag_id=f"{project}_policy_replay", description=f"{project}: re-decide every recorded version under a proposed policy",
        schedule=None, start_date=pendulum.datetime(2024, 1, 1, tz="UTC"), catchup=False, max_active_runs=1,
        default_args={"owner": cfg.dag.owner, "retries": 0, "execution_timeout": dt.timedelta(minutes=cfg.dag.task_timeout_minutes)},
        tags=sorted({"mlops", "governance", project}),
        params={"policy": Param(shipped, type="string", minLength=10, description="the proposed promotion block (YAML); "
                                "the default is the shipped one: edit a margin, a slice rule, a fairness bound"),
                "since": Param("", type="string", pattern=r"^(\d{4}-\d{2}-\d{2})?$", description="only decisions as of this date or later")},
        doc_md=f"""
### {project}: policy replay

Trigger with a proposed `promotion:` block: every recorded decision is re-decided from its stored
comparison rows and scores, and the versions that would flip are listed in the task log and in a
markdown report under `governance/{project}/` in the lake. Reads the lake only: the registry, the
aliases and the shipped YAML do not change. CLI: `python -m pipelines policy replay {project} --policy FILE`.
""",
    ) as dag:

        @task(task_id="replay")
        def replay() -> dict[str, Any]:
            from pipelines.config import with_policy_text
            from pipelines.resources import Resources
            from pipelines.steps.replay import replay_and_report

            settings = Settings.from_env()
            p = get_current_context()["params"]
            proposed = with_policy_text(load_project(project, settings), p["policy"], "the trigger form's policy")
            since = dt.date.fromisoformat(p["since"]) if p["since"] else None
            results, uri = replay_and_report(Resources.from_settings(settings).lake, proposed, "the policy of this run", since)
            flips = [r for r in results if r.flipped]
            log.info("%d recorded decisions re-decided, %d flip; report %s", len(results), len(flips), uri)
            for r in flips:
                log.info("v%s as of %s: %s -> %s [%s]", r.version, r.as_of, r.recorded, r.replayed, "; ".join(r.changed[:3]))
            return {"decisions": len(results), "flips": len(flips), "report_uri": uri}

        replay()
    return dag


def build_all(settings: Settings) -> dict[str, DAG]:
    dags: dict[str, DAG] = {}
    for cfg in loaded_projects(settings):
        dags[cfg.dag_id] = build_training_dag(cfg)
        dags[f"{cfg.name}_policy_replay"] = build_policy_replay_dag(cfg)
    return dags


globals().update(build_all(Settings.from_env()))
