"""The evaluation blocks: the decision threshold (with the cost model), slices, value thresholds and
the temporal backtest.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from pipelines.config.base import MetricName, Strict


class CostModel(Strict):
    """Business value of flagging a row: a flagged positive saves amount * loss_rate (the loss a missed
    one would cause); a flagged negative forgoes amount * profit_rate (the margin of good business
    turned away); every flag costs review_cost. The amount is the row's own `amount_column` (e.g. the
    loan amount) or a fixed `amount`."""

    amount: float | None = Field(None, gt=0)
    amount_column: str | None = None
    loss_rate: float = Field(gt=0, le=1)
    profit_rate: float = Field(0.0, ge=0)
    review_cost: float = Field(ge=0)

    @model_validator(mode="after")
    def _one_amount(self) -> CostModel:
        if (self.amount is None) == (self.amount_column is None):
            raise ValueError("a cost model needs exactly one of amount (fixed) or amount_column (per row)")
        return self


class ThresholdRule(Strict):
    """How the decision threshold is chosen on out-of-fold predictions of the refit trial:
    maximise a metric, a fixed value, or `cost`: maximise expected net benefit under `cost`."""

    strategy: Literal["maximize", "fixed", "cost"] = "maximize"
    metric: Literal["f1", "accuracy", "balanced_accuracy", "precision", "recall"] = "f1"
    value: float | None = Field(None, gt=0.0, lt=1.0)
    cost: CostModel | None = None

    @model_validator(mode="after")
    def _fixed_needs_value(self) -> ThresholdRule:
        if self.strategy == "fixed" and self.value is None:
            raise ValueError("strategy 'fixed' needs a value in (0, 1)")
        if self.strategy == "cost" and self.cost is None:
            raise ValueError("strategy 'cost' needs a cost model (amount, loss_rate, review_cost)")
        return self


class NumericBand(Strict):
    column: str
    edges: list[float] = Field(min_length=2)

    @field_validator("edges")
    @classmethod
    def _increasing(cls, v: list[float]) -> list[float]:
        if any(b <= a for a, b in zip(v, v[1:])):
            raise ValueError(f"edges must be strictly increasing, got {v}")
        return v


class SliceConfig(Strict):
    """Slices under `min_size` rows, or with fewer than `min_positives` of either class, are reported
    but not judged: ranking metrics on a handful of positives are noise."""

    min_size: int = Field(50, ge=1)
    min_positives: int = Field(10, ge=0)
    categorical: list[str] = []
    numeric_bands: list[NumericBand] = []
    # Slices (names, or `column=*`) that may vanish or fall under min_size without failing the gate;
    # any other slice judged for the champion or the challenger but not judgeable now is a failure.
    optional: list[str] = []

    def is_optional(self, name: str) -> bool:
        return name in self.optional or any(o.endswith("=*") and name.startswith(o[:-1]) for o in self.optional)


class ValueThreshold(Strict):
    """TFMA-style value threshold: `lower <= metric <= upper` on one slice, or every judged slice ("*")."""

    metric: MetricName
    lower: float | None = None
    upper: float | None = None
    slice: str = "overall"


    @model_validator(mode="after")
    def _bounds(self) -> ValueThreshold:
        if self.lower is None and self.upper is None:
            raise ValueError(f"value threshold on {self.metric} needs lower and/or upper")
        if self.lower is not None and self.upper is not None and self.lower > self.upper:
            raise ValueError(f"value threshold on {self.metric}: lower {self.lower} > upper {self.upper}")
        return self


class BacktestConfig(Strict):
    """Refit on the oldest (1 - fraction) of the window by `time_column`, score the newest `fraction`;
    `thresholds` make it a gate (checked like value thresholds, on the backtest's metrics)."""

    time_column: str
    fraction: float = Field(0.2, gt=0.0, lt=0.9)
    thresholds: list[ValueThreshold] = []
