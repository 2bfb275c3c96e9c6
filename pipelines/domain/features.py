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


class _AddsColumn(BaseEstimator, TransformerMixin):  # type: ignore[misc]
    """Base of the registered transformers: stateless, adds the one column `name` to a DataFrame."""

    name: str
    output_kind = "numeric"  # or "categorical": tells preprocessing how to encode the new column

    def fit(self, X: pd.DataFrame, y: Any = None) -> _AddsColumn:
        self.feature_names_in_ = np.asarray(X.columns, dtype=object)
        return self

    def transform(self, X: pd.DataFrame) -> pd.DataFrame:
        out = X.copy()
        out[self.name] = self.compute(out)
        return out

    def compute(self, X: pd.DataFrame) -> pd.Series:
        raise NotImplementedError

    @property
    def output_columns(self) -> list[str]:
        return [self.name]

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        names = input_features if input_features is not None else self.feature_names_in_
        return np.asarray([*names, self.name], dtype=object)


class RatioFeature(_AddsColumn):
    """`name = numerator / denominator`; a zero or missing denominator, or an overflow, gives NaN (imputed later)."""

    def __init__(self, name: str = "ratio", numerator: str = "", denominator: str = ""):
        self.name = name
        self.numerator = numerator
        self.denominator = denominator

    def compute(self, X: pd.DataFrame) -> pd.Series:
        den = pd.to_numeric(X[self.denominator], errors="coerce").replace(0, np.nan)
        ratio = pd.to_numeric(X[self.numerator], errors="coerce") / den
        return ratio.replace([np.inf, -np.inf], np.nan)  # a tiny denominator must not overflow


class IsZeroFlag(_AddsColumn):
    """`name = 1 if column == 0 else 0` (e.g. customers with an empty balance behave differently)."""

    def __init__(self, name: str = "is_zero", column: str = ""):
        self.name = name
        self.column = column

    def compute(self, X: pd.DataFrame) -> pd.Series:
        return (pd.to_numeric(X[self.column], errors="coerce") == 0).astype("float64")


class VehicleAge(_AddsColumn):
    """`name` = years between `year_column` and the listing date `date_column` (not today's date,
    so a model scores old and new listings the same way)."""

    def __init__(self, name: str = "vehicle_age", date_column: str = "date_posted", year_column: str = "model_year"):
        self.name = name
        self.date_column = date_column
        self.year_column = year_column

    def compute(self, X: pd.DataFrame) -> pd.Series:
        posted = pd.to_datetime(X[self.date_column], errors="coerce")
        years = posted.dt.year + (posted.dt.dayofyear - 1) / 365.25
        return (years - pd.to_numeric(X[self.year_column], errors="coerce")).clip(lower=0)


class BrandFromModel(_AddsColumn):
    """`name` = the make, i.e. the first word of the model name ("ford f-150" -> "ford"): a categorical."""

    output_kind = "categorical"

    def __init__(self, name: str = "brand", column: str = "model"):
        self.name = name
        self.column = column

    def compute(self, X: pd.DataFrame) -> pd.Series:
        brand = X[self.column].astype("string").str.strip().str.lower().str.split().str[0].astype(object)
        return brand.where(brand.notna(), None)


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
