"""The extra links' targets, built from the typed XCom contracts (no API server needed)."""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "plugins"))

from mlops_links import MonitorReportLink  # noqa: E402

from pipelines.contracts import DriftSummary  # noqa: E402


def _summary(**kw) -> DriftSummary:
    return DriftSummary(project="bankchurn", day=dt.date(2026, 1, 5), status="drifted", reason="2 of 10 columns",
                        mlflow_run_id="r1", report_artifact="monitoring/dt=2026-01-05/drift_report.html", **kw)


def test_the_monitor_report_opens_in_its_runs_artifacts_tab(monkeypatch):
    monkeypatch.setenv("MLFLOW_UI_URL", "http://127.0.0.1:5000")
    url = MonitorReportLink().url(_summary(mlflow_experiment_id="7"), None)
    assert url == "http://127.0.0.1:5000/#/experiments/7/runs/r1/artifactPath/monitoring/dt%3D2026-01-05/drift_report.html" \
                  "?workflowType=machine_learning"
    # A summary written before the experiment id was recorded (an older XCom) still links, as a download.
    assert "get-artifact?path=" in MonitorReportLink().url(_summary(), None)
    assert MonitorReportLink().url(DriftSummary(project="bankchurn", day=dt.date(2026, 1, 5), status="skipped", reason="no champion"), None) == ""
