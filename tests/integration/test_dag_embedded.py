"""The whole bankchurn DAG through Airflow's dag.test() on the embedded default (folder, sqlite)."""

from __future__ import annotations

import datetime as dt
import json

import pendulum
import pytest

from pipelines.contracts import Evaluation, Extracted, layout, names
from pipelines.steps.feed import feed_synthetic

pytestmark = pytest.mark.integration


def _run(dag, day: int, **conf):
    return dag.test(logical_date=pendulum.datetime(2026, 1, day, tz="UTC"), run_conf={"n_trials": 3, **conf})


def _artifacts(client, run_id: str, path: str = "") -> set[str]:
    out = set()
    for f in client.list_artifacts(run_id, path or None):
        out |= _artifacts(client, run_id, f.path) if f.is_dir else {f.path}
    return out


def _extract(lake, day: str) -> Extracted:
    [key] = [k for k in lake.list(f"runs/bankchurn/{day}/") if k.endswith("extract.json")]
    return Extracted.from_json(lake.get_json(key))


def test_two_runs_then_rerun_then_bad_partition(res, lake, cfg, training_dags):
    dag, reg = training_dags["bankchurn_training"], res.registry
    feed_synthetic(lake, cfg, dt.date(2026, 1, 1), dt.date(2026, 1, 30), rows_per_day=250, seed=5)

    # --- run 1: first model becomes champion -------------------------------------------------
    assert _run(dag, 21).state == "success"
    ex = _extract(lake, "2026-01-21")
    assert ex.window_end == dt.date(2026, 1, 20) and ex.new_rows > 0  # interval [01-19, 01-21)
    v1 = reg.alias_version("bankchurn", names.CHAMPION)
    assert v1 is not None and v1.version == "1" and v1.tags[names.DECISION] == "promoted"
    assert names.CHALLENGER not in reg.aliases("bankchurn")  # the newest version IS the champion: no challenger
    run = reg.run(v1.run_id)
    assert run.tags["dag_id"] == "bankchurn_training" and run.tags[names.AS_OF] == "2026-01-21" and run.tags["git_commit"]
    assert run.tags[names.DATA_HASH] == ex.data_hash and run.tags[names.DATA_VALIDATION] == "passed"
    assert run.status == "FINISHED" and "test_roc_auc" in run.metrics and run.tags[names.RUN_NOTE].startswith("**PROMOTED**")
    assert any(k.startswith("slice/Geography_Germany/") for k in run.metrics)
    arts = _artifacts(reg.client, v1.run_id)
    for must in ("evaluation/slices.csv", "evaluation/evaluation.json", "evaluation/comparison.html", "evaluation/slice_deltas.png",
                 "evaluation/roc_curve.png", "training/optuna_trials.csv", "training/reliability.png", "training/gx_data_docs.html",
                 "drift/drift_report.html", "drift/drift_summary.html", "decision/decision.json", "decision/decision.md",
                 "decision/model_card.md"):
        assert must in arts, (must, sorted(arts))
    inputs = reg.client.get_run(v1.run_id).inputs.dataset_inputs
    assert {d.dataset.name.split("-")[1] for d in inputs} == {"train", "test"} and ex.train_uri in inputs[0].dataset.source + inputs[1].dataset.source
    mv = reg.client.get_model_version("bankchurn", "1")
    assert mv.description.startswith("**PROMOTED**") and "# Model card: bankchurn v1" in mv.description

    # --- run 2: faces the champion on rows neither trained on ----------------------------------
    assert _run(dag, 23).state == "success"
    v2 = reg.version("bankchurn", "2")
    assert v2.tags[names.DECISION] in ("promoted", "kept_champion") and v2.tags[names.DECISION_REASON]
    assert v2.tags[names.CHAMPION_AT_DECISION] == "1" and v2.tags[names.DECISION_STATE] == "applied"
    ev = Evaluation.from_json(lake.get_json(lake.key_of(v2.tags[names.EVALUATION_URI])))
    assert ev.champion_version == "1" and ev.interval("roc_auc") is not None and ev.excluded_seen_by_champion == 0
    champ = reg.aliases("bankchurn")[names.CHAMPION]
    if v2.tags[names.DECISION] == "promoted":
        assert champ == "2" and reg.aliases("bankchurn")[names.PREVIOUS] == "1"
    else:
        assert champ == "1" and reg.aliases("bankchurn")[names.CHALLENGER] == "2"

    # --- the decision is replayable from the UI: the shipped policy flips nothing, registry untouched
    assert ev.scores_uri and ev.comparison_first and ev.mde is not None
    aliases_before = reg.aliases("bankchurn")
    replay_dag = training_dags["bankchurn_policy_replay"]
    assert replay_dag.test(run_conf={"policy": replay_dag.params["policy"], "since": ""}).state == "success"
    [report_key] = [k for k in lake.list("governance/bankchurn/") if "policy-replay" in k]
    assert "**0 flips**" in lake.get_bytes(report_key).decode() and reg.aliases("bankchurn") == aliases_before

    # --- the outcomes DAG judges the champion's served predictions on outcomes that arrived later --
    _served_then_judged(res, lake, cfg, training_dags["bankchurn_outcomes"], reg.aliases("bankchurn")[names.CHAMPION])

    # --- rerun of the same date: no duplicate version, nothing decided twice --------------------
    assert _run(dag, 23).state == "success"
    assert sorted(v.version for v in reg.versions_of_run("bankchurn", v2.run_id)) == ["2"]
    assert len(reg.client.search_model_versions("name = 'bankchurn'")) == 2
    assert lake.list(layout.decision_prefix("bankchurn", "2")) == [f"decisions/bankchurn/v2/{n}" for n in
                                                                   ("decision-1.json", "decision.md", "model_card.md")]

    # --- a corrupted partition: fails at validate, registers nothing, champion stays ----------
    bad = lake.get_parquet("raw/bankchurn/dt=2026-01-24/part-0000.parquet")
    bad.loc[bad.index[:5], "Geography"] = "Atlantis"
    bad.loc[bad.index[5], "Age"] = -3
    lake.put_parquet("raw/bankchurn/dt=2026-01-24/part-0000.parquet", bad)
    assert _run(dag, 25).state == "failed"
    [key] = [k for k in lake.list("runs/bankchurn/2026-01-25/") if k.endswith("validation/validation.json")]
    report = lake.get_json(key)
    failed = {r["expectation_config"]["type"] + ":" + str(r["expectation_config"]["kwargs"].get("column")) for r in report["results"]
              if not r["success"]}
    assert {"expect_column_values_to_be_in_set:Geography", "expect_column_values_to_be_between:Age"} <= failed
    assert len(reg.client.search_model_versions("name = 'bankchurn'")) == 2
    assert reg.aliases("bankchurn")[names.CHAMPION] == champ and not reg.find_runs("bankchurn", "bankchurn/2026-01-25")
    alerts = [json.loads(lake.get_bytes(k)) for k in lake.list("alerts/bankchurn/")]
    assert any(a["kind"] == "task_failed" and "validate" in a["message"] and "Atlantis" in a["message"] for a in alerts)


def _served_then_judged(res, lake, cfg, dag, champion: str) -> None:
    """The champion 'served' partition 01-20 (prediction log rows), those outcomes arrived 01-22; the
    run as of 01-24 joins all of them and sets them next to the version's evaluation-time estimate."""
    import io

    import numpy as np
    import pandas as pd

    from pipelines.contracts import RealizedReport
    from pipelines.steps.outcomes import import_outcomes

    raw = lake.get_parquet("raw/bankchurn/dt=2026-01-20/part-0000.parquet")
    y = raw[cfg.target].to_numpy()
    p = 1 / (1 + np.exp(-(2.0 * y - 1.0 + np.random.default_rng(0).normal(0, 1.0, len(y)))))
    log = pd.DataFrame({"timestamp": "2026-01-20T09:00:00+00:00", "request_id": "r", "record_id": raw[cfg.id_column].astype(str),
                        "model_version": champion, "arm": "champion", "probability": p, "label": (p >= 0.5).astype(float),
                        "prediction": np.nan})
    buf = io.BytesIO()
    log.to_parquet(buf, index=False)
    lake.put_bytes(layout.prediction_key("bankchurn", "2026-01-20", "t"), buf.getvalue(), overwrite=False)
    import_outcomes(lake, cfg, raw[[cfg.id_column, cfg.target]], dt.date(2026, 1, 22), res.settings.expectations_dir)
    assert dag.test(logical_date=pendulum.datetime(2026, 1, 24, tz="UTC")).state == "success"
    rep = RealizedReport.from_json(lake.get_json(layout.realized_key("bankchurn", dt.date(2026, 1, 24), "json")))
    assert rep.counts.matched == len(raw) and rep.counts.predictions == len(raw) and rep.champion == champion
    [mine] = rep.versions
    assert mine.estimate is not None and 0.5 < mine.estimate <= 1.0  # read from the version's recorded evaluation
    # scores with AUC ~0.92 on >= 200 outcomes: judged, not below the estimate by more than 0.04
    assert not rep.decayed and "within the rule" in rep.decay_reason and "0 breached" in rep.decay_reason, rep.decay_reason
