"""Every threshold kind and direction, TFMA semantics: missing metric fails, first model skips
change thresholds, small slices are reported not judged, significance on and off, errors reject."""

from __future__ import annotations

import math

import pytest

from pipelines.config import ChangeThreshold, PromotionPolicy
from pipelines.policy import _change_check, decide, relative_improvement, render_markdown


def _metrics(roc=0.85, pr=0.6, brier=0.12, log_loss=0.40, recall=0.6):
    return {"roc_auc": roc, "pr_auc": pr, "brier": brier, "log_loss": log_loss, "f1": 0.6, "recall": recall, "accuracy": 0.85}


def _slices(roc, *, germany=None, spain_n=300, recall=(0.6, 0.62), log_loss=0.40):
    return [
        {"slice": "overall", "n": 2000, "judged": True, **_metrics(roc, log_loss=log_loss)},
        {"slice": "Geography=Germany", "n": 500, "judged": True, **_metrics(germany if germany is not None else roc, recall=recall[0])},
        {"slice": "Geography=France", "n": 1000, "judged": True, **_metrics(roc, recall=recall[1])},
        {"slice": "Geography=Spain", "n": spain_n, "judged": spain_n >= 50, **_metrics(roc - 0.2 if spain_n < 50 else roc)},
    ]


def report(chal=0.85, champ=None, *, germany=None, champ_germany=None, spain_n=300, di=0.9, ci=None, log_loss=0.40):
    r = {
        "champion_version": "1" if champ is not None else None,
        "models": {
            "challenger": {"metrics": _metrics(chal, log_loss=log_loss), "slices": _slices(chal, germany=germany, spain_n=spain_n, log_loss=log_loss)},
            "baseline": {"metrics": _metrics(0.5, 0.2, 0.16, 0.5), "slices": []},
        },
        "fairness": [{"feature": "Geography", "disparate_impact": di, "judged_groups": ["France", "Germany", "Spain"]},
                     {"feature": "Gender", "disparate_impact": di, "judged_groups": ["Female", "Male"]}],
    }
    if champ is not None:
        r["models"]["champion"] = {"metrics": _metrics(champ), "slices": _slices(champ, germany=champ_germany)}
        d = chal - champ
        lo, hi = ci if ci is not None else (d - 0.01, d + 0.01)
        r["bootstrap"] = {"metric": "roc_auc", "delta": d, "ci_low": lo, "ci_high": hi, "confidence": 0.95}
    return r


def with_policy(cfg, **changes):
    return cfg.model_copy(update={"promotion": PromotionPolicy.model_validate({**cfg.promotion.model_dump(), **changes})})


def test_first_model_promoted_and_change_thresholds_skipped(cfg):
    d = decide(cfg, report())
    assert d.decision == "promoted" and d.promote and d.validation_status == "passed"
    skipped = [c for c in d.checks if c.kind == "change"]
    assert len(skipped) == 1 and skipped[0].skipped and "first model" in skipped[0].detail


@pytest.mark.parametrize(("kwargs", "needle"), [
    ({"chal": 0.65}, "roc_auc on overall = 0.6500, must be >= 0.7"),
    ({"germany": 0.55}, "roc_auc on Geography=Germany = 0.5500, must be >= 0.6"),
])
def test_value_threshold_lower(cfg, kwargs, needle):
    d = decide(cfg, report(**kwargs))
    assert d.decision == "rejected" and needle in d.reason and d.validation_status == "failed"


def test_value_threshold_upper_bound(cfg):
    r = report()
    r["models"]["challenger"]["metrics"]["brier"] = 0.3
    r["models"]["challenger"]["slices"][0]["brier"] = 0.3
    d = decide(cfg, r)
    assert d.decision == "rejected" and "brier on overall = 0.3000, must be <= 0.2" in d.reason


def test_missing_metric_fails_closed(cfg):
    r = report()
    for s in r["models"]["challenger"]["slices"]:
        s.pop("pr_auc")
    d = decide(cfg, r)
    assert d.decision == "rejected" and "pr_auc on overall is missing" in d.reason


def test_small_slice_reported_not_judged(cfg):
    d = decide(cfg, report(spain_n=20))  # Spain's roc 0.65 is low but the slice has 20 rows
    spain = [c for c in d.checks if c.slice == "Geography=Spain"]
    assert spain and all(c.skipped and c.passed for c in spain) and d.decision == "promoted"


def test_baseline_margin(cfg):
    r = report(chal=0.72)
    r["models"]["baseline"]["metrics"]["roc_auc"] = 0.70
    d = decide(cfg, r)
    assert d.decision == "rejected" and "dummy baseline" in d.reason


def test_fairness_floor_and_gap(cfg):
    assert decide(cfg, report(di=0.2)).decision == "rejected"
    r = report()
    r["models"]["challenger"]["slices"][1]["recall"] = 0.2  # Germany recall far below France's
    d = decide(cfg, r)
    assert d.decision == "rejected" and "recall gap over Geography" in d.reason


def test_change_absolute_higher_is_better(cfg):
    assert decide(cfg, report(chal=0.847, champ=0.85)).decision == "promoted"  # -0.003 within -0.005
    d = decide(cfg, report(chal=0.84, champ=0.85))
    assert d.decision == "kept_champion" and not d.promote and "improvement -0.0100" in d.reason
    assert d.validation_status == "failed"


def test_change_per_slice_regression_blocks_promotion(cfg):
    d = decide(cfg, report(chal=0.86, champ=0.85, germany=0.78, champ_germany=0.85))
    assert d.decision == "kept_champion" and "Geography=Germany" in d.reason


def test_change_relative_lower_is_better(cfg):
    # log_loss: lower is better; relative -0.05 allows at most 5% growth.
    assert decide(cfg, report(chal=0.85, champ=0.85, log_loss=0.41)).decision == "promoted"   # +2.5%
    d = decide(cfg, report(chal=0.85, champ=0.85, log_loss=0.44))                           # +10%
    assert d.decision == "kept_champion" and "log_loss" in d.reason


def test_must_improve_positive_threshold(cfg):
    strict = with_policy(cfg, change_thresholds=[{"metric": "roc_auc", "absolute": 0.002}])
    assert decide(strict, report(chal=0.851, champ=0.85)).decision == "kept_champion"
    assert decide(strict, report(chal=0.853, champ=0.85)).decision == "promoted"


def test_relative_with_zero_champion_value():
    assert relative_improvement(0.0, 0.0, True) == 0.0
    assert relative_improvement(0.1, 0.0, True) == math.inf
    assert relative_improvement(0.1, 0.0, False) == -math.inf  # lower is better: growing from 0 is infinitely worse
    t = ChangeThreshold(metric="brier", relative=-0.05)
    assert not _change_check(t, "overall", 0.1, 0.0).passed
    assert _change_check(t, "overall", 0.0, 0.0).passed


def test_explicit_direction_overrides_metric_default():
    t = ChangeThreshold(metric="roc_auc", direction="lower_is_better", absolute=0.0)
    assert _change_check(t, "overall", 0.80, 0.85).passed and not _change_check(t, "overall", 0.90, 0.85).passed


@pytest.mark.parametrize(("ci", "expected"), [((0.001, 0.02), "promoted"), ((-0.004, 0.02), "kept_champion")])
def test_significance_on(cfg, ci, expected):
    sig = with_policy(cfg, significance={"enabled": True, "tolerance": 0.0})
    d = decide(sig, report(chal=0.86, champ=0.85, ci=ci))
    assert d.decision == expected
    assert any(c.kind == "significance" for c in d.checks)


def test_significance_off_ignores_ci(cfg):
    d = decide(cfg, report(chal=0.86, champ=0.85, ci=(-0.004, 0.02)))
    assert d.decision == "promoted" and not any(c.kind == "significance" for c in d.checks)


def test_malformed_report_is_rejected_not_raised(cfg):
    d = decide(cfg, {"models": {}})
    assert d.decision == "rejected" and "policy error" in d.reason and not d.promote


def test_policy_config_is_validated(cfg):
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="needs absolute and/or relative"):
        with_policy(cfg, change_thresholds=[{"metric": "roc_auc"}])
    with pytest.raises(ValidationError, match="unknown metric"):
        with_policy(cfg, value_thresholds=[{"metric": "auc", "lower": 0.5}])
    with pytest.raises(ValidationError, match="lower 0.9 > upper 0.5"):
        with_policy(cfg, value_thresholds=[{"metric": "roc_auc", "lower": 0.9, "upper": 0.5}])


def test_markdown_lists_every_check(cfg):
    d = decide(cfg, report(chal=0.84, champ=0.85))
    md = render_markdown(cfg, {**d.to_dict(), "version": "2", "as_of": "2026-01-01", "run_id": "r", "decided_at": "now"})
    assert "**Decision: kept_champion**" in md and md.count("\n| ") >= len(d.checks) and "**FAIL**" in md


def test_fairness_not_judged_with_fewer_than_two_large_groups(cfg):
    r = report()
    r["fairness"][0] = {"feature": "Geography", "disparate_impact": float("nan"), "judged_groups": ["France"]}
    d = decide(cfg, r)
    di = next(c for c in d.checks if c.name == "fairness:Geography:disparate_impact")
    assert di.skipped and d.decision == "promoted"
    r["fairness"] = r["fairness"][1:]  # configured but absent from the report: missing -> fails
    assert decide(cfg, r).decision == "rejected"
