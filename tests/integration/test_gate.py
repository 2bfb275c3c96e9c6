"""The gate on a fair comparison set, failing closed on registry errors, with the threshold inside the
registered model (issue: champion/challenger on rows neither model trained on)."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest
from mlflow.exceptions import MlflowException

from pipelines.config import load_project
from pipelines.contracts import Evaluation, RunSpec, names
from pipelines.steps.evaluate import step_evaluate
from pipelines.steps.extract import load_snapshot, step_extract
from pipelines.steps.feed import feed_synthetic
from pipelines.steps.pipeline import run_all
from pipelines.steps.register import step_register
from pipelines.steps.train import step_train
from pipelines.steps.validate import step_validate
from tests.conftest import small

pytestmark = pytest.mark.integration
D = dt.date


def _spec(day: D, **kw) -> RunSpec:
    return RunSpec(project="bankchurn", as_of=day, interval_start=day - dt.timedelta(days=2), n_trials=2, window_days=20, **kw)


def test_four_consecutive_runs_never_compare_on_rows_the_champion_trained_on(res, lake, cfg):
    c = small(cfg, n_trials=2)
    feed_synthetic(lake, c, D(2026, 1, 1), D(2026, 1, 30), rows_per_day=220, seed=8)
    overlaps = []
    for day in (D(2026, 1, 24), D(2026, 1, 26), D(2026, 1, 28), D(2026, 1, 30)):
        out = run_all(res, c, _spec(day))
        ev = Evaluation.from_json(lake.get_json(lake.key_of(out["evaluate"].evaluation_uri)))
        if ev.champion is None:
            continue
        test = load_snapshot(lake, out["extract"].test_uri)
        champ_train = load_snapshot(lake, ev.champion.train_uri)
        champ_window = set(load_snapshot(lake, champ_train_window_uri(res, ev))["_row_key"])
        shared = set(test["_row_key"]) & set(champ_train["_row_key"])
        assert shared == set() and ev.excluded_seen_by_champion == 0 and ev.comparison_rows == ev.test_rows == len(test)
        overlaps.append(len(set(test["_row_key"]) & champ_window))  # the windows DO overlap: only the split keeps them apart
        assert ev.fresh is not None and ev.fresh.n > 0  # rows the champion could not have seen, reported on their own line
    assert len(overlaps) >= 2 and min(overlaps) > 100


def champ_train_window_uri(res, ev: Evaluation) -> str:
    v = res.registry.version("bankchurn", ev.champion.version)
    return res.registry.run(v.run_id).tags[names.TRAIN_URI].replace("train.parquet", "window.parquet")


def _down(*a, **k):
    raise MlflowException("connection refused: the registry at 127.0.0.1:5000 is down", error_code="TEMPORARILY_UNAVAILABLE")


def test_a_registry_read_error_fails_the_task_and_moves_nothing(res, lake, cfg, monkeypatch):
    c = small(cfg, n_trials=2)
    feed_synthetic(lake, c, D(2026, 1, 1), D(2026, 1, 30), rows_per_day=220, seed=9)
    run_all(res, c, _spec(D(2026, 1, 26)))  # v1 champion
    before = res.registry.aliases("bankchurn")
    spec = _spec(D(2026, 1, 30))
    ex = step_extract(res, c, spec)
    tr = step_train(res, c, spec, ex, step_validate(res, c, spec, ex))

    monkeypatch.setattr(res.registry.client, "get_registered_model", _down)  # only the alias read fails
    with pytest.raises(MlflowException, match="connection refused"):
        step_evaluate(res, c, spec, ex, tr)  # NOT "no champion": the task fails and Airflow retries it
    monkeypatch.undo()
    evd = step_evaluate(res, c, spec, ex, tr)  # the retry
    assert evd.champion_version == before[names.CHAMPION]

    monkeypatch.setattr(res.registry.client, "get_registered_model", _down)
    with pytest.raises(MlflowException, match="connection refused"):
        step_register(res, c, spec, ex, tr, evd)
    monkeypatch.undo()
    assert res.registry.aliases("bankchurn") == before  # nothing moved
    pending = [v for v in res.registry.client.search_model_versions("name = 'bankchurn'") if v.tags.get(names.DECISION) == "pending"]
    assert [str(v.version) for v in pending] == ["2"] and not any(a == "2" for a in before.values())  # visibly undecided, no alias
    reg = step_register(res, c, spec, ex, tr, evd)  # the retry decides normally
    assert reg.version == "2" and reg.decision in ("promoted", "kept_champion")
    assert res.registry.version("bankchurn", "2").tags[names.DECISION] == reg.decision
    assert res.registry.version("bankchurn", "2").tags[names.CHAMPION_AT_DECISION] == before[names.CHAMPION]


@pytest.mark.parametrize("project", ["bankchurn", "telecom"])
def test_pyfunc_serving_and_evaluation_give_the_same_labels(project, res, lake, monkeypatch):
    import mlflow.pyfunc
    from fastapi.testclient import TestClient

    from pipelines.config.settings import ServingSettings
    from pipelines.domain.evaluate import model_threshold
    from pipelines.serving import create_app

    cfg = small(load_project(project), n_trials=2)
    feed_synthetic(lake, cfg, D(2026, 1, 1), D(2026, 1, 20), rows_per_day=300 if project == "bankchurn" else 150, seed=4)
    out = run_all(res, cfg, RunSpec(project=project, as_of=D(2026, 1, 21), n_trials=2, window_days=20))
    assert out["register"].decision == "promoted", out["register"]
    rows = load_snapshot(lake, out["extract"].test_uri).head(200)
    X = rows[cfg.input_columns]

    monkeypatch.setenv("MLFLOW_TRACKING_URI", res.settings.mlflow_tracking_uri)  # what a user of mlflow.pyfunc does
    # MLflow's own loaders trust the artifact's skops list, so MLflow refuses them unless told to (the project keeps that
    # off); a user loading their own registry's model with pyfunc opts in explicitly. Our loaders never need it.
    monkeypatch.setenv("MLFLOW_ALLOW_PICKLE_DESERIALIZATION", "true")
    pyfunc = mlflow.pyfunc.load_model(f"models:/{project}@champion").predict(X)
    safe = res.load_model(f"models:/{project}/{out['register'].version}")
    p = safe.predict_proba(X)[:, 1]
    evaluation = (p >= model_threshold(safe)).astype(int)  # how evaluate labels rows
    settings = dataclasses.replace(res.settings, serving=ServingSettings(projects=[project], api_token="t", poll_seconds=3600))
    with TestClient(create_app(settings, res=res), headers={"Authorization": "Bearer t"}) as client:
        records = [{k: (None if v != v else v) for k, v in r.items()} for r in X.to_dict("records")]
        served = [p["label"] for p in client.post(f"/v1/{project}/predict_batch", json={"records": records}).json()["predictions"]]
    assert list(map(int, pyfunc)) == list(evaluation) == served
    assert 0 < sum(served) < len(served)  # the threshold matters on these rows
