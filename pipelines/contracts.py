"""Typed hand-offs between steps: what each step returns and the evaluation report.

Steps pass these models to each other; they become JSON only at the edges (XCom, the lake, MLflow
artifacts) through `to_json()` / `from_json()`. The policy, the promotion gate, the reports and the
Airflow plugin all read the same models, so a change of shape breaks their tests instead of
silently reading a missing key. Undefined metric values (e.g. ROC AUC of a one-class slice) are
None, never NaN.
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, field_validator

OVERALL = "overall"
Outcome = Literal["promoted", "kept_champion", "rejected"]
C = TypeVar("C", bound="Contract")


def finite_or_none(v: Any) -> float | None:
    """A float, or None for missing / NaN / infinite values."""
    if v is None:
        return None
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


class Contract(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    def to_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json")

    @classmethod
    def from_json(cls: type[C], data: Any) -> C:
        return cls.model_validate(data)


Metrics = dict[str, float | None]


def _clean(v: dict[str, Any]) -> dict[str, float | None]:
    return {k: finite_or_none(x) for k, x in v.items()}


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


class MetricInterval(Contract):
    metric: str
    value: float | None
    ci_low: float | None
    ci_high: float | None


class DeltaInterval(Contract):
    """Paired bootstrap CI of challenger - champion on one slice (raw difference, not 'improvement')."""

    metric: str
    slice: str = OVERALL
    n: int
    delta: float | None
    ci_low: float | None
    ci_high: float | None
    confidence: float
    resamples: int


class SliceScore(Contract):
    name: str
    n: int
    positives: int | None = None
    judged: bool
    metrics: Metrics = {}

    @field_validator("metrics", mode="before")
    @classmethod
    def _finite(cls, v: dict[str, Any]) -> dict[str, float | None]:
        return _clean(v)


class ModelScores(Contract):
    version: str | None = None
    threshold: float | None = None
    metrics: Metrics
    slices: list[SliceScore] = []

    @field_validator("metrics", mode="before")
    @classmethod
    def _finite(cls, v: dict[str, Any]) -> dict[str, float | None]:
        return _clean(v)

    def slice(self, name: str) -> SliceScore | None:
        if name == OVERALL and not any(s.name == OVERALL for s in self.slices):
            return SliceScore(name=OVERALL, n=0, judged=True, metrics=self.metrics)
        return next((s for s in self.slices if s.name == name), None)


class FairnessResult(Contract):
    feature: str
    selection_rates: dict[str, float]
    group_sizes: dict[str, int]
    judged_groups: list[str]
    disparate_impact: float | None

    @field_validator("disparate_impact", mode="before")
    @classmethod
    def _finite(cls, v: Any) -> float | None:
        return finite_or_none(v)


class ChampionRef(Contract):
    """The champion the challenger was compared with, as the registry described it."""

    version: str
    run_id: str
    as_of: str | None = None
    train_uri: str | None = None
    evaluation_uri: str | None = None
    threshold: float | None = None
    judged_slices: list[str] = []  # slices judged when it was itself promoted


class FreshRows(Contract):
    """Comparison rows from partitions dated on or after the champion's as-of date: data the champion
    could not have seen, reported on its own line (small: informative, not judged)."""

    since: dt.date
    n: int
    metrics: dict[str, Metrics] = {}
    delta: DeltaInterval | None = None


class Backtest(Contract):
    train_rows: int
    test_rows: int
    cutoff: str | None
    metrics: Metrics


class Evaluation(Contract):
    project: str
    as_of: dt.date
    run_id: str
    data_hash: str
    primary_metric: str
    higher_is_better: bool
    test_rows: int
    comparison_rows: int
    excluded_seen_by_champion: int = 0
    positive_rate: float | None = None
    champion: ChampionRef | None = None
    models: dict[str, ModelScores]
    intervals: list[DeltaInterval] = []
    metric_cis: dict[str, MetricInterval] = {}
    fairness: list[FairnessResult] = []
    fresh: FreshRows | None = None
    backtest: Backtest | None = None
    confusion_matrix: list[list[int]] | None = None

    @property
    def champion_version(self) -> str | None:
        return self.champion.version if self.champion else None

    def interval(self, metric: str, slice_name: str = OVERALL) -> DeltaInterval | None:
        return next((i for i in self.intervals if i.metric == metric and i.slice == slice_name), None)

    @property
    def challenger(self) -> ModelScores:
        return self.models["challenger"]


class Evaluated(Contract):
    evaluation_uri: str
    run_id: str
    champion_version: str | None
    primary: float | None
    comparison_rows: int


class Check(Contract):
    name: str
    kind: str  # value | baseline | fairness | slices | change
    passed: bool
    value: float | None
    threshold: str
    detail: str
    slice: str = OVERALL
    skipped: bool = False
    rule: str = ""  # for change checks: point | non_inferiority | superiority


class Decision(Contract):
    decision: Outcome
    promote: bool
    reason: str
    champion_version: str | None
    checks: list[Check] = []

    @property
    def judged(self) -> list[Check]:
        return [c for c in self.checks if not c.skipped]

    @property
    def failed(self) -> list[Check]:
        return [c for c in self.checks if not c.passed]

    @property
    def promotion_checks(self) -> str:
        """passed = every judged promotion check passed, whatever the alias outcome."""
        return "passed" if self.judged and not self.failed else "failed"

    @property
    def checks_summary(self) -> str:
        passed = sum(c.passed and not c.skipped for c in self.checks)
        skipped = sum(c.skipped for c in self.checks)
        return f"{passed} passed, {len(self.failed)} failed, {skipped} not judged"


class AliasMove(Contract):
    alias: str
    version: str | None  # None: delete the alias


class DecisionRecord(Contract):
    """Written BEFORE any alias moves (write-ahead): a retry after a crash completes these moves."""

    project: str
    version: str
    run_id: str
    as_of: dt.date
    evaluation_uri: str
    decision: Decision
    champion_before: str | None
    previous_before: str | None
    moves: list[AliasMove]
    decided_at: str
    promote_allowed: bool = True


class Registered(Contract):
    version: str
    decision: str
    champion: str | None
    reused: bool
    decision_uri: str | None = None


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
