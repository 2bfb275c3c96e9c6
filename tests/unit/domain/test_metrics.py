from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn import metrics as skm

from pipelines.config import BootstrapConfig, CostModel
from pipelines.domain.metrics import (
    _vectorized,
    classification_metrics,
    cost_metrics,
    disparate_impact,
    paired_bootstrap,
    regression_metrics,
    slice_masks,
    slice_scores,
)


@pytest.fixture(scope="module")
def yp():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 800)
    return y, np.clip(y * 0.3 + rng.random(800) * 0.7, 0, 1), np.clip(y * 0.25 + rng.random(800) * 0.75, 0, 1)


def test_metrics_match_sklearn(yp):
    y, p, _ = yp
    m = classification_metrics(y, p, 0.5)
    assert m["roc_auc"] == pytest.approx(skm.roc_auc_score(y, p))
    assert m["f1"] == pytest.approx(skm.f1_score(y, p >= 0.5))
    assert set(m) >= {"roc_auc", "pr_auc", "f1", "precision", "recall", "accuracy", "brier", "log_loss"}
    assert classification_metrics(y, p, 0.5, ("f1",)).keys() == {"f1"}
    assert classification_metrics(np.ones(5), np.full(5, 0.7), 0.5)["roc_auc"] is None  # one class: undefined, not NaN


@pytest.mark.parametrize("metric", ["roc_auc", "pr_auc", "brier", "log_loss", "f1", "accuracy", "precision", "recall"])
def test_bootstrap_kernels_equal_the_sklearn_values(yp, metric):
    y, p, _ = yp
    assert _vectorized(metric, y[None, :], p[None, :], 0.4, None, None)[0] == pytest.approx(classification_metrics(y, p, 0.4)[metric])


@pytest.mark.parametrize("metric", ["rmse", "mae", "r2", "mape", "smape"])
def test_regression_kernels_equal_the_sklearn_values(metric):
    rng = np.random.default_rng(1)
    y = rng.lognormal(8, 1, 300)
    p = y * rng.lognormal(0, 0.2, 300)
    assert _vectorized(metric, y[None, :], p[None, :], 0.5, None, None)[0] == pytest.approx(regression_metrics(y, p)[metric])


def test_paired_bootstrap_is_seeded_and_covers_the_point(yp):
    y, a, b = yp
    boot = BootstrapConfig(resamples=300, seed=3)
    iv = paired_bootstrap("roc_auc", y, a, b, boot=boot)
    assert iv.ci_low < iv.delta < iv.ci_high and iv.n == len(y)
    assert paired_bootstrap("roc_auc", y, a, b, boot=boot) == iv
    same = paired_bootstrap("roc_auc", y, a, a, boot=boot)
    assert same.delta == 0 and same.ci_low == 0 and same.ci_high == 0


def test_cost_metrics_use_each_rows_amount():
    cost = CostModel(amount_column="loanAmount", loss_rate=0.5, review_cost=10)
    y, p = np.array([1, 0, 1]), np.array([0.9, 0.8, 0.1])
    m = cost_metrics(y, p, 0.5, cost, np.array([1000.0, 500.0, 9999.0]))
    assert m["net_benefit"] == 1000 * 0.5 - 2 * 10 and m["flagged_rate"] == pytest.approx(2 / 3)


def test_slices_include_overall_bands_and_min_size(cfg):
    cfg = cfg.model_copy(update={"slices": cfg.slices.model_copy(update={"min_size": 50, "min_positives": 10})})
    df = pd.DataFrame({"Geography": ["France"] * 60 + ["Spain"] * 10, "Gender": ["Male"] * 70, "Age": [25] * 35 + [45] * 35})
    masks = slice_masks(cfg, df)
    assert masks["overall"].all() and masks["Age=[18,30)"].sum() == 35 and masks["Age=[40,50)"].sum() == 35
    y = np.array([0, 1] * 35)
    rows = {r.name: r for r in slice_scores(cfg, masks, y, np.linspace(0, 1, 70), 0.5)}
    assert rows["overall"].judged and rows["Geography=France"].judged and not rows["Geography=Spain"].judged
    assert rows["Geography=Spain"].n == 10 and rows["Geography=Spain"].positives == 5


def test_disparate_impact_only_over_big_enough_groups():
    groups = np.array(["a"] * 100 + ["b"] * 100 + ["c"] * 5)
    pred = np.r_[np.ones(50), np.zeros(50), np.ones(25), np.zeros(75), np.ones(5)]
    f = disparate_impact(groups, pred, "g", min_size=50)
    assert f.judged_groups == ["a", "b"] and f.disparate_impact == pytest.approx(0.5)
    assert disparate_impact(groups, pred, "g", min_size=1000).disparate_impact is None


def test_bootstraps_use_one_seeded_bounded_sample_of_rows(yp, monkeypatch, cfg):
    """Beyond MAX_BOOTSTRAP_ROWS both bootstraps resample a seeded subsample: same rows for both models,
    the same interval on a rerun, and cost that stops growing with the window."""
    import pipelines.domain.metrics as m

    y, p, q = yp
    monkeypatch.setattr(m, "MAX_BOOTSTRAP_ROWS", 300)
    boot = BootstrapConfig(resamples=200, seed=7)
    a, b = m.paired_bootstrap("roc_auc", y, p, q, boot=boot), m.paired_bootstrap("roc_auc", y, p, q, boot=boot)
    assert a.n == 300 and a == b and a.ci_low is not None and a.ci_low <= a.delta <= a.ci_high
    assert m.paired_bootstrap("roc_auc", y, p, q, boot=BootstrapConfig(resamples=200, seed=8)).delta != a.delta  # another sample
    iv = m.metric_intervals(cfg, y, p, 0.5, resamples=100)["roc_auc"]
    assert iv.ci_low is not None and iv.ci_low <= iv.ci_high
