"""Champion/challenger scenarios through the real evaluate and register steps (MLflow sqlite, lake
folder), with models built to be better, worse, or better overall but worse on one slice; the CLI's
rollback / compare / promote; two registers racing through the lock."""

from __future__ import annotations

import datetime as dt
import threading

import numpy as np
import pytest
from sklearn.frozen import FrozenEstimator
from sklearn.model_selection import FixedThresholdClassifier

from pipelines.contracts import Evaluation, RunSpec, Trained, names
from pipelines.domain.estimators import build_pipeline
from pipelines.steps.evaluate import step_evaluate
from pipelines.steps.extract import extract, load_snapshot
from pipelines.steps.feed import feed_synthetic
from pipelines.steps.register import step_register
from tests.conftest import small

pytestmark = pytest.mark.integration
AS_OF = dt.date(2026, 1, 31)
GOOD_LGBM = {"n_estimators": 200, "learning_rate": 0.05, "num_leaves": 15, "min_child_samples": 30}


@pytest.fixture
def world(res, lake, cfg):
    c = small(cfg, resamples=300)
    feed_synthetic(lake, c, dt.date(2026, 1, 1), dt.date(2026, 1, 30), rows_per_day=300, seed=11)
    ex = extract(lake, c, AS_OF)
    return {"ex": ex, "train": load_snapshot(lake, ex.train_uri), "lake": lake, "cfg": c, "res": res}


def _model(w, kind: str):
    cfg, train = w["cfg"], w["train"].copy()
    rng = np.random.default_rng(0)
    X = lambda d: d[cfg.input_columns]  # noqa: E731
    if kind == "weak":  # few rows, shallow trees: a passable incumbent that LightGBM beats on every slice
        train = train.sample(400, random_state=1)
        pipe = build_pipeline(cfg, "random_forest", {"max_depth": 2, "n_estimators": 50}, 0).fit(X(train), train[cfg.target])
    elif kind == "worse":
        train = train.sample(150, random_state=2)
        pipe = build_pipeline(cfg, "logistic_regression", {"C": 1.0}, 0).fit(X(train), rng.permutation(train[cfg.target].to_numpy()))
    else:
        if kind == "germany_broken":  # strong everywhere except Germany, whose labels it never saw
            de = train["Geography"] == "Germany"
            train.loc[de, cfg.target] = rng.permutation(train.loc[de, cfg.target].to_numpy())
        if kind == "good_small":
            train = train.sample(2500, random_state=3)
        pipe = build_pipeline(cfg, "lightgbm", GOOD_LGBM, 0).fit(X(train), train[cfg.target])
    return FixedThresholdClassifier(FrozenEstimator(pipe), threshold=0.3, response_method="predict_proba").fit(X(train), train[cfg.target])


def _challenger(w, kind: str, key: str) -> tuple[RunSpec, Trained]:
    res, cfg = w["res"], w["cfg"]
    run_id = res.registry.start_run(cfg.name, key, {names.THRESHOLD: "0.3", names.TRAIN_URI: w["ex"].train_uri})
    uri = res.registry.log_model(run_id, cfg.name, _model(w, kind), w["train"][cfg.input_columns].head(5), res.allowed_model_types)
    tr = Trained(run_id=run_id, experiment_id=res.registry.experiment_id(cfg.name), model_uri=uri, fingerprint=key, family=kind, threshold=0.3)
    return RunSpec(project=cfg.name, as_of=AS_OF, run_id=key), tr


def _evaluate_register(w, spec, tr):
    ev = step_evaluate(w["res"], w["cfg"], spec, w["ex"], tr)
    return ev, step_register(w["res"], w["cfg"], spec, w["ex"], tr, ev)


def test_better_promoted_worse_and_slice_regressions_not_then_rollback(world, capsys):
    w, reg = world, world["res"].registry
    assert _evaluate_register(w, *_challenger(w, "weak", "a"))[1].champion == "1"
    r2 = _evaluate_register(w, *_challenger(w, "good", "b"))[1]  # better: promoted, old champion -> previous
    assert r2.decision == "promoted" and r2.champion == "2" and reg.aliases("bankchurn")[names.PREVIOUS] == "1"
    r3 = _evaluate_register(w, *_challenger(w, "worse", "c"))[1]
    assert r3.decision == "rejected" and r3.champion == "2" and reg.aliases("bankchurn")[names.CHALLENGER] == "3"

    ev, r4 = _evaluate_register(w, *_challenger(w, "germany_broken", "d"))
    report = Evaluation.from_json(w["lake"].get_json(w["lake"].key_of(ev.evaluation_uri)))
    m = {k: {s.name: s.metrics.get("roc_auc") for s in v.slices} for k, v in report.models.items()}
    assert m["challenger"]["Geography=Germany"] < m["champion"]["Geography=Germany"] - 0.05
    assert r4.decision in ("kept_champion", "rejected") and r4.champion == "2"
    tags = reg.version("bankchurn", r4.version).tags
    assert "Geography=Germany" in tags[names.DECISION_REASON] and tags[names.PROMOTION_CHECKS] == "failed"

    for v in ("1", "2", "3", "4"):  # every version: its decision in tags, lake and MLflow, and as its description
        mv = reg.client.get_model_version("bankchurn", v)
        assert {names.DECISION, names.DECISION_REASON, names.PROMOTION_CHECKS, names.DECISION_URI} <= set(mv.tags)
        assert {a.path for a in reg.client.list_artifacts(mv.run_id, "decision")} >= {"decision/decision.md", "decision/model_card.md"}
        assert mv.description and "Promotion checks" in mv.description

    from pipelines.cli import main

    assert main(["rollback", "bankchurn", "--reason", "test rollback", "--by", "ci"]) == 0
    assert reg.aliases("bankchurn")[names.CHAMPION] == "1" and reg.aliases("bankchurn")[names.PREVIOUS] == "2"
    assert reg.version("bankchurn", "2").tags["rollback_reason"] == "test rollback" and w["lake"].list("governance/bankchurn/")
    assert main(["compare", "bankchurn", "--a", "champion", "--b", "previous"]) == 0
    out = capsys.readouterr().out
    assert "champion v1 (a) vs previous v2 (b)" in out and "Geography=Germany" in out and "[" in out
    assert main(["promote", "bankchurn", "--version", "2", "--reason", "undo rollback", "--by", "ci"]) == 0
    assert reg.aliases("bankchurn")[names.CHAMPION] == "2" and reg.version("bankchurn", "2").tags["manual_promotion_by"] == "ci"
    assert main(["rollback", "nope"]) == 2


def test_concurrent_registers_compare_and_set(world):
    """Two challengers both evaluated against v1, registering at the same time: the second to take
    the lock must be re-scored against the first, never promoted blindly over it."""
    w, reg = world, world["res"].registry
    _evaluate_register(w, *_challenger(w, "weak", "a"))
    runs = [_challenger(w, "good", "b"), _challenger(w, "good_small", "c")]
    evals = [step_evaluate(w["res"], w["cfg"], spec, w["ex"], tr) for spec, tr in runs]
    assert all(e.champion_version == "1" for e in evals)
    results: list = [None, None]
    errors: list = []

    def go(i):
        try:
            results[i] = step_register(w["res"], w["cfg"], runs[i][0], w["ex"], runs[i][1], evals[i])
        except Exception as e:  # reported below
            errors.append(e)

    threads = [threading.Thread(target=go, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(300)
    assert not errors, errors
    champion = reg.aliases("bankchurn")[names.CHAMPION]
    tags = {r.version: reg.version("bankchurn", r.version).tags for r in results}
    against = sorted(t[names.CHAMPION_AT_DECISION] for t in tags.values())
    assert "1" in against and against != ["1", "1"], against  # the second decided against the first's outcome
    assert tags[champion][names.DECISION] == "promoted"
    other = next(v for v in tags if v != champion)
    if tags[champion][names.CHAMPION_AT_DECISION] == other:
        assert tags[champion][names.PROMOTION_CHECKS] == "passed"
    else:
        assert tags[other][names.CHAMPION_AT_DECISION] == champion and tags[other][names.DECISION] != "promoted"
