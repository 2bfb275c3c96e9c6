"""Champion/challenger scenarios through the real evaluate and register steps (MLflow sqlite, lake
folder), with models built to be better, worse, or better overall but worse on one slice."""

from __future__ import annotations

import datetime as dt
import threading

import numpy as np
import pytest

from pipelines import tracking
from pipelines.extract import extract
from pipelines.feed import feed_synthetic
from pipelines.steps import RunContext, step_evaluate, step_register
from pipelines.train import build_pipeline

pytestmark = pytest.mark.integration
AS_OF = dt.date(2026, 1, 31)
GOOD_LGBM = {"n_estimators": 200, "learning_rate": 0.05, "num_leaves": 15, "min_child_samples": 30}


@pytest.fixture
def world(home, lake, cfg):
    feed_synthetic(lake, cfg, dt.date(2026, 1, 1), dt.date(2026, 1, 30), rows_per_day=250, seed=11)
    ext = extract(lake, cfg, AS_OF).to_dict()
    train = lake.get_parquet(lake.key_of(ext["train_uri"]))
    return {"ext": ext, "train": train, "lake": lake, "cfg": cfg}


def _model(w, kind: str):
    cfg, train = w["cfg"], w["train"].copy()
    rng = np.random.default_rng(0)
    if kind == "weak":  # few rows, shallow trees: a passable incumbent that LightGBM beats on every slice
        train = train.sample(400, random_state=1)
        return build_pipeline(cfg, "random_forest", {"max_depth": 2, "n_estimators": 50}, 0).fit(train[cfg.features], train[cfg.target])
    if kind == "worse":
        train = train.sample(150, random_state=2)
        y = rng.permutation(train[cfg.target].to_numpy())
        return build_pipeline(cfg, "logistic_regression", {"C": 1.0}, 0).fit(train[cfg.features], y)
    if kind == "germany_broken":  # strong everywhere except Germany, whose labels it never saw
        de = train["Geography"] == "Germany"
        train.loc[de, cfg.target] = rng.permutation(train.loc[de, cfg.target].to_numpy())
    if kind == "good_small":
        train = train.sample(2500, random_state=3)
    return build_pipeline(cfg, "lightgbm", GOOD_LGBM, 0).fit(train[cfg.features], train[cfg.target])


def _challenger(w, kind: str, key: str) -> tuple[RunContext, dict]:
    cfg = w["cfg"]
    model = _model(w, kind)
    logged = tracking.log_training(cfg.name, f"{cfg.name}/{key}", key, model, w["train"][cfg.features].head(5),
                                   {"family": kind}, {}, {"mlops.threshold": "0.3", "mlops.train_uri": w["ext"]["train_uri"]})
    ctx = RunContext(project=cfg.name, as_of=AS_OF, run_id=key)
    trained = {"run_id": logged.run_id, "model_uri": logged.model_uri, "threshold": 0.3, "family": kind}
    return ctx, trained


def _evaluate_register(w, ctx, trained):
    ev = step_evaluate(ctx, w["ext"], trained)
    return ev, step_register(ctx, w["ext"], trained, ev)


def _decision(w, version):
    return w["lake"].get_json(f"runs/bankchurn/{AS_OF}/decision.json") if version is None else tracking.version_tags("bankchurn", version)


def test_better_promoted_worse_and_slice_regressions_not_then_rollback(world, capsys):
    w = world
    r1 = _evaluate_register(w, *_challenger(w, "weak", "a"))[1]
    assert r1["decision"] == "promoted" and r1["champion"] == "1"

    r2 = _evaluate_register(w, *_challenger(w, "good", "b"))[1]  # better: promoted, old champion -> previous
    assert r2["decision"] == "promoted" and r2["champion"] == "2"
    assert tracking.alias_version("bankchurn", "previous").version == "1"

    r3 = _evaluate_register(w, *_challenger(w, "worse", "c"))[1]
    assert r3["decision"] == "rejected" and r3["champion"] == "2"

    ctx, trained = _challenger(w, "germany_broken", "d")
    ev, r4 = _evaluate_register(w, ctx, trained)
    report = w["lake"].get_json(w["lake"].key_of(ev["evaluation_uri"]))
    m = {k: {s["slice"]: s["roc_auc"] for s in v["slices"]} for k, v in report["models"].items()}
    assert m["challenger"]["Geography=France"] >= m["champion"]["Geography=France"] - 0.02
    assert m["challenger"]["Geography=Germany"] < m["champion"]["Geography=Germany"] - 0.03
    assert r4["decision"] in ("kept_champion", "rejected") and r4["champion"] == "2"
    tags = tracking.version_tags("bankchurn", r4["version"])
    assert "Geography=Germany" in tags["decision_reason"] and tags["validation_status"] == "failed"

    # every version has decision.json, decision.md, a model card and tags
    c = tracking.client()
    for v in ("1", "2", "3", "4"):
        mv = c.get_model_version("bankchurn", v)
        assert {"decision", "decision_reason", "validation_status"} <= set(mv.tags)
        names = {a.path for a in c.list_artifacts(mv.run_id)}
        assert {"decision.json", "decision.md", "model_card.md"} <= names, names

    # rollback: champion <- previous, recorded; compare prints the side-by-side table
    from pipelines.cli import main

    assert main(["rollback", "bankchurn", "--reason", "test rollback", "--by", "ci"]) == 0
    assert tracking.alias_version("bankchurn", "champion").version == "1"
    assert tracking.alias_version("bankchurn", "previous").version == "2"
    assert tracking.version_tags("bankchurn", "2")["rollback_reason"] == "test rollback"
    assert w["lake"].list("governance/bankchurn/")
    assert main(["compare", "bankchurn", "--a", "champion", "--b", "previous"]) == 0
    out = capsys.readouterr().out
    assert "champion v1 (a) vs previous v2 (b)" in out and "Geography=Germany" in out and "[" in out
    assert main(["promote", "bankchurn", "--version", "2", "--reason", "undo rollback", "--by", "ci"]) == 0
    assert tracking.alias_version("bankchurn", "champion").version == "2"
    assert tracking.version_tags("bankchurn", "2")["manual_promotion_by"] == "ci"
    assert main(["rollback", "nope"]) == 2


def test_concurrent_registers_compare_and_set(world):
    """Two challengers both evaluated against v1, registering at the same time: the second to take
    the lock must be re-scored against the first, never promoted blindly over it."""
    w = world
    _evaluate_register(w, *_challenger(w, "weak", "a"))
    runs = [_challenger(w, "good", "b"), _challenger(w, "good_small", "c")]
    evals = [step_evaluate(ctx, w["ext"], tr) for ctx, tr in runs]
    assert all(e["champion_version"] == "1" for e in evals)
    results: list = [None, None]
    errors: list = []

    def go(i):
        try:
            results[i] = step_register(runs[i][0], w["ext"], runs[i][1], evals[i])
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=go, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(300)
    assert not errors, errors
    champion = tracking.alias_version("bankchurn", "champion").version
    by_version = {r["version"]: r for r in results}
    tags = {v: tracking.version_tags("bankchurn", v) for v in by_version}
    # exactly one of the two decided against v1, the other against whatever champion it found
    against = sorted(t["champion_at_decision"] for t in tags.values())
    assert "1" in against and against != ["1", "1"], against
    # the champion never lost its last comparison: if it was decided against the other, it passed it
    assert tags[champion]["decision"] == "promoted"
    other = next(v for v in by_version if v != champion)
    if tags[champion]["champion_at_decision"] == other:
        assert tags[champion]["validation_status"] == "passed"
    else:
        assert tags[other]["champion_at_decision"] == champion and tags[other]["decision"] != "promoted"
