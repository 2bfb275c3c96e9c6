from __future__ import annotations

import datetime as dt
import json

import numpy as np
import pandas as pd

from pipelines.domain.drift import check_drift
from pipelines.domain.synthetic import generate_bankchurn
from pipelines.steps.drift import DriftTarget, record_drift


def _g(n, drifted, seed):
    return generate_bankchurn(dt.date(2026, 1, 1), n, np.random.default_rng(seed), drifted)


def test_same_distribution_is_not_drift(cfg):
    res, html = check_drift(cfg, _g(3000, False, 1), _g(800, False, 2))
    assert res.status == "ok" and res.drift_share < cfg.drift.drift_share
    assert len(res.columns) == len(cfg.features) and html and "<html" in html.lower()


def test_shifted_distribution_is_drift_with_named_columns(cfg):
    res, _ = check_drift(cfg, _g(3000, False, 1), _g(800, True, 2))
    drifted = {c.column for c in res.columns if c.drifted}
    assert res.status == "drifted" and {"Age", "Geography"} <= drifted
    assert next(c for c in res.columns if c.column == "EstimatedSalary").method


def test_empty_current_is_skipped(cfg):
    res, html = check_drift(cfg, _g(100, False, 1), pd.DataFrame())
    assert res.status == "skipped" and html is None and "empty" in res.reason


def test_one_path_records_lake_mlflow_and_alert(cfg, res):
    result, html = check_drift(cfg, _g(3000, False, 1), _g(800, True, 2))
    run_id, experiment_id = res.registry.start_run("bankchurn", "drift", {}), res.registry.experiment_id("bankchurn")
    target = DriftTarget(json_key="monitoring/bankchurn/dt=2026-01-05/vs-v1/drift.json", html_key="monitoring/bankchurn/dt=2026-01-05/vs-v1/drift.html",
                         mlflow_run_id=run_id, mlflow_experiment_id=experiment_id, metric="monitor/drift_share", artifact_dir="monitoring/dt=2026-01-05",
                         timestamp_ms=int(dt.datetime(2026, 1, 5, tzinfo=dt.timezone.utc).timestamp() * 1000))
    s = record_drift(res, cfg, result, html, day=dt.date(2026, 1, 5), reference="v1", target=target, champion_version="1", label="on 2026-01-05")
    assert s.status == "drifted" and s.report_artifact == "monitoring/dt=2026-01-05/drift_report.html" and s.mlflow_run_id == run_id
    assert s.mlflow_experiment_id == experiment_id  # the UI link opens the report in its run's Artifacts tab
    hist = res.registry.client.get_metric_history(run_id, "monitor/drift_share")
    assert hist[0].timestamp == target.timestamp_ms  # charted by the monitored day, not "days since 2000"
    arts = {a.path for a in res.registry.client.list_artifacts(run_id, "monitoring/dt=2026-01-05")}
    assert arts == {"monitoring/dt=2026-01-05/drift_report.html", "monitoring/dt=2026-01-05/drift_summary.html"}
    assert json.loads(res.lake.get_bytes(res.lake.list("alerts/bankchurn/")[0]))["kind"] == "drift"
