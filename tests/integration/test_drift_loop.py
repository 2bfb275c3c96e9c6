"""The drift -> retrain loop (scripts/demo_drift.py) through dag.test on the embedded default."""

from __future__ import annotations

import pytest

from tests.conftest import load_script

pytestmark = pytest.mark.integration


def test_drift_detected_retrain_promoted_share_falls(home, training_dags):
    mod = load_script("demo_drift")
    facts = mod.run_scenario(training_dags, rows_per_day=600, n_trials=3, say=lambda m: None)
    assert facts["train_1"] == "success" and facts["champion_1"] == "1"
    before = {r["day"]: r for r in facts["monitor_before"]}
    drift_from = facts["drift_from"]
    # drift detected on the right day: not before DRIFT_FROM, on it and after
    assert all(r["status"] == "ok" for d, r in before.items() if d < drift_from), before
    assert all(r["status"] == "drifted" for d, r in before.items() if d >= drift_from), before
    assert facts["asset_events"] == sum(r["status"] == "drifted" for r in before.values()) >= 1
    # the early retrain: trained on the recent (drifted) window, promoted over the old champion
    assert facts["train_2"] == "success"
    assert facts["retrain_window"].startswith(drift_from), facts["retrain_window"]
    assert facts["retrain_decision"] == "promoted", facts["retrain_reason"]
    assert facts["champion_2"] == facts["retrain_version"] != facts["champion_1"]
    # and the drift share falls once the monitor compares with the new champion's reference
    worst_before = min(r["drift_share"] for d, r in before.items() if d >= drift_from)
    after = facts["monitor_after"]
    assert after and all(r["status"] == "ok" and r["drift_share"] < worst_before for r in after), after
