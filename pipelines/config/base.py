"""The shared vocabulary of project configs: the strict base model, metric and family names, and the
error a bad project file raises.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict

MODEL_FAMILIES = ("logistic_regression", "ridge", "random_forest", "gradient_boosting", "lightgbm")
# Names of `pipelines.domain.features.TRANSFORMERS`, kept here so a config checks without importing sklearn
# at DAG parse time (a unit test keeps the two in step).
FEATURE_TRANSFORMERS = ("ratio", "is_zero", "vehicle_age", "brand")
CLASSIFICATION_METRICS = (
    "roc_auc",
    "pr_auc",
    "f1",
    "precision",
    "recall",
    "accuracy",
    "brier",
    "log_loss",
)
REGRESSION_METRICS = ("rmse", "mae", "r2", "mape", "smape")
ALL_METRICS = CLASSIFICATION_METRICS + REGRESSION_METRICS + ("net_benefit", "roi")
# Metrics where a smaller value is better; every other metric is "higher is better".
LOWER_IS_BETTER = frozenset({"brier", "log_loss", "rmse", "mae", "mape", "smape"})
# One ceiling for trials: the YAML and the DAG Param agree.
MAX_TRIALS = 2000


class ProjectConfigError(ValueError):
    """A project file is missing, unreadable or invalid; the message names the field and why."""


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _known_metric(v: str) -> str:
    if v not in ALL_METRICS:
        raise ValueError(f"unknown metric {v!r}; known: {list(ALL_METRICS)}")
    return v


MetricName = Annotated[str, AfterValidator(_known_metric)]
Direction = Literal["higher_is_better", "lower_is_better"]
