"""The evaluation report: every model's scores on the same comparison rows, per slice, with paired
bootstrap intervals of challenger - champion, fairness, fresh rows and the backtest.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import field_validator

from pipelines.contracts.base import OVERALL, Contract, Metrics, clean_metrics, finite_or_none


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
        return clean_metrics(v)


class ModelScores(Contract):
    version: str | None = None
    threshold: float | None = None
    metrics: Metrics
    slices: list[SliceScore] = []

    @field_validator("metrics", mode="before")
    @classmethod
    def _finite(cls, v: dict[str, Any]) -> dict[str, float | None]:
        return clean_metrics(v)

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
    # The comparison rows' date span, and where their keys, labels and every model's scores are stored
    # (immutable parquet): what `pipelines policy replay` re-decides from. None in older evaluations.
    comparison_first: dt.date | None = None
    comparison_last: dt.date | None = None
    scores_uri: str | None = None

    @property
    def mde(self) -> float | None:
        """The smallest difference of the primary metric these rows can tell from noise: the half-width
        of its paired interval (a true difference smaller than this is usually inside the interval)."""
        iv = self.interval(self.primary_metric)
        if iv is None or iv.ci_low is None or iv.ci_high is None:
            return None
        return (iv.ci_high - iv.ci_low) / 2

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
