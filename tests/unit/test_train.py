from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest
from sklearn.pipeline import Pipeline

from pipelines.feed import generate_bankchurn
from pipelines.train import build_pipeline, choose_threshold, train, unpack


@pytest.fixture(scope="module")
def data() -> pd.DataFrame:
    return generate_bankchurn(dt.date(2026, 1, 1), 1200, np.random.default_rng(1), False)


def test_train_is_seeded_and_yields_one_pipeline(cfg, data, tmp_path):
    storage = f"sqlite:///{tmp_path / 'optuna.db'}"
    a = train(cfg, data, study_name="t", storage=storage, n_trials=4)
    b = train(cfg, data, study_name="t", storage=storage, n_trials=4)  # same name: study restarts
    assert (a.family, a.params, a.cv_score, a.threshold) == (b.family, b.params, b.cv_score, b.threshold)
    assert isinstance(a.model, Pipeline) and [n for n, _ in a.model.steps][-2:] == ["preprocess", "model"]
    assert a.n_trials == 4 and len(a.trials) == 4
    assert 0.05 <= a.threshold <= 0.95 and a.cv_score > 0.7
    p = a.model.predict_proba(data[cfg.features].head(20))[:, 1]
    assert p.shape == (20,) and ((p >= 0) & (p <= 1)).all()


def test_pipeline_handles_missing_and_unseen_values(cfg, data):
    pipe = build_pipeline(cfg, "logistic_regression", {"C": 1.0}, 0).fit(data[cfg.features], data[cfg.target])
    odd = data[cfg.features].head(3).copy()
    odd.loc[:, "Tenure"] = np.nan
    odd.loc[:, "Geography"] = "Portugal"
    assert np.isfinite(pipe.predict_proba(odd)).all()
    names = pipe[:-1].get_feature_names_out()
    assert {"balance_to_salary", "zero_balance"} <= set(names)


def test_threshold_rules(cfg):
    y = np.array([0, 0, 1, 1])
    p = np.array([0.1, 0.3, 0.35, 0.9])
    assert choose_threshold(cfg, y, p) == pytest.approx(0.31, abs=0.05)
    fixed = cfg.model_copy(update={"threshold": cfg.threshold.model_copy(update={"strategy": "fixed", "value": 0.42})})
    assert choose_threshold(fixed, y, p) == 0.42


def test_unpack_conditional_params():
    assert unpack({"family": "lightgbm", "lightgbm__num_leaves": 8, "random_forest__max_depth": 3}) == ("lightgbm", {"num_leaves": 8})


def test_missing_column_is_named(cfg, data):
    with pytest.raises(ValueError, match="lacks column"):
        train(cfg, data.drop(columns=["Age"]), study_name="x", n_trials=1)


def test_parallel_workers_refuse_sqlite(cfg, data, tmp_path):
    with pytest.raises(ValueError, match="optuna_workers=2 needs a shared RDB"):
        train(cfg, data, study_name="p", storage=f"sqlite:///{tmp_path / 'o.db'}", n_trials=2, workers=2)


def test_ratio_feature_never_yields_infinity():
    import pandas as pd

    from pipelines.features import RatioFeature

    out = RatioFeature("r", "a", "b").fit_transform(pd.DataFrame({"a": [1e300, 1.0, 2.0], "b": [1e-300, 0.0, 4.0]}))
    assert out["r"].isna().tolist() == [True, True, False] and out["r"].iloc[2] == 0.5
