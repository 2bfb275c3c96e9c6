"""Every project's DAG end to end with dag.test(), and a new project added with no code change."""

from __future__ import annotations

import datetime as dt
import json
import shutil

import pendulum
import pytest
import yaml

from pipelines import tracking
from pipelines.config import load_project
from pipelines.feed import feed_from_csv, feed_synthetic
from tests.conftest import REPO, SHARED_DATA

pytestmark = pytest.mark.integration
ROWS = {"telecom": 60, "carvision": 120, "loanrisk": 400}


@pytest.mark.parametrize("project", ["telecom", "carvision", "loanrisk"])
def test_project_dag_end_to_end(project, home, lake, training_dags):
    cfg = load_project(project)
    feed_synthetic(lake, cfg, dt.date(2026, 1, 1), dt.date(2026, 1, 20), rows_per_day=ROWS[project], seed=3)
    run = training_dags[f"{project}_training"].test(logical_date=pendulum.datetime(2026, 1, 21, tz="UTC"), run_conf={"n_trials": 3})
    assert run.state == "success"
    champ = tracking.alias_version(project, "champion")
    assert champ is not None and champ.tags["decision"] == "promoted", tracking.version_tags(project, "1")
    ext = lake.get_json(f"runs/{project}/2026-01-21/extract.json")
    report = lake.get_json(f"runs/{project}/2026-01-21/evaluation.json")
    m = report["models"]["challenger"]["metrics"]
    if project == "carvision":
        assert {"rmse", "mae", "r2", "mape", "smape"} <= set(m) and m["r2"] > 0.5
        assert ext["dropped"]["price > 1000 < 500000"] > 0  # junk listings reported, not silent
        assert "backtest" in report and report["backtest"]["metrics"]["rmse"] > 0
        assert tracking.threshold_of(champ.tags) is None
    elif project == "loanrisk":
        assert ext["dropped"]["isFunded in [1]"] > 0 and any("Withdrawn" in k or "New Loan" in k for k in ext["dropped"])
        assert {"net_benefit", "roi"} <= set(m) and m["net_benefit"] > 0
        train = lake.get_parquet(lake.key_of(ext["train_uri"]))
        test = lake.get_parquet(lake.key_of(ext["test_uri"]))
        assert train["applicationDate"].max() <= test["applicationDate"].min()  # time split: no future in training
    else:
        assert {"accuracy", "f1", "roc_auc"} <= set(m)


def test_onboarding_a_new_project_needs_no_code(tmp_path, home, lake, monkeypatch):
    """A throwaway project YAML + suite in a temp folder; the factory builds and runs its DAG."""
    projects, suites = tmp_path / "projects", tmp_path / "expectations"
    projects.mkdir()
    suites.mkdir()
    raw = yaml.safe_load((REPO / "pipelines" / "projects" / "telecom.yaml").read_text())
    raw.update(name="plans", description="throwaway onboarding project", feed={"generator": None},
               validation={"suite": "plans.json"}, dag={**raw["dag"], "tags": ["plans"]})
    (projects / "plans.yaml").write_text(yaml.safe_dump(raw))
    suite = json.loads((REPO / "expectations" / "telecom.json").read_text())
    suite["name"] = "plans"
    (suites / "plans.json").write_text(json.dumps(suite))
    monkeypatch.setenv("MLOPS_PROJECTS_DIR", str(projects))
    monkeypatch.setenv("MLOPS_EXPECTATIONS_DIR", str(suites))

    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(REPO / "dags"))
    assert bag.import_errors == {} and {"plans_training", "plans_drift_monitor"} <= set(bag.dag_ids)
    feed_from_csv(lake, load_project("plans"), SHARED_DATA / "users_behavior.csv", dt.date(2026, 1, 1), dt.date(2026, 1, 20))
    run = bag.dags["plans_training"].test(logical_date=pendulum.datetime(2026, 1, 21, tz="UTC"), run_conf={"n_trials": 3})
    assert run.state == "success"
    assert tracking.alias_version("plans", "champion") is not None
    shutil.rmtree(projects)
