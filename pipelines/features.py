"""Registered feature-engineering transformers, named from a project's YAML (`feature_engineering`).

They run inside the saved sklearn Pipeline, so training and serving compute features the same way.
Each adds named columns to a DataFrame and declares them (`output_columns`) so the preprocessing
step can pick them up. A new kind of feature is a new class here plus one registry entry; a new
project that reuses these needs no code.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin

from pipelines.config import FeatureStep


class RatioFeature(BaseEstimator, TransformerMixin):  # type: ignore[misc]
    """`name = numerator / denominator`; a zero or missing denominator gives NaN (imputed later)."""

    def __init__(self, name: str = "ratio", numerator: str = "", denominator: str = ""):
        self.name = name
        self.numerator = numerator
        self.denominator = denominator

    def fit(self, X: pd.DataFrame, y: Any = None) -> RatioFeature:
        self.feature_names_in_ = np.asarray(X.columns, dtype=object)
        return self

    def transform(self, X: pd.DataFrame) -> pd.DataFrame:
        out = X.copy()
        den = pd.to_numeric(out[self.denominator], errors="coerce").replace(0, np.nan)
        out[self.name] = pd.to_numeric(out[self.numerator], errors="coerce") / den
        return out

    @property
    def output_columns(self) -> list[str]:
        return [self.name]

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        names = input_features if input_features is not None else self.feature_names_in_
        return np.asarray([*names, self.name], dtype=object)


class IsZeroFlag(BaseEstimator, TransformerMixin):  # type: ignore[misc]
    """`name = 1 if column == 0 else 0` (e.g. customers with an empty balance behave differently)."""

    def __init__(self, name: str = "is_zero", column: str = ""):
        self.name = name
        self.column = column

    def fit(self, X: pd.DataFrame, y: Any = None) -> IsZeroFlag:
        self.feature_names_in_ = np.asarray(X.columns, dtype=object)
        return self

    def transform(self, X: pd.DataFrame) -> pd.DataFrame:
        out = X.copy()
        out[self.name] = (pd.to_numeric(out[self.column], errors="coerce") == 0).astype("float64")
        return out

    @property
    def output_columns(self) -> list[str]:
        return [self.name]

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        names = input_features if input_features is not None else self.feature_names_in_
        return np.asarray([*names, self.name], dtype=object)


TRANSFORMERS: dict[str, type[BaseEstimator]] = {"ratio": RatioFeature, "is_zero": IsZeroFlag}


def build_transformer(step: FeatureStep) -> BaseEstimator:
    cls = TRANSFORMERS.get(step.transformer)
    if cls is None:
        raise ValueError(f"unknown feature transformer {step.transformer!r}; registered: {sorted(TRANSFORMERS)}")
    try:
        return cls(**step.params)
    except TypeError as e:
        raise ValueError(f"feature transformer {step.transformer!r}: bad params {step.params}: {e}") from e


def trusted_types() -> list[str]:
    """Fully qualified names of our transformers, for skops' safe loading."""
    return [f"{c.__module__}.{c.__qualname__}" for c in TRANSFORMERS.values()]
