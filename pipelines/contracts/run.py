"""What the training steps hand each other: the run's identity, the extracted window, the validation
summary, the search plan and the trained model.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from pipelines.contracts.base import Contract


class RunSpec(Contract):
    """Who runs (DAG/run ids), for which as-of date (the data interval's end), with which overrides."""

    project: str
    as_of: dt.date
    interval_start: dt.date | None = None
    dag_id: str = "cli"
    run_id: str = "manual"
    n_trials: int | None = None
    timeout_minutes: float | None = None
    window_days: int | None = None
    promote: bool = True
    optuna_workers: int = 1

    @property
    def run_key(self) -> str:
        return f"{self.project}/{self.as_of.isoformat()}"


class Extracted(Contract):
    project: str
    as_of: dt.date
    window_start: dt.date
    window_end: dt.date
    new_since: dt.date
    partitions: int
    rows: int
    data_hash: str
    window_uri: str  # the window's rows as they arrived (what the GX suite validates)
    train_uri: str
    test_uri: str
    new_uri: str
    manifest_uri: str
    raw_rows: int
    train_rows: int
    test_rows: int
    new_rows: int
    split: str
    dropped: dict[str, int] = {}

    @property
    def window(self) -> str:
        return f"{self.window_start}..{self.window_end}"


class Validated(Contract):
    success: bool
    evaluated: int
    failed: int
    rows: int
    failures: list[str] = []
    result_uri: str | None = None
    docs_uri: str | None = None
    seconds: float = 0.0


class SearchPlan(Contract):
    """What `plan_search` decided: one study per as-of date and run identity, split over workers."""

    study_name: str
    fingerprint: str
    n_trials: int
    timeout_s: float
    workers: int
    reuse_run_id: str | None = None  # an earlier attempt already trained this exact model

    def worker_tasks(self) -> list[dict[str, Any]]:
        """Kwargs of each mapped `tune` task: worker i runs its share of the trials."""
        share = [self.n_trials // self.workers + (1 if i < self.n_trials % self.workers else 0) for i in range(self.workers)]
        return [{"worker": i, "trials": share[i]} for i in range(self.workers)]


class Tuned(Contract):
    study_name: str
    worker: int
    trials: int
    complete: int
    pruned: int
    seconds: float


class Trained(Contract):
    run_id: str
    experiment_id: str
    model_uri: str
    fingerprint: str
    family: str
    reused: bool = False
    threshold: float | None = None
    cv_score: float | None = None
    study_name: str | None = None
