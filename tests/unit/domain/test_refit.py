from __future__ import annotations

import datetime as dt
import logging

import numpy as np
import pandas as pd
import pytest
from sklearn.model_selection import FixedThresholdClassifier

from pipelines.config import load_project
from pipelines.domain.refit import choose_threshold, refit
from pipelines.domain.rows import prepare
from pipelines.domain.synthetic import generate_bankchurn, generate_loanrisk

P = {"learning_rate": 0.05, "num_leaves": 8, "min_child_samples": 20, "n_estimators": 120}


@pytest.fixture(scope="module")
def data() -> pd.DataFrame:
    return generate_bankchurn(dt.date(2026, 1, 1), 2000, np.random.default_rng(2), False)


def test_the_threshold_lives_inside_the_saved_model(cfg, data):
    r = refit(cfg, data, "lightgbm", P)
    assert isinstance(r.model, FixedThresholdClassifier) and r.model.threshold == r.threshold
    X = data[cfg.input_columns].head(300)
    proba = r.model.predict_proba(X)[:, 1]
    assert (r.model.predict(X) == (proba >= r.threshold).astype(int)).all()
    assert r.calibration == "sigmoid" and 0.05 < r.threshold < 0.95 and r.oof_metrics["brier"] < 0.2


def test_calibration_is_out_of_fold_and_part_of_the_model(cfg, data):
    raw = refit(cfg.model_copy(update={"calibration": "none"}), data, "lightgbm", P)
    cal = refit(cfg, data, "lightgbm", P)
    from sklearn.calibration import CalibratedClassifierCV

    assert isinstance(cal.model.estimator.estimator, CalibratedClassifierCV)
    assert cal.oof_metrics["brier"] <= raw.oof_metrics["brier"] + 0.002
    assert cal.oof_metrics["roc_auc"] == pytest.approx(raw.oof_metrics["roc_auc"], abs=0.01)  # calibration keeps the ranking


def test_threshold_rules_and_the_edge_warning(cfg, caplog):
    y = np.array([0, 0, 1, 1] * 25)
    p = np.array([0.1, 0.3, 0.35, 0.9] * 25)
    assert choose_threshold(cfg, y, p, None)[0] == pytest.approx(0.31, abs=0.05)
    fixed = cfg.model_copy(update={"threshold": cfg.threshold.model_copy(update={"strategy": "fixed", "value": 0.42})})
    assert choose_threshold(fixed, y, p, None)[0] == 0.42
    with caplog.at_level(logging.WARNING):
        t, note = choose_threshold(cfg, np.ones(100, dtype=int), np.full(100, 0.5), None)
    assert t == 0.01 and "GRID'S EDGE" in note and "grid's edge" in caplog.text


def test_loanrisk_threshold_comes_from_per_row_amounts_and_is_inside_the_grid():
    cfg = load_project("loanrisk")
    days = [generate_loanrisk(dt.date(2026, 1, 1) + dt.timedelta(days=i), 600, np.random.default_rng(i), False) for i in range(20)]
    df, _ = prepare(pd.concat(days, ignore_index=True), cfg)
    r = refit(cfg, df, "lightgbm", {"learning_rate": 0.05, "num_leaves": 15, "min_child_samples": 50, "n_estimators": 80})
    assert 0.01 < r.threshold < 0.99 and "EDGE" not in r.threshold_note
    assert r.oof_metrics["net_benefit"] > 0 and r.oof_metrics["flagged_rate"] < 0.95


def test_regression_on_log_price():
    cfg = load_project("carvision")
    from pipelines.domain.synthetic import generate_carvision

    df, _ = prepare(generate_carvision(dt.date(2026, 1, 1), 1500, np.random.default_rng(0), False), cfg)
    r = refit(cfg, df, "lightgbm", {"learning_rate": 0.05, "num_leaves": 15, "min_child_samples": 20, "n_estimators": 200})
    from sklearn.compose import TransformedTargetRegressor

    assert isinstance(r.model, TransformedTargetRegressor) and r.threshold is None
    pred = r.model.predict(df[cfg.input_columns].head(50))
    assert (pred > 500).all() and r.oof_metrics["r2"] > 0.5
