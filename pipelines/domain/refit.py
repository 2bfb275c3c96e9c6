"""Refit: the winning trial refit on all training rows into the model that is saved, registered and
served, with its probabilities calibrated out of fold (where configured) and its decision
threshold INSIDE it (scikit-learn's FixedThresholdClassifier), so `predict` gives exactly the labels
the gate approved, for MLflow's pyfunc, for serving and for evaluation alike.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import clone
from sklearn.calibration import CalibratedClassifierCV
from sklearn.frozen import FrozenEstimator
from sklearn.model_selection import FixedThresholdClassifier, KFold, StratifiedKFold, cross_val_predict

from pipelines.config import ProjectConfig
from pipelines.domain.estimators import build_pipeline
from pipelines.domain.metrics import cost_metrics, model_metrics, threshold_metric
from pipelines.domain.targets import row_amounts, training_xy

log = logging.getLogger(__name__)
GRID = np.round(np.linspace(0.01, 0.99, 99), 2)


@dataclass
class Refit:
    model: Any  # the saved model: Pipeline (regression) or FixedThresholdClassifier(Frozen(calibrated pipeline))
    family: str
    params: dict[str, Any]
    threshold: float | None
    threshold_note: str
    oof_metrics: dict[str, float | None]
    calibration: str
    oof: np.ndarray
    y: np.ndarray


def partition_folds(cfg: ProjectConfig) -> Any:
    """Folds that give every row an out-of-fold score (calibration and threshold): contiguous time
    blocks for time-split projects (rows sorted by time), else shuffled and stratified."""
    k, seed = cfg.search.cv_folds, cfg.search.seed
    if cfg.split.strategy == "time":
        return KFold(n_splits=k, shuffle=False)
    return KFold(n_splits=k, shuffle=True, random_state=seed) if cfg.regression else StratifiedKFold(k, shuffle=True, random_state=seed)


def choose_threshold(cfg: ProjectConfig, y: np.ndarray, proba: np.ndarray, amounts: np.ndarray | None) -> tuple[float, str]:
    """On out-of-fold predictions: maximise a metric, or (cost) the expected net benefit. Warns when
    the choice sits on the grid's edge (the rule, or the cost model, cannot separate models there)."""
    rule = cfg.threshold
    if rule.strategy == "fixed":
        assert rule.value is not None
        return float(rule.value), f"fixed {rule.value:.2f}"
    if rule.strategy == "cost":
        assert rule.cost is not None
        scores = [cost_metrics(y, proba, t, rule.cost, amounts)["net_benefit"] or 0.0 for t in GRID]
        what = "OOF net benefit"
    else:
        scores = [threshold_metric(rule.metric, y, proba, t) for t in GRID]
        what = f"OOF {rule.metric}"
    i = int(np.argmax(scores))
    note = f"max {what} {scores[i]:,.4g} at {GRID[i]:.2f}"
    if i in (0, len(GRID) - 1):
        note += " -- ON THE GRID'S EDGE: the rule barely separates thresholds (check the cost model)"
        log.warning("threshold %.2f for %s is on the grid's edge (%s)", GRID[i], cfg.name, note)
    return float(GRID[i]), note


def _response_method(model: Any) -> str:
    return "decision_function" if hasattr(model, "decision_function") else "predict_proba"


def _oof_raw(base: Any, X: pd.DataFrame, y: np.ndarray, folds: Any, method: str) -> np.ndarray:
    raw = cross_val_predict(clone(base), X, y, cv=folds, method=method)
    return raw[:, 1] if raw.ndim == 2 else raw


def calibrated(cfg: ProjectConfig, base: Any, X: pd.DataFrame, y: np.ndarray) -> tuple[Any, np.ndarray]:
    """The fitted probability model and its out-of-fold probabilities. With calibration: scikit-learn's
    CalibratedClassifierCV (ensemble=False: one model on all rows, calibrator fitted on out-of-fold
    scores), and the calibrator applied to the same out-of-fold scores for the threshold."""
    folds = partition_folds(cfg)
    if cfg.calibration == "none":
        oof = _oof_raw(base, X, y, folds, "predict_proba")
        return clone(base).fit(X, y), oof
    method = _response_method(base)
    cal = CalibratedClassifierCV(clone(base), method=cfg.calibration, cv=folds, ensemble=False).fit(X, y)
    raw = _oof_raw(base, X, y, folds, method)
    oof = np.asarray(cal.calibrated_classifiers_[0].calibrators[0].predict(raw), dtype=float)
    return cal, np.clip(oof, 0.0, 1.0)


def refit(cfg: ProjectConfig, train_df: pd.DataFrame, family: str, params: dict[str, Any], n_jobs: int = 2) -> Refit:
    X, y = training_xy(cfg, train_df)
    base = build_pipeline(cfg, family, params, cfg.search.seed, n_jobs)
    if cfg.regression:
        oof = np.asarray(cross_val_predict(clone(base), X, y, cv=partition_folds(cfg)), dtype=float)
        return Refit(clone(base).fit(X, y), family, params, None, "regression: no threshold",
                     model_metrics(cfg, y, oof, None), "none", oof, y)
    fitted, oof = calibrated(cfg, base, X, y)
    amounts = row_amounts(cfg, X) if cfg.threshold.cost and cfg.threshold.cost.amount_column else None
    threshold, note = choose_threshold(cfg, y, oof, amounts)
    model = FixedThresholdClassifier(FrozenEstimator(fitted), threshold=threshold, response_method="predict_proba").fit(X, y)
    return Refit(model, family, params, threshold, note, model_metrics(cfg, y, oof, threshold, amounts=amounts), cfg.calibration,
                 oof, y)


def reliability_plot(y: np.ndarray, oof: np.ndarray, path: Any, title: str) -> Any:
    """Calibration curve of the out-of-fold probabilities (logged to MLflow)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.calibration import CalibrationDisplay

    fig, ax = plt.subplots(figsize=(4.5, 4.5))
    CalibrationDisplay.from_predictions(y, oof, n_bins=10, strategy="quantile", ax=ax, name="out-of-fold")
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path
