"""The whole bankchurn DAG through Airflow's dag.test() on the embedded default (folder, sqlite)."""

from __future__ import annotations

import datetime as dt
import json

import pendulum
import pytest

from pipelines import tracking
from pipelines.feed import feed_synthetic

pytestmark = pytest.mark.integration


def _run(dag, day: int, **conf):
    return dag.test(logical_date=pendulum.datetime(2026, 1, day, tz="UTC"), run_conf={"n_trials": 3, **conf})


def _artifacts(client, run_id: str, path: str = "") -> set[str]:
    out = set()
    for f in client.list_artifacts(run_id, path or None):
        out |= _artifacts(client, run_id, f.path) if f.is_dir else {f.path}
    return out


def test_two_runs_then_rerun_then_bad_partition(home, lake, cfg, training_dags):
    dag = training_dags["bankchurn_training"]
    feed_synthetic(lake, cfg, dt.date(2026, 1, 1), dt.date(2026, 1, 30), rows_per_day=100, seed=5)

    # --- run 1: first model becomes champion -------------------------------------------------
    assert _run(dag, 21).state == "success"
    ext = lake.get_json("runs/bankchurn/2026-01-21/extract.json")
    assert (ext["window_end"], ext["new_rows"] > 0) == ("2026-01-20", True)  # interval [01-19, 01-21)
    v1 = tracking.alias_version("bankchurn", "champion")
    assert v1 is not None and v1.version == "1" and v1.tags["decision"] == "promoted"
    assert tracking.alias_version("bankchurn", "challenger").version == "1"
    c = tracking.client()
    run = c.get_run(v1.run_id)
    tags = run.data.tags
    assert tags["dag_id"] == "bankchurn_training" and tags["as_of"] == "2026-01-21"
    assert tags["data_hash"] == ext["data_hash"] and tags["gx_success"] == "True" and tags["git_commit"]
    assert run.info.status == "FINISHED" and "test_roc_auc" in run.data.metrics
    assert any(k.startswith("slice/Geography_Germany/") for k in run.data.metrics)
    arts = _artifacts(c, v1.run_id)
    for must in ("evaluation/slices.csv", "evaluation/evaluation.json", "evaluation/roc_curve.png", "evaluation/pr_curve.png",
                 "evaluation/confusion_matrix.png", "training/optuna_trials.csv", "training/optuna_summary.json", "training/gx_validation.json",
                 "training/gx_data_docs.html", "drift/drift_report.html", "drift/drift.json", "decision.json"):
        assert must in arts, (must, sorted(arts))

    # --- run 2: faces the champion ------------------------------------------------------------
    assert _run(dag, 23).state == "success"
    v2tags = tracking.version_tags("bankchurn", "2")
    assert v2tags["decision"] in ("promoted", "kept_champion") and v2tags["decision_reason"]
    assert v2tags["champion_at_decision"] == "1"
    evaluation = lake.get_json("runs/bankchurn/2026-01-23/evaluation.json")
    assert evaluation["champion_version"] == "1" and "bootstrap" in evaluation
    champ = tracking.alias_version("bankchurn", "champion").version
    if v2tags["decision"] == "promoted":
        assert champ == "2" and tracking.alias_version("bankchurn", "previous").version == "1"
    else:
        assert champ == "1"

    # --- rerun of the same date: no duplicate version, same data hash -------------------------
    assert _run(dag, 23).state == "success"
    versions = c.search_model_versions("name = 'bankchurn'")
    assert sorted(str(v.version) for v in versions) == ["1", "2"]
    assert lake.get_json("runs/bankchurn/2026-01-23/extract.json")["data_hash"] == tracking.version_tags("bankchurn", "2")["data_hash"]

    # --- a corrupted partition: fails at validate, registers nothing, champion stays ----------
    bad = lake.get_parquet("raw/bankchurn/dt=2026-01-24/part-0000.parquet")
    bad.loc[bad.index[:5], "Geography"] = "Atlantis"
    bad.loc[bad.index[5], "Age"] = -3
    lake.put_parquet("raw/bankchurn/dt=2026-01-24/part-0000.parquet", bad)
    assert _run(dag, 25).state == "failed"
    report = lake.get_json("runs/bankchurn/2026-01-25/validation/validation.json")
    failed = {r["expectation_config"]["type"] + ":" + str(r["expectation_config"]["kwargs"].get("column")) for r in report["results"] if not r["success"]}
    assert {"expect_column_values_to_be_in_set:Geography", "expect_column_values_to_be_between:Age"} <= failed
    assert sorted(str(v.version) for v in c.search_model_versions("name = 'bankchurn'")) == ["1", "2"]
    assert tracking.alias_version("bankchurn", "champion").version == champ
    assert not tracking.find_runs("bankchurn", "bankchurn/2026-01-25")
    alerts = [json.loads(lake.get_bytes(k)) for k in lake.list("alerts/bankchurn/")]
    assert any(a["kind"] == "task_failed" and "validate" in a["message"] and "Atlantis" in a["message"] for a in alerts)
