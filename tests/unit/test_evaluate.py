from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn import metrics as skm

from pipelines.evaluate import classification_metrics, disparate_impact, paired_bootstrap_delta, slice_masks, slice_metrics


def test_metrics_match_sklearn():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 500)
    p = np.clip(y * 0.3 + rng.random(500) * 0.7, 0, 1)
    m = classification_metrics(y, p, 0.5)
    assert m["roc_auc"] == pytest.approx(skm.roc_auc_score(y, p))
    assert m["f1"] == pytest.approx(skm.f1_score(y, p >= 0.5))
    assert set(m) >= {"roc_auc", "pr_auc", "f1", "precision", "recall", "accuracy", "brier", "log_loss"}
    assert classification_metrics(y, p, 0.5, ("f1",)).keys() == {"f1"}
    assert np.isnan(classification_metrics(np.ones(5), np.full(5, 0.7), 0.5)["roc_auc"])  # one class


def test_slices_include_overall_bands_and_min_size(cfg):
    cfg = cfg.model_copy(update={"slices": cfg.slices.model_copy(update={"min_size": 50, "min_positives": 10})})
    df = pd.DataFrame({"Geography": ["France"] * 60 + ["Spain"] * 10, "Gender": ["Male"] * 70, "Age": [25] * 35 + [45] * 35})
    masks = slice_masks(cfg, df)
    assert masks["overall"].all() and masks["Age=[18,30)"].sum() == 35 and masks["Age=[40,50)"].sum() == 35
    y = np.array([0, 1] * 35)
    rows = {r["slice"]: r for r in slice_metrics(cfg, df, y, np.linspace(0, 1, 70), 0.5)}
    assert rows["Geography=France"]["judged"] and not rows["Geography=Spain"]["judged"]
    assert rows["overall"]["n"] == 70 and rows["Age=[60,100)"]["n"] == 0


def test_paired_bootstrap():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 800)
    good = np.clip(y * 0.5 + rng.random(800) * 0.5, 0, 1)
    bad = rng.random(800)
    r = paired_bootstrap_delta("roc_auc", y, good, bad, n_resamples=200, seed=0)
    assert r["ci_low"] <= r["delta"] <= r["ci_high"] and r["ci_low"] > 0.2
    same = paired_bootstrap_delta("roc_auc", y, good, good, n_resamples=200, seed=0)
    assert same["delta"] == same["ci_low"] == same["ci_high"] == 0


def test_disparate_impact():
    df = pd.DataFrame({"g": ["a"] * 10 + ["b"] * 10})
    pred = np.array([1] * 5 + [0] * 5 + [1] * 4 + [0] * 6)
    r = disparate_impact(df, pred, "g")
    assert r["selection_rates"] == {"a": 0.5, "b": 0.4} and r["disparate_impact"] == pytest.approx(0.8)


def test_regression_metrics_are_safe_for_zero_targets():
    from pipelines.evaluate import regression_metrics

    y = np.array([0.0, 100.0, 200.0])
    p = np.array([10.0, 110.0, 180.0])
    m = regression_metrics(y, p)
    assert m["mape"] == pytest.approx((0.1 + 0.1) / 2)  # the zero target is left out, not divided by
    assert m["rmse"] == pytest.approx(np.sqrt((100 + 100 + 400) / 3)) and m["mae"] == pytest.approx(40 / 3)
    assert 0 < m["smape"] <= 2 and np.isfinite(m["smape"])
    assert regression_metrics(np.zeros(3), np.zeros(3))["smape"] == 0.0
