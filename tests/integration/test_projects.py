"""Every project's DAG end to end with dag.test(), and a new project onboarded from a real-shaped CSV
with string labels by `pipelines init` + `feed` alone: no code, no hand edits."""

from __future__ import annotations

import datetime as dt
import shutil

import pendulum
import pytest

from pipelines.config import load_project
from pipelines.contracts import Evaluation, Extracted, names
from pipelines.steps.extract import load_snapshot
from pipelines.steps.feed import feed_synthetic
from tests.conftest import REPO

pytestmark = pytest.mark.integration
FEED = {"telecom": (20, 60), "carvision": (20, 150), "loanrisk": (60, 350)}  # days, rows per day


def _latest(lake, project: str, name: str) -> dict:
    keys = sorted(k for k in lake.list(f"runs/{project}/") if k.endswith(name))
    return lake.get_json(keys[-1])


@pytest.mark.parametrize("project", ["telecom", "carvision", "loanrisk"])
def test_project_dag_end_to_end(project, res, lake, training_dags):
    cfg = load_project(project)
    days, rows = FEED[project]
    start = dt.date(2026, 3, 1) - dt.timedelta(days=days)
    feed_synthetic(lake, cfg, start, dt.date(2026, 2, 28), rows_per_day=rows, seed=3)
    run = training_dags[f"{project}_training"].test(logical_date=pendulum.datetime(2026, 3, 1, tz="UTC"),
                                                     run_conf={"n_trials": 3, "training_window_days": days})
    assert run.state == "success"
    champ = res.registry.alias_version(project, names.CHAMPION)
    assert champ is not None and champ.tags[names.DECISION] == "promoted", res.registry.version(project, "1").tags
    ex = Extracted.from_json(_latest(lake, project, "extract.json"))
    ev = Evaluation.from_json(lake.get_json(lake.key_of(champ.tags[names.EVALUATION_URI])))
    m = ev.challenger.metrics
    if project == "carvision":
        assert {"rmse", "mae", "r2", "mape", "smape"} <= set(m) and m["r2"] > 0.5
        assert ex.dropped["price > 1000 < 500000"] > 0  # junk listings reported, not silent
        assert ev.backtest is not None and ev.backtest.metrics["r2"] > 0.6  # the backtest gate passed
        assert champ.threshold is None
        train, test = load_snapshot(lake, ex.train_uri), load_snapshot(lake, ex.test_uri)
        assert train["date_posted"].max() <= test["date_posted"].min()  # time split on date_posted
    elif project == "loanrisk":
        assert ex.dropped["isFunded in [1]"] > 0 and any("no final outcome" in k for k in ex.dropped)
        assert any("within 30 days" in k for k in ex.dropped)  # label maturity
        assert {"net_benefit", "roi"} <= set(m) and m["net_benefit"] > 0 and 0.01 < champ.threshold < 0.99
        train, test = load_snapshot(lake, ex.train_uri), load_snapshot(lake, ex.test_uri)
        assert train["applicationDate"].max() <= test["applicationDate"].min()  # time split: no future in training
    else:
        assert {"accuracy", "f1", "roc_auc"} <= set(m) and "# no id column" not in ex.split


def test_onboarding_a_csv_with_string_labels_needs_no_code(tmp_path, res, lake, monkeypatch, capsys):
    """`pipelines init` drafts YAML + suite from a Yes/No-labelled file, imports it; the DAG trains and promotes."""
    from airflow.dag_processing.dagbag import DagBag

    from pipelines.cli import main
    from tests.unit.onboarding.test_onboarding import credit_default

    projects, suites = tmp_path / "projects", tmp_path / "expectations"
    shutil.copytree(REPO / "pipelines" / "projects", projects)
    shutil.copytree(REPO / "expectations", suites)
    monkeypatch.setenv("MLOPS_PROJECTS_DIR", str(projects))
    monkeypatch.setenv("MLOPS_EXPECTATIONS_DIR", str(suites))
    credit_default(6000, seed=1).to_csv(tmp_path / "default.csv", index=False)
    assert main(["init", "creditdefault", "--from-csv", str(tmp_path / "default.csv"), "--target", "default", "--positive", "Yes",
                 "--start", "2026-01-01", "--end", "2026-01-20"]) == 0
    out = capsys.readouterr().out
    assert "drafted" in out and "left out account_id: id-like" in out and "wrote 20 partitions, 6000 rows" in out

    bag = DagBag(dag_folder=str(REPO / "dags"))
    assert bag.import_errors == {} and {"creditdefault_training", "creditdefault_drift_monitor"} <= set(bag.dag_ids)
    run = bag.dags["creditdefault_training"].test(logical_date=pendulum.datetime(2026, 1, 21, tz="UTC"), run_conf={"n_trials": 3})
    assert run.state == "success"
    champ = res.registry.alias_version("creditdefault", names.CHAMPION)
    assert champ is not None and champ.tags[names.DECISION] == "promoted"
    ev = Evaluation.from_json(lake.get_json(lake.key_of(champ.tags[names.EVALUATION_URI])))
    assert ev.challenger.metrics["roc_auc"] > 0.85 and 0.01 < ev.positive_rate < 0.1  # "Yes" is the (rare) positive class
