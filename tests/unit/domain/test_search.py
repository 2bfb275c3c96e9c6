from __future__ import annotations

import datetime as dt

import numpy as np
import optuna
import pandas as pd
import pytest

from pipelines.domain.search import SearchError, cross_validate, culled_families, open_study, plan, select_trial, tune, unpack
from pipelines.domain.synthetic import generate_bankchurn
from pipelines.domain.targets import training_xy
from tests.conftest import small


@pytest.fixture(scope="module")
def data() -> pd.DataFrame:
    return generate_bankchurn(dt.date(2026, 1, 1), 1500, np.random.default_rng(1), False)


def _run(cfg, data, storage, name="s", trials=3):
    p = plan(cfg, study_name=name, fingerprint="f", storage=storage, n_trials=trials, timeout_s=300, workers=1)
    return p, tune(cfg, data, p, 0, trials, storage)


def test_default_is_trial_zero_and_search_is_seeded(cfg, data, tmp_path):
    c = small(cfg, n_trials=3)
    a_store, b_store = f"sqlite:///{tmp_path / 'a.db'}", f"sqlite:///{tmp_path / 'b.db'}"
    _, t = _run(c, data, a_store)
    _run(c, data, b_store)
    a, b = open_study(c, "s", a_store, seed=1), open_study(c, "s", b_store, seed=1)
    assert t.trials == 3 and len(a.trials) == 3
    assert a.trials[0].params == {"family": "lightgbm", **{f"lightgbm__{k}": v for k, v in c.search.defaults["lightgbm"].items()}}
    assert [t.value for t in a.trials] == [t.value for t in b.trials] and a.best_value > 0.7
    assert all(t.user_attrs["cv_best_iterations"] for t in a.trials)  # rounds found by early stopping, per fold


def test_a_retried_worker_resumes_its_share(cfg, data, tmp_path):
    c, store = small(cfg, n_trials=2), f"sqlite:///{tmp_path / 'r.db'}"
    p, first = _run(c, data, store, trials=2)
    again = tune(c, data, p, 0, 2, store)
    assert first.trials == again.trials == 2 and len(open_study(c, "s", store, seed=1).trials) == 2


def test_sqlite_refuses_parallel_workers(cfg, tmp_path):
    with pytest.raises(SearchError, match="optuna_workers=2 needs a shared RDB"):
        plan(cfg, study_name="p", fingerprint="f", storage=f"sqlite:///{tmp_path / 'o.db'}", n_trials=4, timeout_s=10, workers=2)


def test_pruning_never_happens_after_the_last_fold(cfg, data):
    class Trial:
        steps: list[int] = []

        def report(self, value, step):
            self.steps.append(step)

        def should_prune(self):
            return False

    X, y = training_xy(cfg, data)
    t = Trial()
    cv = cross_validate(small(cfg, folds=4), "logistic_regression", {"C": 1.0}, X, y, t)  # type: ignore[arg-type]
    assert cv["folds"] == 4 and t.steps == [0, 1, 2]


def _study(cfg, rows, default_first=False):
    study = optuna.create_study(direction="maximize")
    for i, (family, value, seconds) in enumerate(rows):
        dist = optuna.distributions.CategoricalDistribution(["lightgbm", "logistic_regression"])
        enqueued = {"enqueued": "default"} if default_first and i == 0 else {}
        study.add_trial(optuna.trial.create_trial(params={"family": family}, distributions={"family": dist}, value=value,
                                                  user_attrs={"cv_std": 0.02, "cv_folds": 4, "cv_fit_seconds": seconds, **enqueued}))
    return study


def test_ties_within_one_standard_error_go_to_the_cheaper_model(cfg):
    # best 0.860 (12 s); 0.855 is within SE = 0.02 / sqrt(4) = 0.01 and takes 3 s: noise should not pick.
    trial, why = select_trial(cfg, _study(cfg, [("lightgbm", 0.860, 12.0), ("lightgbm", 0.855, 3.0), ("lightgbm", 0.80, 1.0)]))
    assert trial.value == 0.855 and "within 1 SE" in why
    best = cfg.model_copy(update={"search": cfg.search.model_copy(update={"select": "best"})})
    assert select_trial(best, _study(cfg, [("lightgbm", 0.860, 12.0), ("lightgbm", 0.855, 3.0)]))[0].value == 0.860


def test_the_default_stands_unless_the_search_beats_it_beyond_one_standard_error(cfg):
    # default 0.852 (10 s), best 0.860, cheapest 0.855 (3 s); SE = 0.01: the default is not shown wrong.
    rows = [("lightgbm", 0.852, 10.0), ("lightgbm", 0.860, 12.0), ("lightgbm", 0.855, 3.0)]
    trial, why = select_trial(cfg, _study(cfg, rows, default_first=True))
    assert trial.value == 0.852 and "known-good default" in why
    # A trial better by more than one SE replaces it (then the cheapest within SE of that best).
    trial, why = select_trial(cfg, _study(cfg, [("lightgbm", 0.830, 1.0), *rows[1:]], default_first=True))
    assert trial.value == 0.855 and "cheapest" in why


def test_plan_marks_the_enqueued_default_for_selection(cfg, tmp_path):
    storage = f"sqlite:///{tmp_path}/optuna.db"
    plan(cfg, study_name="s", fingerprint="f", storage=storage, n_trials=3, timeout_s=60, workers=1)
    study = open_study(cfg, "s", storage, seed=cfg.search.seed)
    assert study.trials[0].user_attrs == {"enqueued": "default"} and study.trials[0].state == optuna.trial.TrialState.WAITING


def test_a_family_far_behind_stops_being_trained(cfg):
    rows = [("lightgbm", 0.86, 1.0)] * 2 + [("logistic_regression", 0.77, 1.0)] * 4
    assert culled_families(cfg, _study(cfg, rows)) == {"logistic_regression"}
    assert culled_families(cfg, _study(cfg, rows[:-1])) == set()  # not enough of its trials yet


def test_no_completed_trial_is_a_clear_error(cfg):
    with pytest.raises(SearchError, match="no trial completed"):
        select_trial(cfg, optuna.create_study())


def test_unpack_conditional_params():
    assert unpack({"family": "lightgbm", "lightgbm__num_leaves": 8, "random_forest__max_depth": 3}) == ("lightgbm", {"num_leaves": 8})
