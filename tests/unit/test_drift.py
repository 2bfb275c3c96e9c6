from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from pipelines.drift import run_drift
from pipelines.feed import generate_bankchurn


def _g(n, drifted, seed):
    return generate_bankchurn(dt.date(2026, 1, 1), n, np.random.default_rng(seed), drifted)


def test_same_distribution_is_not_drift(cfg):
    res, html = run_drift(cfg, _g(3000, False, 1), _g(800, False, 2))
    assert res.status == "ok" and res.drift_share < cfg.drift.drift_share
    assert len(res.columns) == len(cfg.features) and html and "<html" in html.lower()


def test_shifted_distribution_is_drift_with_named_columns(cfg):
    res, _ = run_drift(cfg, _g(3000, False, 1), _g(800, True, 2))
    drifted = {c["column"] for c in res.columns if c["drifted"]}
    assert res.status == "drifted" and {"Age", "Geography"} <= drifted
    assert next(c for c in res.columns if c["column"] == "EstimatedSalary")["method"]


def test_empty_current_is_skipped(cfg):
    res, html = run_drift(cfg, _g(100, False, 1), pd.DataFrame())
    assert res.status == "skipped" and html is None and "empty" in res.reason
