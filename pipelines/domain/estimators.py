"""Model families and the ONE sklearn Pipeline a project trains: feature engineering -> preprocessing
-> model, plus the early-stopped fit that finds a boosting model's number of rounds.

A new model family plugs in here: a branch in `build_estimator`, its name in `config.MODEL_FAMILIES`
and, if it saves new types, `pipelines/resources/model_types.py` (a test keeps the allow-list complete).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.compose import ColumnTransformer, TransformedTargetRegressor
from sklearn.impute import SimpleImputer
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from pipelines.config import ProjectConfig
from pipelines.domain.features import NativeCategories, build_transformer

BOOSTING = frozenset({"lightgbm"})  # families whose rounds come from early stopping, not the search


def build_estimator(family: str, params: dict[str, Any], seed: int, regression: bool = False, n_jobs: int = 2) -> BaseEstimator:
    if family == "logistic_regression" and not regression:
        from sklearn.linear_model import LogisticRegression

        return LogisticRegression(max_iter=3000, random_state=seed, **params)
    if family == "ridge" and regression:
        from sklearn.linear_model import Ridge

        return Ridge(**params)
    if family == "random_forest":
        from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor

        return (RandomForestRegressor if regression else RandomForestClassifier)(random_state=seed, n_jobs=n_jobs, **params)
    if family == "gradient_boosting":
        from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

        # Rounds by early stopping on an inner validation split of whatever rows it is fitted on.
        p = {"early_stopping": True, "validation_fraction": 0.15, "n_iter_no_change": 30, "max_iter": 1000, **params}
        return (HistGradientBoostingRegressor if regression else HistGradientBoostingClassifier)(random_state=seed, **p)
    if family == "lightgbm":
        from lightgbm import LGBMClassifier, LGBMRegressor

        return (LGBMRegressor if regression else LGBMClassifier)(random_state=seed, n_jobs=n_jobs, verbose=-1, subsample_freq=1, **params)
    raise ValueError(f"model family {family!r} does not fit a {'regression' if regression else 'classification'} task")


def preprocessing(cfg: ProjectConfig) -> list[tuple[str, Any]]:
    """Feature engineering then imputation + scaling / one-hot (or typed columns for LightGBM's native
    categorical handling), as Pipeline steps."""
    fe = [build_transformer(s) for s in cfg.feature_engineering]
    derived_num = [c for t in fe if getattr(t, "output_kind", "numeric") == "numeric" for c in t.output_columns]  # type: ignore[attr-defined]
    derived_cat = [c for t in fe if getattr(t, "output_kind", "numeric") == "categorical" for c in t.output_columns]  # type: ignore[attr-defined]
    num_cols, cat_cols = [*cfg.numeric_features, *derived_num], [*cfg.categorical_features, *derived_cat]
    pre: Any
    if cfg.categorical_encoding == "native":
        pre = NativeCategories(numeric=num_cols, categorical=cat_cols)
    else:
        numeric = Pipeline([("impute", SimpleImputer(strategy="median")), ("scale", StandardScaler())])
        categorical = Pipeline([("impute", SimpleImputer(strategy="constant", fill_value="__missing__")),
                                ("onehot", OneHotEncoder(handle_unknown="ignore", sparse_output=False))])
        pre = ColumnTransformer([("num", numeric, num_cols), ("cat", categorical, cat_cols)], remainder="drop",
                                verbose_feature_names_out=False)
    steps: list[tuple[str, Any]] = [(f"fe_{i}_{s.transformer}", t) for i, (s, t) in enumerate(zip(cfg.feature_engineering, fe))]
    return [*steps, ("preprocess", pre)]


def build_pipeline(cfg: ProjectConfig, family: str, params: dict[str, Any], seed: int, n_jobs: int = 2) -> BaseEstimator:
    """Raw columns in, probabilities (or values) out: ONE estimator, saved and served as is."""
    pipe = Pipeline([*preprocessing(cfg), ("model", build_estimator(family, params, seed, cfg.regression, n_jobs))])
    if cfg.regression and cfg.target_transform == "log1p":
        return TransformedTargetRegressor(regressor=pipe, func=np.log1p, inverse_func=np.expm1, check_inverse=False)
    return pipe


def predict_scores(model: Any, X: pd.DataFrame, regression: bool) -> np.ndarray:
    """Probability of the positive class, or the predicted value for regression."""
    return np.asarray(model.predict(X), dtype=float) if regression else np.asarray(model.predict_proba(X))[:, 1]


@dataclass(frozen=True)
class FoldFit:
    model: Any
    best_iteration: int | None  # boosting rounds found by early stopping (None: not a boosting family)


def fit_fold(cfg: ProjectConfig, family: str, params: dict[str, Any], X: pd.DataFrame, y: np.ndarray, seed: int,
             n_jobs: int = 2) -> FoldFit:
    """Fit on a CV fold's training rows. Boosting: hold out an inner validation split of THOSE rows,
    stop when it stops improving, and report the best round (the refit uses the folds' mean)."""
    if family not in BOOSTING:
        return FoldFit(build_pipeline(cfg, family, params, seed, n_jobs).fit(X, y), None)
    import lightgbm as lgb

    es = cfg.search.early_stopping
    strat = None if cfg.regression or len(np.unique(y)) < 2 else y
    i_fit, i_val = train_test_split(np.arange(len(y)), test_size=es.validation_fraction, random_state=seed, stratify=strat)
    pre = Pipeline(preprocessing(cfg))
    y_fit, y_val = _target(cfg, y[i_fit]), _target(cfg, y[i_val])
    X_fit, X_val = pre.fit_transform(X.iloc[i_fit], y_fit), pre.transform(X.iloc[i_val])
    model = build_estimator(family, {**params, "n_estimators": es.max_rounds}, seed, cfg.regression, n_jobs)
    model.fit(X_fit, y_fit, eval_X=(X_val,), eval_y=(y_val,), callbacks=[lgb.early_stopping(es.rounds, verbose=False)])
    best = int(getattr(model, "best_iteration_", 0) or es.max_rounds)
    fitted = Pipeline([*pre.steps, ("model", model)])
    if cfg.regression and cfg.target_transform == "log1p":
        fitted = _prefit_log_target(fitted)
    return FoldFit(fitted, best)


def _target(cfg: ProjectConfig, y: np.ndarray) -> np.ndarray:
    return np.log1p(y) if cfg.regression and cfg.target_transform == "log1p" else y


class _LogTargetScorer:
    """Inverse-transforms a pipeline fitted on log1p(y), for scoring a CV fold only (never saved)."""

    def __init__(self, pipe: Pipeline):
        self.pipe = pipe

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        return np.expm1(self.pipe.predict(X))


def _prefit_log_target(pipe: Pipeline) -> Any:
    return _LogTargetScorer(pipe)
