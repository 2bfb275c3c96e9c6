"""The refit step: pick the winning trial, refit it into the saved model, and record the
training run in MLflow (params, CV and out-of-fold metrics, input datasets, search artifacts,
reliability plot, the model with its signature). The tag `mlops.model_uri` is written last: a run
without it never finished and is never reused.

One refit per run identity at a time, across machines (the run lock); an identical earlier run
(same data hash and settings) is reused instead of retrained.
"""

from __future__ import annotations

import json
import logging
import tempfile
import time
from pathlib import Path
from typing import Any

from pipelines.config import ProjectConfig
from pipelines.contracts import Extracted, RunSpec, SearchPlan, Trained, Validated, layout, names
from pipelines.resources import Resources
from pipelines.resources.registry import threshold_of
from pipelines.steps.summary import summarize

log = logging.getLogger(__name__)


def _trained(res: Resources, cfg: ProjectConfig, found: Any, fp: str) -> Trained:
    return Trained(run_id=found.run_id, experiment_id=found.experiment_id, model_uri=found.tags[names.MODEL_URI], fingerprint=fp,
                   family=found.params.get("family", "?"), reused=True, threshold=threshold_of(found.tags),
                   cv_score=found.metrics.get(f"cv_{cfg.primary_metric}"), study_name=found.tags.get("mlops.study"))


def step_refit(res: Resources, cfg: ProjectConfig, run: RunSpec, ex: Extracted, val: Validated, p: SearchPlan) -> Trained:
    """The winning trial refit into the saved model, logged to a new MLflow run (or an identical
    earlier run reused). One refit per run identity at a time, across machines (the run lock)."""
    with res.locks.hold(f"run:{cfg.name}/{run.as_of.isoformat()}/{p.fingerprint}", 60 * (cfg.dag.task_timeout_minutes or 30)):
        found = res.registry.reusable_run(cfg.name, run.run_key, p.fingerprint)
        if found is not None:
            summarize("refit", [f"reused MLflow run {found.run_id} (same data hash and settings, fingerprint {p.fingerprint}): "
                                "not retrained"])
            return _trained(res, cfg, found, p.fingerprint)
        return log_training_run(res, cfg, run, ex, val, p)



def _search_artifacts(study: object, out: Path) -> None:
    from pipelines.domain.search import COMPLETE, PRUNED

    trials = study.trials_dataframe()  # type: ignore[attr-defined]
    trials.to_csv(out / "optuna_trials.csv", index=False)
    done = study.get_trials(deepcopy=False, states=(COMPLETE, PRUNED))  # type: ignore[attr-defined]
    (out / "optuna_summary.json").write_text(json.dumps({"trials": len(done), "complete": sum(t.state == COMPLETE for t in done),
                                                         "best": study.best_trial.params}, indent=2, default=str))  # type: ignore[attr-defined]
    study_plots(study, out)


def study_plots(study: object, outdir: Path) -> list[Path]:
    """Optimization history and parameter importances as PNGs (small studies may lack importances)."""
    import warnings

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from optuna.visualization import matplotlib as ovm

    out = []
    for name, fn in (("optuna_history.png", ovm.plot_optimization_history), ("optuna_importances.png", ovm.plot_param_importances)):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                ax = fn(study)  # type: ignore[arg-type]
        except (ValueError, RuntimeError, ZeroDivisionError) as e:  # e.g. importances need >= 2 complete trials of one family
            log.debug("skipped %s: %s", name, e)
            continue
        fig: Any = ax.figure if hasattr(ax, "figure") else ax[0].figure  # type: ignore[index]
        fig.tight_layout()
        fig.savefig(outdir / name, dpi=90)
        plt.close(fig)
        out.append(outdir / name)
    return out


def log_training_run(res: Resources, cfg: ProjectConfig, run: RunSpec, ex: Extracted, val: Validated, p: SearchPlan) -> Trained:
    from pipelines.domain.refit import refit, reliability_plot
    from pipelines.domain.search import COMPLETE, PRUNED, final_params, open_study, select_trial
    from pipelines.steps.extract import load_snapshot

    started = time.monotonic()
    study = open_study(cfg, p.study_name, res.optuna_storage, seed=cfg.search.seed)
    trial, why = select_trial(cfg, study)
    family, params = final_params(trial)
    train_df = load_snapshot(res.lake, ex.train_uri)
    r = refit(cfg, train_df, family, params, cfg.search.n_jobs or res.settings.n_jobs)
    done = study.get_trials(deepcopy=False, states=(COMPLETE, PRUNED))
    reg = res.registry
    run_id = reg.start_run(cfg.name, run.run_key.replace("/", "-"), {
        names.RUN_KEY: run.run_key, names.FINGERPRINT: p.fingerprint, "dag_id": run.dag_id, "airflow_run_id": run.run_id,
        names.AS_OF: run.as_of.isoformat(), names.DATA_HASH: ex.data_hash, names.WINDOW: ex.window, "mlops.study": p.study_name,
        names.DATA_VALIDATION: "passed" if val.success else "failed", names.THRESHOLD: "" if r.threshold is None else str(r.threshold),
        names.TRAIN_URI: ex.train_uri, names.TEST_URI: ex.test_uri})
    reg.log_params(run_id, {"family": family, **{f"model.{k}": v for k, v in params.items()}, "n_trials": p.n_trials,
                            "cv_folds": cfg.search.cv_folds, "cv_repeats": cfg.search.cv_repeats, "selection": cfg.search.select,
                            "calibration": r.calibration, "threshold_rule": cfg.threshold.strategy, "seed": cfg.search.seed,
                            "training_window_days": run.window_days or cfg.training_window_days, "split": ex.split})
    reg.log_metrics(run_id, {f"cv_{cfg.primary_metric}": float(trial.value or 0.0), "cv_std": float(trial.user_attrs.get("cv_std", 0.0)),
                             "threshold": r.threshold, "optuna_trials": len(done), "optuna_complete": sum(t.state == COMPLETE for t in done),
                             "optuna_pruned": sum(t.state == PRUNED for t in done), "train_rows": len(train_df),
                             **{f"oof_{k}": v for k, v in r.oof_metrics.items()}})
    for name, uri, rows in (("train", ex.train_uri, ex.train_rows), ("test", ex.test_uri, ex.test_rows)):
        reg.log_dataset(run_id, name=f"{cfg.name}-{name}-{layout.data_id(ex.data_hash)}", source_uri=uri, digest=ex.data_hash, rows=rows,
                        columns=cfg.input_columns + [cfg.target], context="training" if name == "train" else "evaluation")
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        _search_artifacts(study, out)
        if not cfg.regression:
            reliability_plot(r.y, r.oof, out / "reliability.png", f"{cfg.name}: out-of-fold calibration ({r.calibration})")
        for name, uri in (("gx_validation.json", val.result_uri), ("gx_data_docs.html", val.docs_uri)):
            if uri:
                (out / name).write_bytes(res.lake.get_bytes(res.lake.key_of(uri)))
        reg.log_artifacts(run_id, {f.name: f for f in out.iterdir()}, names.ARTIFACT_TRAINING)
    model_uri = reg.log_model(run_id, cfg.name, r.model, train_df[cfg.input_columns].head(5), res.allowed_model_types)
    reg.set_tags(run_id, {names.MODEL_URI: model_uri})  # last: marks the run complete and reusable
    log.info("selected trial #%d (%s): %s %s; CV %s=%.4f; %s", trial.number, why, family, params, cfg.primary_metric,
             float(trial.value or 0.0), r.threshold_note)

    summarize("refit", [f"trained {family} on {len(train_df)} rows: CV {cfg.primary_metric} {float(trial.value or 0.0):.4f} "
                        f"(trial #{trial.number} of {len(done)}; {why})",
                        f"threshold: {r.threshold_note}" + (f"; calibration {r.calibration}" if r.calibration != "none" else ""),
                        f"MLflow run {run_id}, model {model_uri}; refit + logging {time.monotonic() - started:.0f}s"])
    return Trained(run_id=run_id, experiment_id=reg.experiment_id(cfg.name), model_uri=model_uri, fingerprint=p.fingerprint, family=family,
                   reused=False, threshold=r.threshold, cv_score=float(trial.value or 0.0), study_name=p.study_name)
