"""evaluate() on real models: the comparison set, paired intervals for the policy, fresh rows, and the
policy reading the report evaluate itself produced."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest
from sklearn.dummy import DummyClassifier

from pipelines.contracts import layout
from pipelines.domain.evaluate import Candidate, evaluate, model_threshold
from pipelines.domain.policy import decide
from pipelines.domain.refit import refit
from pipelines.domain.synthetic import generate_bankchurn
from tests.conftest import small

P = {"learning_rate": 0.05, "num_leaves": 8, "min_child_samples": 20, "n_estimators": 100}


def _frame(day: dt.date, n: int, seed: int) -> pd.DataFrame:
    df = generate_bankchurn(day, n, np.random.default_rng(seed), False)
    return df.assign(**{layout.ROW_KEY: row_keys_for(df), layout.ROW_DATE: day.isoformat()})


def row_keys_for(df: pd.DataFrame) -> pd.Series:
    return df["CustomerId"].astype(str)


@pytest.fixture(scope="module")
def world(cfg):
    c = small(cfg, resamples=200)
    old = _frame(dt.date(2026, 1, 1), 2500, 1)
    test = pd.concat([_frame(dt.date(2026, 1, 20), 1500, 2), old.head(300)], ignore_index=True)  # 300 rows the champion trained on
    new = _frame(dt.date(2026, 1, 10), 2500, 3)
    champion = refit(c, old, "lightgbm", P).model
    challenger = refit(c, new, "lightgbm", P).model
    base = DummyClassifier(strategy="prior").fit(new[c.input_columns], new[c.target])
    return c, old, test, champion, challenger, base


def test_comparison_rows_exclude_what_the_champion_trained_on(world):
    from pipelines.contracts import ChampionRef

    c, old, test, champion, challenger, base = world
    ref = ChampionRef(version="1", run_id="r1", as_of="2026-01-15", judged_slices=["overall"])
    ev, scores = evaluate(c, test, run_id="r2", as_of=dt.date(2026, 1, 21), data_hash="h", challenger=Candidate(challenger, model_threshold(challenger)),
                          baseline=Candidate(base, 0.5), champion=Candidate(champion, model_threshold(champion), "1"), champion_ref=ref,
                          champion_train_keys=set(old[layout.ROW_KEY]))
    assert (ev.test_rows, ev.excluded_seen_by_champion, ev.comparison_rows) == (1800, 300, 1500)
    assert len(scores["y"]) == 1500
    iv = ev.interval("roc_auc")
    assert iv is not None and iv.n == 1500 and iv.ci_low < iv.delta < iv.ci_high
    judged = [s.name for s in ev.challenger.slices if s.judged and s.name != "overall"]
    assert judged and all(ev.interval("roc_auc", s) is not None for s in judged)  # the "*" change threshold's intervals
    assert ev.fresh is not None and ev.fresh.n == 1500 and ev.fresh.delta is not None  # all comparison rows are from 01-20
    d = decide(c, ev)  # the policy reads what evaluate wrote: a shape change breaks here
    assert d.decision in ("promoted", "kept_champion") and any(ch.name == "change:overall:roc_auc" for ch in d.checks)


def test_labels_are_the_models_own_predict(world):
    c, _, test, _, challenger, base = world
    ev, scores = evaluate(c, test, run_id="r", as_of=dt.date(2026, 1, 21), data_hash="h",
                          challenger=Candidate(challenger, model_threshold(challenger)), baseline=Candidate(base, 0.5))
    pred = challenger.predict(test[c.input_columns])
    thr = model_threshold(challenger)
    assert ((scores["challenger"] >= thr).astype(int) == pred).all()
    tp = int(((pred == 1) & (test[c.target] == 1)).sum())
    assert ev.confusion_matrix[1][1] == tp and ev.champion is None and ev.intervals == []
