"""The skops allow-list covers every model a shipped project can save (all families, calibration,
the threshold wrapper, the log-target regressor): a new family or transformer that saves a new type
fails here, not at load time in production."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
import skops.io as sio
from sklearn.calibration import CalibratedClassifierCV
from sklearn.frozen import FrozenEstimator
from sklearn.model_selection import FixedThresholdClassifier

from pipelines.config import MODEL_FAMILIES, load_project
from pipelines.domain.estimators import build_pipeline
from pipelines.domain.rows import prepare
from pipelines.domain.synthetic import GENERATORS
from pipelines.domain.targets import encode_target
from pipelines.resources.model_types import ALLOWED_TYPES

PARAMS = {"random_forest": {"n_estimators": 5}, "gradient_boosting": {"max_iter": 5}, "lightgbm": {"n_estimators": 5}}


@pytest.mark.parametrize("project", ["bankchurn", "telecom", "carvision", "loanrisk"])
def test_every_family_saves_only_allowed_types(project):
    cfg = load_project(project)
    df, _ = prepare(GENERATORS[cfg.feed.generator](dt.date(2026, 1, 1), 400, np.random.default_rng(0), False), cfg)
    X, y = df[cfg.input_columns], encode_target(cfg, df)
    checked = 0
    for family in MODEL_FAMILIES:
        try:
            model = build_pipeline(cfg, family, PARAMS.get(family, {}), 0).fit(X, y)
        except (ValueError, TypeError):
            continue  # the family does not fit the task (ridge for classification, linear models on native categoricals)
        if not cfg.regression:
            cal = CalibratedClassifierCV(build_pipeline(cfg, family, PARAMS.get(family, {}), 0), method="isotonic", cv=3,
                                         ensemble=False).fit(X, y)
            model = FixedThresholdClassifier(FrozenEstimator(cal), threshold=0.3, response_method="predict_proba").fit(X, y)
        extra = set(sio.get_untrusted_types(data=sio.dumps(model))) - ALLOWED_TYPES
        assert not extra, f"{project}/{family} saves types outside pipelines/resources/model_types.py: {sorted(extra)}"
        checked += 1
    assert checked >= 2
