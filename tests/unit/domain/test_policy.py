"""The gate on typed evaluations (the contract's constructor, so a change of the report's shape breaks
these tests): interval rules, point rules, slices from both sides, fairness that cannot be judged,
backtest gates, first model, errors reject."""

from __future__ import annotations

import datetime as dt

import pytest

from pipelines.config import PromotionPolicy, load_project
from pipelines.contracts import ChampionRef, DeltaInterval, Evaluation, FairnessResult, ModelScores, SliceScore
from pipelines.domain.policy import decide, relative_improvement

SLICES = ("Geography=France", "Geography=Germany", "Geography=Spain", "Gender=Female", "Gender=Male")


def _metrics(roc=0.85, brier=0.12):
    return {"roc_auc": roc, "pr_auc": 0.6, "brier": brier, "log_loss": 0.4, "f1": 0.6, "recall": 0.6, "accuracy": 0.85}


def _scores(roc, *, judged=SLICES, missing=(), brier=0.12):
    slices = [SliceScore(name="overall", n=2000, positives=400, judged=True, metrics=_metrics(roc, brier))]
    slices += [SliceScore(name=s, n=400 if s in judged else 40, positives=80 if s in judged else 8, judged=s in judged,
                          metrics=_metrics(roc, brier)) for s in SLICES if s not in missing]
    return ModelScores(metrics=_metrics(roc, brier), slices=slices)


def _iv(metric, slice_name, delta, half):
    return DeltaInterval(metric=metric, slice=slice_name, n=400, delta=delta, ci_low=delta - half, ci_high=delta + half, confidence=0.95,
                         resamples=1000)


def report(chal=0.85, champ: float | None = None, *, half=0.01, slice_delta=0.0, slice_half=0.03, judged=SLICES, missing=(),
           champion_judged=SLICES, groups=("France", "Germany", "Spain"), brier_delta=0.0):
    models = {"challenger": _scores(chal, judged=judged, missing=missing), "baseline": _scores(0.5, brier=0.16)}
    intervals, ref = [], None
    if champ is not None:
        models["champion"] = _scores(champ, judged=judged, missing=missing)
        ref = ChampionRef(version="1", run_id="r1", as_of="2026-01-01", judged_slices=["overall", *champion_judged])
        intervals = [_iv("roc_auc", "overall", chal - champ, half), _iv("brier", "overall", brier_delta, 0.004)]
        intervals += [_iv("roc_auc", s.name, slice_delta, slice_half) for s in models["challenger"].slices if s.judged and s.name != "overall"]
    fair = [FairnessResult(feature="Geography", selection_rates={g: 0.2 for g in groups}, group_sizes={g: 400 for g in groups},
                           judged_groups=list(groups), disparate_impact=0.9),
            FairnessResult(feature="Gender", selection_rates={"Female": 0.2, "Male": 0.2}, group_sizes={"Female": 900, "Male": 1100},
                           judged_groups=["Female", "Male"], disparate_impact=0.9)]
    return Evaluation(project="bankchurn", as_of=dt.date(2026, 2, 1), run_id="r2", data_hash="h", primary_metric="roc_auc",
                      higher_is_better=True, test_rows=2000, comparison_rows=2000, champion=ref, models=models, intervals=intervals,
                      fairness=fair)


def with_policy(cfg, **changes):
    return cfg.model_copy(update={"promotion": PromotionPolicy.model_validate({**cfg.promotion.model_dump(), **changes})})


def test_first_model_promoted_and_change_thresholds_skipped(cfg):
    d = decide(cfg, report())
    assert d.decision == "promoted" and d.promote and d.promotion_checks == "passed"
    skipped = [c for c in d.checks if c.kind == "change"]
    assert len(skipped) == 1 and skipped[0].skipped and "first model" in skipped[0].detail


def test_equal_models_within_the_noise_are_non_inferior(cfg):
    d = decide(cfg, report(0.849, 0.850, half=0.012))
    assert d.decision == "promoted", d.reason
    assert "non-inferior by the interval" in d.reason and "[-0.0130, +0.0110]" in d.reason


def test_a_model_worse_beyond_the_margin_is_kept_out(cfg):
    d = decide(cfg, report(0.82, 0.85, half=0.008))
    assert d.decision == "kept_champion" and "not non-inferior" in d.reason
    c = next(c for c in d.checks if c.name == "change:overall:roc_auc")
    assert not c.passed and c.value == pytest.approx(-0.038) and c.rule == "non_inferiority"


def test_a_point_delta_inside_the_margin_but_an_interval_below_it_fails(cfg):
    """Old rule: -0.005 >= -0.02 passes on the point estimate. The interval says it may be far worse."""
    d = decide(cfg, report(0.845, 0.850, half=0.04))
    assert d.decision == "kept_champion" and "CI [-0.0450, +0.0350]" in d.reason


def test_superiority_demands_a_gain_beyond_the_noise(cfg):
    sup = with_policy(cfg, change_thresholds=[{"metric": "roc_auc", "mode": "superiority", "margin": 0.0}])
    assert decide(sup, report(0.86, 0.85, half=0.005)).decision == "promoted"
    assert decide(sup, report(0.86, 0.85, half=0.02)).decision == "kept_champion"


def test_point_mode_still_available(cfg):
    point = with_policy(cfg, change_thresholds=[{"metric": "roc_auc", "absolute": -0.005}])
    assert decide(point, report(0.846, 0.85)).decision == "promoted"
    d = decide(point, report(0.84, 0.85))
    assert d.decision == "kept_champion" and "point estimate" in d.reason


def test_lower_is_better_intervals_flip(cfg):
    d = decide(cfg, report(0.85, 0.85, brier_delta=0.015))  # brier grew by 0.015 +- 0.004: worse beyond the 0.01 margin
    assert d.decision == "kept_champion" and "brier on overall" in d.reason


def test_a_slice_regression_blocks_promotion(cfg):
    d = decide(cfg, report(0.86, 0.85, slice_delta=-0.12))
    assert d.decision == "kept_champion" and "Geography=Germany" in d.reason


def test_a_slice_judged_for_the_champion_that_vanished_fails(cfg):
    d = decide(cfg, report(0.86, 0.85, missing=("Geography=Spain",)))
    assert d.decision == "kept_champion"
    c = next(c for c in d.checks if c.name == "slices:Geography=Spain")
    assert not c.passed and "missing from the comparison rows" in c.detail
    small = decide(cfg, report(0.86, 0.85, judged=tuple(s for s in SLICES if s != "Gender=Female")))
    assert any(c.name == "slices:Gender=Female" and not c.passed and "under the minimum" in c.detail for c in small.checks)


def test_an_optional_slice_may_vanish(cfg):
    opt = cfg.model_copy(update={"slices": cfg.slices.model_copy(update={"optional": ["Geography=*"]})})
    d = decide(opt, report(0.86, 0.85, missing=("Geography=Spain",), groups=("France", "Germany")))
    assert d.decision == "promoted", d.reason
    assert next(c for c in d.checks if c.name == "slices:Geography=Spain").skipped


def test_fairness_with_fewer_than_two_judged_groups_fails(cfg):
    d = decide(cfg, report(groups=("France",)))
    assert d.decision == "rejected" and "fairness cannot be judged" in d.reason


def test_value_thresholds_and_baseline(cfg):
    d = decide(cfg, report(chal=0.65))
    assert d.decision == "rejected" and "roc_auc on overall = 0.6500, must be >= 0.7" in d.reason
    r = report()
    r.models["baseline"].metrics["roc_auc"] = 0.84
    assert "vs dummy baseline" in decide(cfg, r).reason


def test_missing_interval_fails_closed(cfg):
    r = report(0.86, 0.85)
    r = r.model_copy(update={"intervals": [i for i in r.intervals if i.slice != "overall" or i.metric != "roc_auc"]})
    d = decide(cfg, r)
    assert d.decision == "kept_champion" and "no paired interval of roc_auc on overall" in d.reason


def test_backtest_is_a_gate():
    cfg = load_project("carvision")
    from pipelines.contracts import Backtest

    scores = ModelScores(metrics={"rmse": 3000.0, "mae": 2000.0, "r2": 0.8, "mape": 0.2, "smape": 0.2},
                         slices=[SliceScore(name="overall", n=1000, judged=True, metrics={"rmse": 3000.0, "r2": 0.8, "mape": 0.2})])
    base = ModelScores(metrics={"rmse": 9000.0, "r2": 0.0, "mape": 0.9, "mae": 7000.0, "smape": 0.8})
    ev = Evaluation(project="carvision", as_of=dt.date(2026, 2, 1), run_id="r", data_hash="h", primary_metric="rmse", higher_is_better=False,
                    test_rows=1000, comparison_rows=1000, models={"challenger": scores, "baseline": base},
                    backtest=Backtest(train_rows=4000, test_rows=1000, cutoff="2026-01-20", metrics={"r2": 0.4, "mape": 0.3}))
    d = decide(cfg, ev)
    assert d.decision == "rejected" and "r2 on backtest overall = 0.4000, must be >= 0.6" in d.reason


def test_policy_error_rejects(cfg):
    r = report(0.86, 0.85)
    r.models.pop("baseline")
    r.models["challenger"] = None  # type: ignore[assignment]
    d = decide(cfg, r)
    assert d.decision == "rejected" and d.reason.startswith("policy error") and not d.promote


def test_relative_improvement_with_zero_champion():
    assert relative_improvement(0.0, 0.0, True) == 0.0
    assert relative_improvement(1.0, 0.0, True) == float("inf")
