"""Every DAG file imports cleanly, fast, without heavy imports; structure, schedule and policy hold."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys

import pendulum
import pytest

from pipelines.config import load_project, project_names
from tests.conftest import REPO

HEAVY = ("pandas", "sklearn", "mlflow", "optuna", "great_expectations", "evidently", "lightgbm", "scipy", "numpy")
ORDER = ["extract", "validate", "plan_search", "tune", "refit", "evaluate", "register", "drift"]


@pytest.fixture(scope="module")
def dagbag():
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(REPO / "dags"))


def test_no_import_errors_and_the_dags_of_every_project(dagbag):
    assert dagbag.import_errors == {}
    kinds = ("training", "drift_monitor", "policy_replay", "scoring")
    assert {f"{p}_{kind}" for p in project_names() for kind in kinds} <= set(dagbag.dag_ids)
    with_outcomes = {p for p in project_names() if load_project(p).outcomes is not None}
    assert with_outcomes == {"bankchurn", "loanrisk"}  # the projects whose rows carry an id to join outcomes by
    assert {d for d in dagbag.dag_ids if d.endswith("_outcomes")} == {f"{p}_outcomes" for p in with_outcomes}


def assert_daily_monitor(dag, tasks: list[str], tag: str) -> None:
    """Tasks in this order, one-day intervals, no catch-up, tagged, every task retried and alerting."""
    assert [t.task_id for t in dag.topological_sort()] == tasks
    assert dag.timetable.delta == dt.timedelta(days=1) and dag.catchup is False and tag in dag.tags
    assert all(t.retries >= 2 and t.on_failure_callback for t in dag.tasks)


@pytest.mark.parametrize("project", project_names())
def test_scoring_dag_is_daily_and_one_task(dagbag, project):
    assert_daily_monitor(dagbag.dags[f"{project}_scoring"], ["score_partition"], "scoring")


@pytest.mark.parametrize("project", ["bankchurn", "loanrisk"])
def test_outcomes_dag_signals_decay_to_the_training_dag(dagbag, project):
    dag = dagbag.dags[f"{project}_outcomes"]
    assert_daily_monitor(dag, ["realized_metrics", "signal_retrain"], "outcomes")
    [outlet] = dag.get_task("signal_retrain").outlets
    assert outlet.name == f"{project}_outcomes_decayed"
    condition = repr(dagbag.dags[f"{project}_training"].timetable.asset_condition)
    assert f"{project}_outcomes_decayed" in condition and f"{project}_drift_detected" in condition and "AssetAny" in condition
    assert "outcomes" not in repr(dagbag.dags["telecom_training"].timetable.asset_condition)


@pytest.mark.parametrize("project", project_names())
def test_policy_replay_is_manual_with_the_shipped_policy_as_its_default(dagbag, project):
    import copy

    import yaml
    from airflow.sdk.exceptions import ParamValidationError

    from pipelines.config import load_project, with_policy_text

    dag = dagbag.dags[f"{project}_policy_replay"]
    assert type(dag.timetable).__name__ == "NullTimetable"  # manual only
    assert [t.task_id for t in dag.tasks] == ["replay"] and {"mlops", "governance", project} <= set(dag.tags)
    cfg = load_project(project)
    assert with_policy_text(cfg, dag.params["policy"]).promotion == cfg.promotion  # the form starts from the shipped policy
    assert "promotion" in yaml.safe_load(dag.params["policy"])
    params = copy.deepcopy(dag.params)
    with pytest.raises(ParamValidationError, match="since"):
        params["since"] = "last week"
        params.validate()


@pytest.mark.parametrize("project", project_names())
def test_structure_schedule_and_policy(dagbag, project):
    cfg = load_project(project)
    dag = dagbag.dags[f"{project}_training"]
    assert [t.task_id for t in dag.topological_sort()] == ORDER
    for up, down in zip(ORDER, ORDER[1:]):
        assert down in dag.get_task(up).downstream_task_ids
    assert dag.max_active_runs == 1 and dag.catchup is False
    assert dag.start_date == pendulum.datetime(cfg.dag.start_date.year, cfg.dag.start_date.month, cfg.dag.start_date.day, tz="UTC")
    assert "mlops" in dag.tags and set(cfg.dag.tags) <= set(dag.tags) and dag.doc_md
    for t in dag.tasks:
        assert t.on_failure_callback, t.task_id
        assert t.execution_timeout is not None and t.execution_timeout <= dt.timedelta(hours=24), t.task_id
        if t.task_id == "validate":
            assert t.retries == 0  # bad data is not fixed by retrying; fails at once
        else:
            assert t.retries >= 2 and t.retry_exponential_backoff, t.task_id
    # the search's timeout plus a margin for the tune tasks; every other task the project's task limit
    assert dag.get_task("tune").execution_timeout == dt.timedelta(minutes=cfg.search.timeout_minutes + cfg.dag.train_margin_minutes)
    assert dag.get_task("register").execution_timeout == dt.timedelta(minutes=cfg.dag.task_timeout_minutes)
    assert dag.dagrun_timeout == dt.timedelta(minutes=cfg.dag.dagrun_timeout_minutes)
    assert dag.get_task("register").pool == f"{project}_register"
    assert {"n_trials", "timeout_minutes", "training_window_days", "promote", "optuna_workers"} <= set(dag.params.keys())
    assert dag.params.get_param("n_trials").schema["maximum"] == 2000  # the YAML's own ceiling


def test_real_two_day_intervals(dagbag):
    """The serialized DAG (what the scheduler runs) gives manual and scheduled runs a 2-day interval."""
    from airflow.serialization.serialized_objects import DagSerialization
    from airflow.timetables.base import TimeRestriction

    dag = dagbag.dags["bankchurn_training"]
    # Every 2 days OR when the drift asset is updated (early retrain).
    assert type(dag.timetable).__name__ == "AssetOrTimeSchedule"
    assert dag.timetable.timetable.delta == dt.timedelta(days=2)
    assert "bankchurn_drift_detected" in repr(dag.timetable.asset_condition)
    tt = DagSerialization.from_dict(DagSerialization.to_dict(dag)).timetable
    end = pendulum.datetime(2026, 1, 5, tz="UTC")
    iv = tt.infer_manual_data_interval(run_after=end)
    assert (iv.start, iv.end) == (end - dt.timedelta(days=2), end)
    first = tt.next_dagrun_info(last_automated_data_interval=None,
                                restriction=TimeRestriction(earliest=dag.start_date, latest=None, catchup=True))
    assert first.data_interval.end - first.data_interval.start == dt.timedelta(days=2)


@pytest.mark.parametrize("project", project_names())
def test_drift_monitor_structure(dagbag, project):
    dag = dagbag.dags[f"{project}_drift_monitor"]
    assert_daily_monitor(dag, ["check_drift", "signal_retrain"], "drift")
    [outlet] = dag.get_task("signal_retrain").outlets
    assert outlet.name == f"{project}_drift_detected"


@pytest.mark.parametrize(("param", "bad"), [("n_trials", 0), ("n_trials", "many"), ("timeout_minutes", -1),
                                            ("training_window_days", 0), ("promote", "yes"), ("optuna_workers", 0)])
def test_bad_params_are_refused_naming_the_param(dagbag, param, bad):
    import copy

    from airflow.sdk.exceptions import ParamValidationError

    params = copy.deepcopy(dagbag.dags["bankchurn_training"].params)
    with pytest.raises(ParamValidationError, match=f"Invalid input for param {param}"):
        params[param] = bad
        params.validate()


def test_a_broken_project_yaml_is_an_import_error_naming_file_and_field(tmp_path, monkeypatch):
    """The other projects keep their DAGs; the broken one shows as "Broken DAG" in the UI."""
    import shutil

    from airflow.dag_processing.dagbag import DagBag

    projects = tmp_path / "projects"
    shutil.copytree(REPO / "pipelines" / "projects", projects)
    (projects / "telecom.yaml").write_text((projects / "telecom.yaml").read_text().replace("n_trials: 20", "n_trials: 0"))
    monkeypatch.setenv("MLOPS_PROJECTS_DIR", str(projects))
    bag = DagBag(dag_folder=str(REPO / "dags"))
    [(path, err)] = bag.import_errors.items()
    assert path.endswith("project_configs.py") and "telecom.yaml" in err and "search.n_trials" in err
    assert "bankchurn_training" in bag.dag_ids and "telecom_training" not in bag.dag_ids


@pytest.mark.parametrize("dag_file", ["training_dags.py", "monitoring_dags.py"])
def test_parse_is_fast_and_imports_nothing_heavy(dag_file):
    code = (
        "import sys, time, json, runpy; import airflow.sdk, pendulum; before = set(sys.modules);"
        "t = time.perf_counter(); runpy.run_path(%r); dt = time.perf_counter() - t;"
        "print(json.dumps({'seconds': dt, 'new': sorted({m.split('.')[0] for m in set(sys.modules) - before})}))"
    ) % str(REPO / "dags" / dag_file)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=120, check=True)
    res = json.loads(out.stdout.strip().splitlines()[-1])
    assert res["seconds"] < 2.0, res
    assert not set(HEAVY) & set(res["new"]), res["new"]
