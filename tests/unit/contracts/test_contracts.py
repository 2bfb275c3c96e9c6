"""Typed hand-offs: JSON only at the edges, NaN never travels (None instead)."""

from __future__ import annotations

import datetime as dt

import pytest
from pydantic import ValidationError

from pipelines.contracts import Evaluation, ModelScores, SearchPlan, SliceScore


def test_nan_and_inf_become_none_and_roundtrip():
    m = ModelScores(metrics={"roc_auc": float("nan"), "f1": 0.5}, slices=[SliceScore(name="x", n=3, judged=False, metrics={"a": float("inf")})])
    assert m.metrics["roc_auc"] is None and m.slices[0].metrics["a"] is None
    ev = Evaluation(project="p", as_of=dt.date(2026, 1, 1), run_id="r", data_hash="h", primary_metric="roc_auc", higher_is_better=True,
                    test_rows=10, comparison_rows=10, models={"challenger": m, "baseline": m})
    assert Evaluation.from_json(ev.to_json()) == ev
    assert ev.challenger.slice("overall").metrics["f1"] == 0.5  # overall synthesised from the global metrics


def test_contracts_refuse_unknown_fields():
    with pytest.raises(ValidationError, match="extra"):
        SearchPlan.from_json({"study_name": "s", "fingerprint": "f", "n_trials": 3, "timeout_s": 1, "workers": 1, "surprise": 1})


def test_worker_shares_sum_to_the_trial_budget():
    plan = SearchPlan(study_name="s", fingerprint="f", n_trials=7, timeout_s=60, workers=3)
    assert plan.worker_tasks() == [{"worker": 0, "trials": 3}, {"worker": 1, "trials": 2}, {"worker": 2, "trials": 2}]
