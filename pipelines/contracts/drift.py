"""Input drift: per-column results, the dataset verdict and the summary a task returns.
"""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pipelines.contracts.base import Contract


class DriftColumn(Contract):
    column: str
    method: str | None
    threshold: float | None
    score: float | None
    drifted: bool


class DriftResult(Contract):
    status: Literal["ok", "drifted", "skipped"]
    reason: str
    reference_rows: int = 0
    current_rows: int = 0
    drift_share: float | None = None
    drifted_columns: int | None = None
    threshold_share: float | None = None
    columns: list[DriftColumn] = []

    @property
    def drifted(self) -> bool:
        return self.status == "drifted"


class DriftSummary(Contract):
    project: str
    day: dt.date  # as-of date (per run) or the monitored day
    status: str
    reason: str
    drift_share: float | None = None
    drifted_columns: list[str] = []
    reference: str = ""
    champion_version: str | None = None
    report_uri: str | None = None
    json_uri: str | None = None
    mlflow_run_id: str | None = None      # where the report is logged in MLflow
    mlflow_experiment_id: str | None = None  # that run's experiment (the UI link opens the Artifacts tab)
    report_artifact: str | None = None    # its artifact path in that run
