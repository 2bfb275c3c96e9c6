"""What the outcomes loop hands on: how predictions and late outcomes joined (every row accounted
for), each model version's realized metrics next to its evaluation-time estimate, and the day's
report that the decay rule reads back.
"""

from __future__ import annotations

import datetime as dt

from pipelines.contracts.base import Contract
from pipelines.contracts.evaluation import DeltaInterval, MetricInterval


class JoinCounts(Contract):
    """Every prediction and every outcome of a join, counted once. Two identities hold (a test keeps
    them): predictions = duplicate_predictions + matched + pending + missing + outcome_first, and
    outcomes = duplicate_outcomes + conflicting_outcomes + matched_ids + outcome_first_ids +
    before_window + never_predicted."""

    predictions: int  # prediction rows made before the as-of date, in the window
    duplicate_predictions: int  # the same (id, version, arm) again: only its first prediction counts
    matched: int  # predictions joined with their outcome
    late: int  # ... of which the outcome arrived after label_delay_days
    pending: int  # no outcome yet, not yet due
    missing: int  # no outcome although due: counted, never read as a negative
    outcome_first: int  # the outcome had arrived on or before the prediction's day: not a forecast, excluded
    outcomes: int  # outcome rows that arrived before the as-of date
    duplicate_outcomes: int  # the same id and label again
    conflicting_outcomes: int  # rows of ids that arrived with different labels: excluded, never guessed
    matched_ids: int  # distinct ids with an outcome that joined at least one prediction
    outcome_first_ids: int  # distinct ids whose every prediction came after their outcome
    before_window: int = 0  # distinct ids predicted only before the window (judged by earlier reports)
    never_predicted: int  # distinct ids with an outcome and no prediction in the window or the lookback before it


class RealizedMetrics(Contract):
    """One model version on one arm (champion, challenger in shadow or canary, batch), on its
    predictions whose outcomes arrived."""

    version: str
    arm: str
    rows: int
    positives: int | None = None
    metrics: dict[str, MetricInterval]
    estimate: float | None = None  # the evaluation-time value of the primary metric, when recorded
    estimate_low: float | None = None


class RealizedReport(Contract):
    project: str
    as_of: dt.date
    window_first: dt.date
    window_last: dt.date
    primary_metric: str
    label_delay_days: int
    counts: JoinCounts
    unkeyed_predictions: int = 0  # logged without a record id: cannot be joined
    versions: list[RealizedMetrics]
    champion: str | None = None
    challenger: str | None = None
    paired: DeltaInterval | None = None  # challenger - champion on the ids both scored (realized outcomes)
    decayed: bool = False  # the rule holds today (its streak reached `consecutive`)
    signal: bool = False  # alert and retrain today: when the streak reaches `consecutive`, and every `consecutive` windows while it lasts
    decay_reason: str = ""


class ScoredArm(Contract):
    version: str
    arm: str
    rows: int
    uri: str | None = None  # None: not scored (see reason)
    reason: str = ""


class ScoredPartition(Contract):
    """What the batch scorer did with one raw partition: per model (champion, and the challenger in
    shadow), the rows scored and where the predictions are, or why it did not score."""

    project: str
    as_of: dt.date
    partition: dt.date
    status: str  # scored | skipped
    reason: str = ""
    arms: list[ScoredArm] = []
