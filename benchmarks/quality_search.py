"""The pipeline's own search and refit without MLflow, shared by the quality benchmark's sections
(bench_quality.py on the real files, bench_quality_sims.py on the synthetic feeds)."""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pipelines.config import ProjectConfig  # noqa: E402
from pipelines.contracts import SearchPlan  # noqa: E402
from pipelines.domain.estimators import build_pipeline  # noqa: E402
from pipelines.domain.targets import encode_target  # noqa: E402


def search_and_refit(cfg: ProjectConfig, train: pd.DataFrame, name: str, compare_best: bool = False) -> dict:
    """The pipeline's own train step without MLflow: the model, its threshold, trials, seconds, why the
    trial was selected and (compare_best) the best-CV trial refit too: what `select: best` would ship."""
    from pipelines.domain.refit import refit
    from pipelines.domain.search import final_params, open_study, plan, select_trial, tune

    started = time.monotonic()
    with tempfile.TemporaryDirectory() as tmp:
        storage = f"sqlite:///{tmp}/optuna.db"
        p: SearchPlan = plan(cfg, study_name=name, fingerprint=name, storage=storage, n_trials=cfg.search.n_trials,
                             timeout_s=60 * cfg.search.timeout_minutes, workers=1)
        t = tune(cfg, train, p, 0, p.n_trials, storage)
        study = open_study(cfg, name, storage, seed=cfg.search.seed)
        trial, why = select_trial(cfg, study)
        family, params = final_params(trial)
        r = refit(cfg, train, family, params)
        seconds = time.monotonic() - started
        best_cv = select_trial(cfg.model_copy(update={"search": cfg.search.model_copy(update={"select": "best"})}), study)[0]
    # Sigmoid calibration is monotone: the uncalibrated refit ranks (ROC AUC) exactly as the calibrated one.
    best_model = None if not compare_best or best_cv.number == trial.number else build_pipeline(cfg, *final_params(best_cv), cfg.search.seed).fit(
        train[cfg.input_columns], encode_target(cfg, train))
    return {"model": r.model, "thr": float(r.threshold or 0.5), "trials": t.trials, "seconds": seconds, "why": why,
            "default_stood": trial.user_attrs.get("enqueued") == "default", "best_cv_model": best_model}
