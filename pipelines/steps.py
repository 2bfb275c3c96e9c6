"""The pipeline's steps with their I/O: what a DAG task (or `python -m pipelines run`) calls.

Each step reads its inputs from the lake / MLflow by the small values the previous step returned
(URIs, run ids, versions), calls the plain functions in `pipelines.*`, writes its outputs keyed by
project and as-of date, and returns small JSON-able values again -- exactly what XCom carries.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipelines.config import ProjectConfig, load_project
from pipelines.storage import Lake, open_lake, run_prefix

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunContext:
    """Who is running (DAG/run ids) and for which as-of date; run-time overrides from Params."""

    project: str
    as_of: dt.date
    interval_start: dt.date | None = None
    dag_id: str = "cli"
    run_id: str = "manual"
    n_trials: int | None = None
    timeout_minutes: float | None = None
    window_days: int | None = None
    promote: bool = True
    optuna_workers: int = 1
    extra_tags: dict[str, str] = field(default_factory=dict)

    @property
    def run_key(self) -> str:
        return f"{self.project}/{self.as_of.isoformat()}"

    def config(self) -> ProjectConfig:
        return load_project(self.project)



# --------------------------------------------------------------------------------------- extract
def step_extract(ctx: RunContext) -> dict[str, Any]:
    from pipelines.extract import extract

    return extract(open_lake(), ctx.config(), ctx.as_of, ctx.interval_start, ctx.window_days).to_dict()


# -------------------------------------------------------------------------------------- validate
def step_validate(ctx: RunContext, extracted: dict[str, Any]) -> dict[str, Any]:
    import pandas as pd

    from pipelines.validate import validate_frame

    lake, cfg = open_lake(), ctx.config()
    df = pd.concat([lake.get_parquet(lake.key_of(extracted["train_uri"])),
                    lake.get_parquet(lake.key_of(extracted["test_uri"]))], ignore_index=True)
    outcome = validate_frame(df, cfg, lake=lake, report_prefix=run_prefix(cfg.name, ctx.as_of) + "validation/")
    return outcome.summary()


# ----------------------------------------------------------------------------------------- train
def fingerprint(cfg: ProjectConfig, extracted: dict[str, Any], ctx: RunContext) -> str:
    """Everything that determines the trained model: same fingerprint -> same model (seeded)."""
    basis = {
        "data_hash": extracted["data_hash"],
        "config": cfg.model_dump(mode="json", include={"features", "numeric_features", "categorical_features", "feature_engineering",
                                                       "search", "threshold", "split", "primary_metric", "target"}),
        "n_trials": ctx.n_trials or cfg.search.n_trials,
        "timeout_minutes": ctx.timeout_minutes or cfg.search.timeout_minutes,
        "window_days": ctx.window_days or cfg.training_window_days,
    }
    return hashlib.sha256(json.dumps(basis, sort_keys=True, default=str).encode()).hexdigest()[:16]


def step_train(ctx: RunContext, extracted: dict[str, Any], validation: dict[str, Any]) -> dict[str, Any]:
    from pipelines import tracking
    from pipelines.settings import get_settings
    from pipelines.train import study_plots, train

    lake, cfg = open_lake(), ctx.config()
    fp = fingerprint(cfg, extracted, ctx)
    found = tracking.reusable_run(cfg.name, ctx.run_key, fp)
    if found is not None:
        info = tracking.run_info(found.run_id)
        log.info("reusing MLflow run %s for %s: same data hash and settings (fingerprint %s); not retraining",
                 found.run_id, ctx.run_key, fp)
        return {"run_id": found.run_id, "model_uri": found.model_uri, "reused": True, "experiment_id": info["experiment_id"],
                "threshold": tracking.threshold_of(info["tags"]), "family": info["params"].get("family")}
    train_df = lake.get_parquet(lake.key_of(extracted["train_uri"]))
    res = train(cfg, train_df, study_name=f"{cfg.name}-{ctx.as_of.isoformat()}", storage=get_settings().optuna_storage,
                n_trials=ctx.n_trials, timeout_minutes=ctx.timeout_minutes, workers=ctx.optuna_workers)
    params = {"family": res.family, **{f"model.{k}": v for k, v in res.params.items()},
              "n_trials": ctx.n_trials or cfg.search.n_trials, "cv_folds": cfg.search.cv_folds,
              "training_window_days": ctx.window_days or cfg.training_window_days, "threshold_rule": cfg.threshold.metric,
              "seed": cfg.search.seed}
    metrics = {"cv_" + cfg.primary_metric: res.cv_score, **({"threshold": res.threshold} if res.threshold is not None else {}),
               "optuna_trials": res.n_trials, "optuna_complete": res.n_complete, "optuna_pruned": res.n_pruned,
               "train_seconds": res.duration_s, "train_rows": len(train_df),
               **{f"oof_{k}": v for k, v in res.oof_metrics.items()}}
    tags = {"dag_id": ctx.dag_id, "airflow_run_id": ctx.run_id, "as_of": ctx.as_of.isoformat(),
            "data_hash": extracted["data_hash"], "window": f"{extracted['window_start']}..{extracted['window_end']}",
            "gx_success": str(validation.get("success")), "gx_result": json.dumps(validation, default=str),
            "mlops.threshold": "" if res.threshold is None else str(res.threshold), "mlops.train_uri": extracted["train_uri"],
            "mlops.test_uri": extracted["test_uri"], **ctx.extra_tags}
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "training"
        out.mkdir()
        res.trials.to_csv(out / "optuna_trials.csv", index=False)
        (out / "optuna_summary.json").write_text(json.dumps(res.summary(), indent=2, default=str))
        study_plots(res.study, out)
        for name in ("validation.json", "data_docs.html"):
            key = run_prefix(cfg.name, ctx.as_of) + "validation/" + name
            if lake.exists(key):
                (out / f"gx_{name}").write_bytes(lake.get_bytes(key))
        logged = tracking.log_training(cfg.name, ctx.run_key, fp, res.model, train_df[cfg.input_columns].head(5),
                                       params, metrics, tags, Path(tmp))
    log.info("logged model %s to MLflow run %s", logged.model_uri, logged.run_id)
    return {"run_id": logged.run_id, "model_uri": logged.model_uri, "reused": False, "threshold": res.threshold, "family": res.family,
            "experiment_id": tracking.experiment_id(cfg.name)}


# -------------------------------------------------------------------------------------- evaluate
def score_against(cfg: ProjectConfig, lake: Lake, extracted: dict[str, Any], trained: dict[str, Any], champ: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """Challenger, `champ` (an AliasedVersion or None) and a dummy baseline on the run's test rows."""
    import pandas as pd
    from sklearn.dummy import DummyClassifier, DummyRegressor

    from pipelines import tracking
    from pipelines.evaluate import evaluate

    train_df = lake.get_parquet(lake.key_of(extracted["train_uri"]))
    test_df = lake.get_parquet(lake.key_of(extracted["test_uri"]))
    challenger = tracking.load_model(trained["model_uri"])
    X = train_df[cfg.input_columns]
    baseline = (DummyRegressor(strategy="median").fit(X, train_df[cfg.target].astype(float)) if cfg.regression
                else DummyClassifier(strategy="prior").fit(X, train_df[cfg.target].astype(int)))
    champion = tracking.load_model(f"models:/{cfg.name}/{champ.version}") if champ is not None else None
    report, scores = evaluate(
        cfg, test_df, challenger, trained["threshold"], baseline,
        champion=champion, champion_threshold=tracking.threshold_of(champ.tags) if champ else None,
        champion_version=champ.version if champ else None,
    )
    if cfg.backtest is not None:
        from pipelines.evaluate import temporal_backtest

        report["backtest"] = temporal_backtest(cfg, challenger, pd.concat([train_df, test_df], ignore_index=True))
        log.info("temporal backtest (newest %.0f%% by %s, from %s): %s", 100 * cfg.backtest.fraction, cfg.backtest.time_column,
                 report["backtest"]["cutoff"], {k: round(v, 4) for k, v in report["backtest"]["metrics"].items()})
    report["champion_run_id"] = champ.run_id if champ else None
    report["champion_train_uri"] = champ.tags.get("mlops.train_uri") if champ else None
    return report, scores


def step_evaluate(ctx: RunContext, extracted: dict[str, Any], trained: dict[str, Any]) -> dict[str, Any]:
    from pipelines import tracking
    from pipelines.evaluate import comparison_html, evaluation_plots, slice_comparison_plot, slice_table

    lake, cfg = open_lake(), ctx.config()
    champ = tracking.alias_version(cfg.name, tracking.CHAMPION)
    if champ is not None and champ.run_id == trained["run_id"]:
        log.info("this run's own model is already champion v%s: comparing against baseline only", champ.version)
        champ = None
    elif champ is not None:
        log.info("champion is v%s (run %s, as of %s)", champ.version, champ.run_id, champ.tags.get("as_of"))
    report, scores = score_against(cfg, lake, extracted, trained, champ)
    prefix = run_prefix(cfg.name, ctx.as_of)
    uri = lake.put_json(prefix + "evaluation.json", report)
    metrics: dict[str, float] = {}
    for model, body in report["models"].items():
        pre = "test_" if model == "challenger" else f"{model}/test_"
        metrics.update({pre + k: v for k, v in body["metrics"].items()})
        if model == "challenger":
            for s in body["slices"]:
                metrics[f"slice/{s['slice']}/n"] = s["n"]
                metrics.update({f"slice/{s['slice']}/{k}": s[k] for k in ("roc_auc", "pr_auc", "f1", "accuracy", "recall", "rmse", "mae",
                                                                         "mape") if k in s})
    for k, c in report.get("metric_cis", {}).items():
        metrics[f"ci/test_{k}/low"], metrics[f"ci/test_{k}/high"] = c["ci_low"], c["ci_high"]
    for f in report["fairness"]:
        metrics[f"fairness/{f['feature']}/disparate_impact"] = f["disparate_impact"]
    if "bootstrap" in report:
        metrics.update({f"delta_vs_champion/{k}": report["bootstrap"][k] for k in ("delta", "ci_low", "ci_high")})
    if "backtest" in report:
        metrics.update({f"backtest/test_{k}": v for k, v in report["backtest"]["metrics"].items()})
    table = slice_table(report, cfg.primary_metric)
    with tempfile.TemporaryDirectory() as tmp:
        plots = evaluation_plots(scores, report["thresholds"], Path(tmp))
        plots.append(slice_comparison_plot(report, cfg.primary_metric, Path(tmp) / "slice_comparison.png"))
        tracking.log_to_run(
            trained["run_id"], metrics=metrics,
            tags={"mlops.champion_at_evaluate": champ.version if champ else "none"},
            artifacts={"evaluation.json": json.dumps(report, indent=2, default=str), "slices.csv": table.to_csv(index=False),
                       "slices.html": table.to_html(index=False, float_format=lambda v: f"{v:.4f}"),
                       "comparison.html": comparison_html(report, cfg.primary_metric),
                       **{p.name: p for p in plots}},
            artifact_dir="evaluation",
        )
    return {"evaluation_uri": uri, "champion_version": report["champion_version"],
            "primary": report["models"]["challenger"]["metrics"][cfg.primary_metric]}


# -------------------------------------------------------------------------------------- register
def step_register(ctx: RunContext, extracted: dict[str, Any], trained: dict[str, Any], evaluated: dict[str, Any]) -> dict[str, Any]:
    """Register once (a rerun reuses the version and its recorded decision), decide, move aliases last."""
    import time

    from pipelines import governance, tracking

    started = time.monotonic()
    lake, cfg = open_lake(), ctx.config()
    report = lake.get_json(lake.key_of(evaluated["evaluation_uri"]))
    version, reused = tracking.register_version(cfg.name, trained["run_id"], trained["model_uri"], {
        "as_of": ctx.as_of.isoformat(), "data_hash": extracted["data_hash"], "mlops.run_key": ctx.run_key,
        "mlops.threshold": "" if trained["threshold"] is None else str(trained["threshold"]), "mlops.train_uri": extracted["train_uri"],
        "mlops.test_uri": extracted["test_uri"], "family": str(trained.get("family")),
        "window": f"{extracted['window_start']}..{extracted['window_end']}",
    })
    existing = tracking.version_tags(cfg.name, version)
    if reused and "decision" in existing:
        log.info("rerun: version %s of %s already registered with decision %r (%s); nothing moves",
                 version, cfg.name, existing["decision"], existing.get("decision_reason"))
        champion = tracking.alias_version(cfg.name, tracking.CHAMPION)
        return {"version": version, "decision": existing["decision"], "reused": True, "champion": champion.version if champion else None}
    decision, report = governance.decide_and_move(
        cfg, version, report, lambda champ: score_against(cfg, lake, extracted, trained, champ)[0], allow_promotion=ctx.promote,
        as_of=ctx.as_of,
    )
    governance.write_decision(cfg, lake, ctx.as_of, version, decision, report, extracted, trained)
    champion = tracking.alias_version(cfg.name, tracking.CHAMPION)
    log.info("registered %s v%s: %s -- %s; champion is now %s (%d checks, %d failed; register took %.1fs)", cfg.name, version,
             decision.decision.upper(), decision.reason, f"v{champion.version}" if champion else "unset", len(decision.checks),
             sum(not c.passed for c in decision.checks), time.monotonic() - started)
    failed = [c for c in decision.checks if not c.passed]
    for c in failed[:8]:
        log.info("  failed check %s: %s (threshold %s)", c.name, c.detail, c.threshold)
    if len(failed) > 8:
        log.info("  ... and %d more failed checks (decision.md lists all)", len(failed) - 8)
    return {"version": version, "decision": decision.decision, "reused": False, "champion": champion.version if champion else None}


# ----------------------------------------------------------------------------------------- drift
def step_drift(ctx: RunContext, extracted: dict[str, Any], trained: dict[str, Any], evaluated: dict[str, Any]) -> dict[str, Any]:
    """Drift of this interval's new rows against the training reference of the champion that served it."""
    from pipelines import tracking
    from pipelines.alerts import send_alert
    from pipelines.drift import run_drift

    lake, cfg = open_lake(), ctx.config()
    report = lake.get_json(lake.key_of(evaluated["evaluation_uri"]))
    current = lake.get_parquet(lake.key_of(extracted["new_uri"]))
    ref_uri = report.get("champion_train_uri")
    if ref_uri:
        reference = lake.get_parquet(lake.key_of(ref_uri))
        source = f"champion v{report['champion_version']} training rows"
    else:
        # No champion served this interval: the new model's training rows minus the new rows themselves.
        reference = lake.get_parquet(lake.key_of(extracted["train_uri"]))
        if not current.empty and cfg.id_column:
            reference = reference[~reference[cfg.id_column].isin(current[cfg.id_column])]
        source = "this run's training rows before the interval (no champion yet)"
    result, html = run_drift(cfg, reference, current)
    prefix = run_prefix(cfg.name, ctx.as_of)
    out = {**result.to_dict(), "reference": source, "as_of": ctx.as_of.isoformat()}
    out["report_uri"] = lake.put_text(prefix + "drift.html", html) if html else None
    out["json_uri"] = lake.put_json(prefix + "drift.json", out)
    tracking.log_to_run(
        trained["run_id"],
        metrics={"drift_share": result.drift_share} if result.drift_share is not None else None,
        tags={"mlops.drift_status": result.status},
        artifacts={"drift.json": json.dumps(out, indent=2, default=str), **({"drift_report.html": html} if html else {})},
        artifact_dir="drift",
    )
    tracking.finish_run(trained["run_id"])
    if result.status == "skipped":
        log.info("drift check skipped: %s", result.reason)
    elif result.drifted:
        cols = [c["column"] for c in result.columns if c["drifted"]]
        log.warning("DRIFT in %s as of %s vs %s: %s; drifted columns %s", cfg.name, ctx.as_of, source, result.reason, cols)
        send_alert(cfg.name, "drift", f"data drift as of {ctx.as_of}: {result.reason}; columns {cols}",
                   {"report_uri": out["report_uri"], "share": result.drift_share}, lake=lake)
    else:
        log.info("no dataset drift as of %s vs %s: %s", ctx.as_of, source, result.reason)
    return {"status": result.status, "drift_share": result.drift_share, "report_uri": out["report_uri"]}


# ------------------------------------------------------------------------------------------- all
def run_all(ctx: RunContext) -> dict[str, Any]:
    """All steps in-process, in DAG order (the CLI's `run`)."""
    extracted = step_extract(ctx)
    validation = step_validate(ctx, extracted)
    trained = step_train(ctx, extracted, validation)
    evaluated = step_evaluate(ctx, extracted, trained)
    registered = step_register(ctx, extracted, trained, evaluated)
    drifted = step_drift(ctx, extracted, trained, evaluated)
    return {"extract": extracted, "validate": validation, "train": trained, "evaluate": evaluated,
            "register": registered, "drift": drifted}
