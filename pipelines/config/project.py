"""`ProjectConfig`: one ML project as data, assembled from the blocks, with the checks that span blocks
(columns consistent, no leakage from the target, metrics that fit the task).
"""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import Field, model_validator

from pipelines.config.base import CLASSIFICATION_METRICS, REGRESSION_METRICS, Strict
from pipelines.config.dag import DagConfig
from pipelines.config.data import DerivedTarget, FeatureStep, FeedConfig, Maturity, RowFilter, SplitConfig, ValidationConfig
from pipelines.config.evaluation import BacktestConfig, SliceConfig, ThresholdRule
from pipelines.config.monitoring import DriftConfig, OutcomesConfig
from pipelines.config.promotion import PromotionPolicy
from pipelines.config.search import SearchConfig


class ProjectConfig(Strict):
    name: str = Field(pattern=r"^[a-z][a-z0-9_]{1,40}$")
    description: str = ""
    task: Literal["binary_classification", "regression"]
    target: str
    derive_target: DerivedTarget | None = None
    filters: list[RowFilter] = []
    categorical_encoding: Literal["onehot", "native"] = "onehot"
    backtest: BacktestConfig | None = None
    # The target's positive class as it appears in the data ("1", "Yes", ...): every other value is 0.
    positive_label: str = "1"
    negative_label: str | None = None  # shown by serving; default: "not <positive_label>"
    id_column: str | None = None
    maturity: Maturity | None = None
    # Probabilities that feed a cost or a Brier/log-loss gate should be calibrated (out-of-fold).
    calibration: Literal["none", "sigmoid", "isotonic"] = "none"
    target_transform: Literal["none", "log1p"] = "none"  # regression: fit log(1 + y), predict in y's units
    drop_columns: list[str] = []
    numeric_features: list[str] = []
    categorical_features: list[str] = []
    feature_engineering: list[FeatureStep] = []
    split: SplitConfig = SplitConfig()
    training_window_days: int = Field(60, ge=1, le=3650)
    search: SearchConfig
    primary_metric: Literal[CLASSIFICATION_METRICS + REGRESSION_METRICS] = "roc_auc"  # type: ignore[valid-type]
    threshold: ThresholdRule = ThresholdRule()
    slices: SliceConfig = SliceConfig()
    sensitive_features: list[str] = []
    promotion: PromotionPolicy
    drift: DriftConfig = DriftConfig()
    outcomes: OutcomesConfig | None = None
    validation: ValidationConfig
    feed: FeedConfig = FeedConfig()
    dag: DagConfig

    @model_validator(mode="after")
    def _columns_consistent(self) -> ProjectConfig:
        features = self.numeric_features + self.categorical_features
        if not features:
            raise ValueError("numeric_features and categorical_features are both empty")
        dupes = sorted({c for c in features if features.count(c) > 1})
        if dupes:
            raise ValueError(f"columns listed twice among the features: {dupes}")
        for role, col in (("target", self.target), ("id_column", self.id_column)):
            if col is not None and col in features:
                raise ValueError(f"{role} {col!r} is also listed as a feature (leakage)")
        leaked = sorted(set(self.drop_columns) & set(features))
        if leaked:
            raise ValueError(f"drop_columns {leaked} are also listed as features")
        for name, cols in (
            ("slices.categorical", self.slices.categorical),
            ("sensitive_features", self.sensitive_features),
            ("slices.numeric_bands", [b.column for b in self.slices.numeric_bands]),
        ):
            missing = sorted(set(cols) - set(features))
            if missing:
                raise ValueError(f"{name} names {missing}, which are not features")
        drift_unknown = sorted(set(self.drift.per_column) - set(features))
        if drift_unknown:
            raise ValueError(f"drift.per_column names {drift_unknown}, which are not features")
        # Leakage guard: nothing computed from the target may be an input.
        tgt = self.target.lower()
        leaky = [c for c in features if tgt in c.lower().replace("-", "_").split("_") or c.lower().startswith(tgt)]
        leaky += [f"{s.transformer}({v})" for s in self.feature_engineering for v in s.params.values()
                  if isinstance(v, str) and (v == self.target or v.lower().startswith(tgt))]
        if self.derive_target is not None and self.derive_target.source in features:
            leaky.append(self.derive_target.source)
        if leaky:
            raise ValueError(f"features derived from the target {self.target!r} are refused (leakage): {leaky}")
        regression = self.task == "regression"
        if regression != (self.primary_metric in REGRESSION_METRICS):
            raise ValueError(f"primary_metric {self.primary_metric!r} does not fit task {self.task!r}")
        if regression and (self.sensitive_features or self.threshold.strategy != "maximize" or self.calibration != "none"):
            raise ValueError("regression takes no sensitive_features, threshold or calibration")
        if not regression and self.target_transform != "none":
            raise ValueError("target_transform applies to regression only")
        if self.outcomes is not None and self.id_column is None:
            raise ValueError("outcomes needs id_column: an outcome joins its prediction by id")
        decay = self.outcomes.decay if self.outcomes is not None else None
        if decay is not None and decay.metric not in ((*REGRESSION_METRICS,) if regression else (*CLASSIFICATION_METRICS, "net_benefit", "roi")):
            raise ValueError(f"outcomes.decay.metric {decay.metric!r} does not fit task {self.task!r}")
        if decay is not None and decay.metric in ("net_benefit", "roi") and self.threshold.cost is None:
            raise ValueError(f"outcomes.decay.metric {decay.metric!r} needs threshold.cost")
        cost = self.threshold.cost
        if cost is not None and cost.amount_column and cost.amount_column not in self.input_columns:
            raise ValueError(f"threshold.cost.amount_column {cost.amount_column!r} is not an input column")
        return self

    @property
    def features(self) -> list[str]:
        """Raw feature columns of the model, in a stable order."""
        return [*self.numeric_features, *self.categorical_features]

    @property
    def input_columns(self) -> list[str]:
        """What the saved Pipeline takes: the features plus raw columns only feature engineering reads
        (e.g. `date_posted` for vehicle_age)."""
        extra = []
        for step in self.feature_engineering:
            for k, v in step.params.items():
                if k != "name" and isinstance(v, str) and v not in self.features and v not in extra:
                    extra.append(v)
        return [*self.features, *extra]

    @property
    def regression(self) -> bool:
        return self.task == "regression"

    @property
    def dag_id(self) -> str:
        return f"{self.name}_training"

    @property
    def registered_model(self) -> str:
        return self.name

    def window(self, as_of: dt.date, days: int | None = None) -> tuple[dt.date, dt.date]:
        """First and last partition date (inclusive) a run with data interval end `as_of` trains on.

        The interval end is exclusive, as in Airflow: the as-of day's own partition is not complete
        at the as-of instant, so the window ends the day before.
        """
        n = days if days is not None else self.training_window_days
        last = as_of - dt.timedelta(days=1)
        return last - dt.timedelta(days=n - 1), last

    def comparison_start(self, as_of: dt.date, days: int | None = None) -> dt.date | None:
        """The first partition of the older test-side rows the comparison set reaches back to, or None
        when `split.comparison_days` does not reach past the training window."""
        first, _ = self.window(as_of, days)
        n = self.split.comparison_days
        if n is None:
            return None
        start = as_of - dt.timedelta(days=n)
        return start if start < first else None
