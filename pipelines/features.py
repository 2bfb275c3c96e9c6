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
    """`name = numerator / denominator`; a zero or missing denominator, or an overflow, gives NaN (imputed later)."""

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
        ratio = pd.to_numeric(out[self.numerator], errors="coerce") / den
        out[self.name] = ratio.replace([np.inf, -np.inf], np.nan)  # a tiny denominator must not overflow
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


class VehicleAge(BaseEstimator, TransformerMixin):  # type: ignore[misc]
    """`name` = years between `year_column` and the listing date `date_column` (not today's date,
    so a model scores old and new listings the same way)."""

    output_kind = "numeric"

    def __init__(self, name: str = "vehicle_age", date_column: str = "date_posted", year_column: str = "model_year"):
        self.name = name
        self.date_column = date_column
        self.year_column = year_column

    def fit(self, X: pd.DataFrame, y: Any = None) -> VehicleAge:
        self.feature_names_in_ = np.asarray(X.columns, dtype=object)
        return self

    def transform(self, X: pd.DataFrame) -> pd.DataFrame:
        out = X.copy()
        posted = pd.to_datetime(out[self.date_column], errors="coerce")
        years = posted.dt.year + (posted.dt.dayofyear - 1) / 365.25
        out[self.name] = (years - pd.to_numeric(out[self.year_column], errors="coerce")).clip(lower=0)
        return out

    @property
    def output_columns(self) -> list[str]:
        return [self.name]

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        names = input_features if input_features is not None else self.feature_names_in_
        return np.asarray([*names, self.name], dtype=object)


class BrandFromModel(BaseEstimator, TransformerMixin):  # type: ignore[misc]
    """`name` = the make, i.e. the first word of the model name ("ford f-150" -> "ford"): a categorical."""

    output_kind = "categorical"

    def __init__(self, name: str = "brand", column: str = "model"):
        self.name = name
        self.column = column

    def fit(self, X: pd.DataFrame, y: Any = None) -> BrandFromModel:
        self.feature_names_in_ = np.asarray(X.columns, dtype=object)
        return self

    def transform(self, X: pd.DataFrame) -> pd.DataFrame:
        out = X.copy()
        out[self.name] = out[self.column].astype("string").str.strip().str.lower().str.split().str[0].astype(object)
        out[self.name] = out[self.name].where(out[self.name].notna(), None)
        return out

    @property
    def output_columns(self) -> list[str]:
        return [self.name]

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        names = input_features if input_features is not None else self.feature_names_in_
        return np.asarray([*names, self.name], dtype=object)


TRANSFORMERS: dict[str, type[BaseEstimator]] = {"ratio": RatioFeature, "is_zero": IsZeroFlag, "vehicle_age": VehicleAge,
                                                "brand": BrandFromModel}


class NativeCategories(BaseEstimator, TransformerMixin):  # type: ignore[misc]
    """Preprocessing for LightGBM's native categorical handling: selects the model columns, makes
    numerics float and categoricals pandas `category` with the categories seen in fit (unseen -> NaN),
    so LightGBM splits on categories directly instead of on one-hot columns."""

    def __init__(self, numeric: list[str] | None = None, categorical: list[str] | None = None):
        self.numeric = numeric
        self.categorical = categorical

    def fit(self, X: pd.DataFrame, y: Any = None) -> NativeCategories:
        self.categories_ = {c: sorted(X[c].dropna().astype(str).unique().tolist()) for c in self.categorical or []}
        return self

    def transform(self, X: pd.DataFrame) -> pd.DataFrame:
        out = pd.DataFrame(index=X.index)
        for c in self.numeric or []:
            out[c] = pd.to_numeric(X[c], errors="coerce").astype("float64")
        for c in self.categorical or []:
            out[c] = pd.Categorical(X[c].astype("string").astype(object).where(X[c].notna(), None), categories=self.categories_[c])
        return out

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        return np.asarray([*(self.numeric or []), *(self.categorical or [])], dtype=object)


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
    return [f"{c.__module__}.{c.__qualname__}" for c in (*TRANSFORMERS.values(), NativeCategories)]
