"""The data blocks: how rows are split, filtered, matured and labelled, which feature transformers
run, where synthetic rows come from and which GX suite gates them.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from pipelines.config.base import FEATURE_TRANSFORMERS, Strict


class SplitConfig(Strict):
    """`hash`: a row goes to the test side when a stable hash of its key (the project's `id_column`,
    else its raw values and partition date) falls under `test_fraction`: the same row lands on the
    same side in every run, so a challenger and a champion never share a training row with the rows
    they are compared on. `time`: the newest `test_fraction` of the window by `time_column` is the
    test set, so no future row reaches training. `seed` salts the hash (changing it re-deals rows)."""

    strategy: Literal["hash", "time"] = "hash"
    test_fraction: float = Field(0.2, gt=0.0, lt=0.9)
    seed: int = 42
    time_column: str | None = None
    # `hash` only: the comparison set reaches back this many days (more than the training window):
    # the test-side rows of the older partitions join the test set. The hash keeps a key on the test
    # side in every run, so no model of this project ever trained on them, and evaluate still drops
    # what the champion's snapshot holds. Rows are weighted equally (the paired bootstrap stays an
    # honest interval); the day count is the cap on how stale a comparison row may be.
    comparison_days: int | None = Field(None, ge=1, le=3650)

    @model_validator(mode="after")
    def _time_needs_column(self) -> SplitConfig:
        if self.strategy == "time" and not self.time_column:
            raise ValueError("strategy 'time' needs time_column")
        if self.strategy == "time" and self.comparison_days is not None:
            raise ValueError("comparison_days needs strategy 'hash': a time split's older rows were trained on")
        return self


class Maturity(Strict):
    """Rows whose `time_column` is within `days` of the as-of date have no final outcome yet (a loan
    that may still default): excluded from training and testing, counted, so they cannot bias the
    newest rows towards the negative class."""

    time_column: str
    days: int = Field(ge=1, le=3650)


class RowFilter(Strict):
    """Keep rows whose `column` is within [min, max] (exclusive with `exclusive: true`) and/or in
    `values`. Missing values are kept unless `keep_missing: false`. Dropped rows are counted."""

    column: str
    min: float | None = None
    max: float | None = None
    exclusive: bool = False
    values: list[Any] | None = None
    keep_missing: bool = True

    @model_validator(mode="after")
    def _some_rule(self) -> RowFilter:
        if self.min is None and self.max is None and self.values is None:
            raise ValueError(f"filter on {self.column} needs min, max or values")
        return self


class DerivedTarget(Strict):
    """Target computed from a source column: `positive` values -> 1, `negative` -> 0, others excluded."""

    source: str
    positive: list[Any] = Field(min_length=1)
    negative: list[Any] = Field(min_length=1)


class FeatureStep(Strict):
    """A registered feature-engineering transformer (see `pipelines.domain.features.TRANSFORMERS`)."""

    transformer: str
    params: dict[str, Any] = {}

    @field_validator("transformer")
    @classmethod
    def _registered(cls, v: str) -> str:
        if v not in FEATURE_TRANSFORMERS:
            raise ValueError(f"unknown transformer {v!r}; registered: {list(FEATURE_TRANSFORMERS)}")
        return v


class FeedConfig(Strict):
    """`generator`: a registered synthetic feed (pipelines.domain.synthetic.GENERATORS), or none: CSV import only."""

    generator: str | None = None
    rows_per_day: int = Field(170, ge=1, le=1_000_000)


class ValidationConfig(Strict):
    suite: str
