from __future__ import annotations

import copy

from pipelines.policy import decide


def _m(roc, pr=0.6):
    return {"roc_auc": roc, "pr_auc": pr, "f1": 0.6}


def report(chal=0.85, base=0.5, champ=None, slices=None, champ_slices=None):
    r = {
        "champion_version": "1" if champ is not None else None,
        "models": {
            "challenger": {"metrics": _m(chal), "slices": slices or [{"slice": "overall", "n": 999, "judged": True, "roc_auc": chal}]},
            "baseline": {"metrics": _m(base, 0.2), "slices": []},
        },
    }
    if champ is not None:
        r["models"]["champion"] = {"metrics": _m(champ), "slices": champ_slices or [{"slice": "overall", "n": 999, "judged": True, "roc_auc": champ}]}
    return r


def test_first_model_promoted_when_floors_and_baseline_pass(cfg):
    d = decide(cfg, report())
    assert d.decision == "promoted" and d.promote and d.champion_version is None
    assert {c.name for c in d.checks} == {"floor:roc_auc", "floor:pr_auc", "beats_baseline:roc_auc"}


def test_floor_failure_rejects(cfg):
    d = decide(cfg, report(chal=0.65))
    assert d.decision == "rejected" and not d.promote and "roc_auc 0.6500 >= 0.7" in d.reason


def test_missing_metric_fails_closed(cfg):
    r = report()
    del r["models"]["challenger"]["metrics"]["pr_auc"]
    d = decide(cfg, r)
    assert d.decision == "rejected" and "pr_auc is missing" in d.reason


def test_not_beating_baseline_rejects(cfg):
    d = decide(cfg, report(chal=0.72, base=0.70))
    assert d.decision == "rejected" and "baseline" in d.reason


def test_vs_champion_tolerance(cfg):
    assert decide(cfg, report(chal=0.847, champ=0.85)).decision == "promoted"  # within 0.005
    d = decide(cfg, report(chal=0.84, champ=0.85))
    assert d.decision == "kept_champion" and "tolerance 0.005" in d.reason and not d.promote


def test_regressing_judged_slice_blocks_but_small_slice_does_not(cfg):
    chal = [{"slice": "overall", "n": 999, "judged": True, "roc_auc": 0.86},
            {"slice": "Geography=Germany", "n": 300, "judged": True, "roc_auc": 0.70},
            {"slice": "Geography=Spain", "n": 20, "judged": False, "roc_auc": 0.50}]
    champ = copy.deepcopy(chal)
    champ[1]["roc_auc"], champ[2]["roc_auc"] = 0.80, 0.90
    d = decide(cfg, report(chal=0.86, champ=0.85, slices=chal, champ_slices=champ))
    assert d.decision == "kept_champion" and "Geography=Germany" in d.reason[:300] or "0.7000" in d.reason
    chal[1]["roc_auc"] = 0.79  # within slice tolerance 0.03; Spain too small to judge
    assert decide(cfg, report(chal=0.86, champ=0.85, slices=chal, champ_slices=champ)).decision == "promoted"


def test_malformed_report_is_rejected_not_raised(cfg):
    d = decide(cfg, {"models": {}})
    assert d.decision == "rejected" and "policy error" in d.reason
