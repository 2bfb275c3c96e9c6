"""The Optuna search: one study per as-of date and run identity, tuned by one or many workers.

* `plan` creates the study (seeded TPE, median pruning) and enqueues the project's known-good
  default as trial 0, so the search never ends below it; it returns how the trials split over
  workers (`SearchPlan.worker_tasks`).
* `tune` is one worker: it runs its share of the trials on the shared study (Postgres on the
  server stack; SQLite only with one worker), with its own seeded sampler. A retried worker resumes
  its share. Boosting rounds come from early stopping inside each fold, not from the search.
* `select_trial` picks the winner: among trials within one CV standard error of the best, the
  known-good default if it is one of them (the search has not shown it wrong), else the cheapest to
  fit: noise should not pick between equally good models. Measured on the real files
  (benchmarks/quality.md): the best-CV trial won by noise and tested below the default.
"""

from __future__ import annotations

import logging
import time
import warnings
from typing import Any, Literal

import numpy as np
import optuna
import pandas as pd
from sklearn.model_selection import KFold, RepeatedKFold, RepeatedStratifiedKFold, StratifiedKFold, TimeSeriesSplit

from pipelines.config import LOWER_IS_BETTER, CategoricalParam, FloatParam, IntParam, ProjectConfig
from pipelines.contracts import SearchPlan, Tuned
from pipelines.domain.estimators import BOOSTING, fit_fold, predict_scores
from pipelines.domain.metrics import model_metrics
from pipelines.domain.targets import training_xy

log = logging.getLogger(__name__)
COMPLETE, PRUNED = optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED


class SearchError(RuntimeError):
    pass


def direction(cfg: ProjectConfig) -> Literal["minimize", "maximize"]:
    return "minimize" if cfg.primary_metric in LOWER_IS_BETTER else "maximize"


def open_study(cfg: ProjectConfig, name: str, storage: str | None, *, seed: int, create: bool = False) -> optuna.Study:
    """The one study factory: create (idempotent) or load, always with a seeded TPE sampler and a
    median pruner that waits for 5 trials and one fold."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    if storage and storage.startswith("sqlite:///"):
        from pathlib import Path

        Path(storage.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():  # multivariate/group TPE: stable in use, still flagged experimental
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        sampler = optuna.samplers.TPESampler(seed=seed, n_startup_trials=5, multivariate=True, group=True)
    pruner = optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=1)
    if create:
        return optuna.create_study(study_name=name, storage=storage, direction=direction(cfg), sampler=sampler, pruner=pruner,
                                   load_if_exists=True)
    return optuna.load_study(study_name=name, storage=storage, sampler=sampler, pruner=pruner)


def default_trial(cfg: ProjectConfig) -> dict[str, Any] | None:
    """The configured known-good default (first family in `search.defaults`), as Optuna params."""
    if not cfg.search.defaults:
        return None
    family, params = next(iter(cfg.search.defaults.items()))
    return {"family": family, **{f"{family}__{k}": v for k, v in params.items()}}


def plan(cfg: ProjectConfig, *, study_name: str, fingerprint: str, storage: str | None, n_trials: int, timeout_s: float,
         workers: int, reuse_run_id: str | None = None) -> SearchPlan:
    if workers < 1:
        raise SearchError(f"optuna_workers must be >= 1, got {workers}")
    if workers > 1 and (not storage or storage.startswith("sqlite")):
        raise SearchError(f"optuna_workers={workers} needs a shared RDB study storage (e.g. Postgres); "
                          f"{'sqlite' if storage else 'in-memory'} must not be shared by parallel workers: "
                          "set OPTUNA_STORAGE=postgresql+psycopg2://... or use 1 worker")
    workers = min(workers, n_trials)
    if reuse_run_id is None:
        study = open_study(cfg, study_name, storage, seed=cfg.search.seed, create=True)
        default = default_trial(cfg)
        if default is not None and not study.trials:
            study.enqueue_trial(default, user_attrs={"enqueued": "default"})
    return SearchPlan(study_name=study_name, fingerprint=fingerprint, n_trials=n_trials, timeout_s=timeout_s, workers=workers,
                      reuse_run_id=reuse_run_id)


def cv_splitter(cfg: ProjectConfig) -> Any:
    """Folds for the search: time-ordered for time-split projects (rows sorted by time: each fold
    validates on rows newer than its training rows), else (repeated) shuffled, stratified for
    classification."""
    k, r, seed = cfg.search.cv_folds, cfg.search.cv_repeats, cfg.search.seed
    if cfg.split.strategy == "time":
        return TimeSeriesSplit(n_splits=k)
    if r > 1:
        return (RepeatedKFold if cfg.regression else RepeatedStratifiedKFold)(n_splits=k, n_repeats=r, random_state=seed)
    return (KFold if cfg.regression else StratifiedKFold)(n_splits=k, shuffle=True, random_state=seed)


def suggest(trial: optuna.Trial, family: str, space: dict[str, Any]) -> dict[str, Any]:
    params: dict[str, Any] = {}
    for name, spec in space.items():
        key = f"{family}__{name}"
        if isinstance(spec, FloatParam):
            params[name] = trial.suggest_float(key, spec.low, spec.high, log=spec.log)
        elif isinstance(spec, IntParam):
            params[name] = trial.suggest_int(key, spec.low, spec.high, log=spec.log)
        elif isinstance(spec, CategoricalParam):
            params[name] = trial.suggest_categorical(key, spec.choices)
    return params


def unpack(params: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    family = params["family"]
    prefix = f"{family}__"
    return family, {k[len(prefix):]: v for k, v in params.items() if k.startswith(prefix)}


def culled_families(cfg: ProjectConfig, study: optuna.Study) -> set[str]:
    """Families far behind the leader after enough complete trials: not worth more trials."""
    rule = cfg.search.cull
    done = [t for t in study.get_trials(deepcopy=False, states=(COMPLETE,)) if t.value is not None]
    if rule is None or not done:
        return set()
    sign = 1.0 if direction(cfg) == "maximize" else -1.0
    best: dict[str, list[float]] = {}
    for t in done:
        best.setdefault(t.params["family"], []).append(sign * float(t.value))  # type: ignore[arg-type]
    leader = max(max(v) for v in best.values())
    return {f for f, v in best.items() if len(v) >= rule.after and leader - max(v) > rule.margin}


def cross_validate(cfg: ProjectConfig, family: str, params: dict[str, Any], X: pd.DataFrame, y: np.ndarray,
                   trial: optuna.Trial | None = None, n_jobs: int = 2) -> dict[str, Any]:
    """Per-fold scores of the primary metric; boosting folds early-stop on an inner split. Reports
    after each fold but the last for pruning (pruning after the last fold would save nothing)."""
    folds = list(cv_splitter(cfg).split(X, y))
    primary, scores, iters = cfg.primary_metric, [], []
    started = time.monotonic()
    for step, (tr, va) in enumerate(folds):
        fit = fit_fold(cfg, family, params, X.iloc[tr], y[tr], cfg.search.seed + step, n_jobs)
        p = predict_scores(fit.model, X.iloc[va], cfg.regression)
        scores.append(float(model_metrics(cfg, y[va], p, 0.5, only=(primary,))[primary] or 0.0))
        if fit.best_iteration is not None:
            iters.append(fit.best_iteration)
        if trial is not None and step < len(folds) - 1:
            trial.report(float(np.mean(scores)), step)
            if trial.should_prune():
                raise optuna.TrialPruned()
    return {"mean": float(np.mean(scores)), "std": float(np.std(scores, ddof=1)) if len(scores) > 1 else 0.0,
            "folds": len(scores), "best_iterations": iters, "fit_seconds": time.monotonic() - started}


def make_objective(cfg: ProjectConfig, X: pd.DataFrame, y: np.ndarray, worker: int, n_jobs: int) -> Any:
    families = list(cfg.search.families)

    def objective(trial: optuna.Trial) -> float:
        trial.set_user_attr("worker", worker)
        family = trial.suggest_categorical("family", families)
        params = suggest(trial, family, cfg.search.families[family])
        if family in culled_families(cfg, trial.study):
            trial.set_user_attr("culled", True)
            raise optuna.TrialPruned(f"family {family} trails the leader by more than {cfg.search.cull.margin}")  # type: ignore[union-attr]
        cv = cross_validate(cfg, family, params, X, y, trial, n_jobs)
        for k in ("std", "folds", "best_iterations", "fit_seconds"):
            trial.set_user_attr(f"cv_{k}", cv[k])
        return cv["mean"]

    return objective


def _progress(cfg: ProjectConfig, total: int, started: float) -> Any:
    def callback(study: optuna.Study, t: optuna.trial.FrozenTrial) -> None:
        finished = len(study.get_trials(deepcopy=False, states=(COMPLETE, PRUNED)))
        what = f"{cfg.primary_metric}={t.value:.4f}+-{t.user_attrs.get('cv_std', 0):.3f}" if t.state == COMPLETE else t.state.name.lower()
        try:
            best = f"{study.best_value:.4f} (#{study.best_trial.number} {study.best_trial.params.get('family')})"
        except ValueError:
            best = "-"
        log.info("trial #%d (%d/%d) %s %s; best %s; %.0fs", t.number, finished, total, t.params.get("family"), what, best,
                 time.monotonic() - started)

    return callback


def tune(cfg: ProjectConfig, train_df: pd.DataFrame, plan_: SearchPlan, worker: int, share: int, storage: str | None,
         n_jobs: int = 2) -> Tuned:
    """One worker: run this worker's `share` of trials (minus those it already finished on an earlier
    try) on the shared study, within the plan's timeout."""
    X, y = training_xy(cfg, train_df)
    study = open_study(cfg, plan_.study_name, storage, seed=cfg.search.seed + worker)
    mine = [t for t in study.get_trials(deepcopy=False, states=(COMPLETE, PRUNED)) if t.user_attrs.get("worker") == worker]
    todo = max(0, share - len(mine))
    started = time.monotonic()
    log.info("tuning %s (worker %d of %d): %d of its %d trials to run on %d rows, %.0fs budget, %d-fold CV%s",
             plan_.study_name, worker, plan_.workers, todo, share, len(y), plan_.timeout_s, cfg.search.cv_folds,
             f" x{cfg.search.cv_repeats}" if cfg.search.cv_repeats > 1 else "")
    if todo:
        study.optimize(make_objective(cfg, X, y, worker, n_jobs), n_trials=todo, timeout=plan_.timeout_s,
                       callbacks=[_progress(cfg, plan_.n_trials, started)], gc_after_trial=True)
    ran = [t for t in study.get_trials(deepcopy=False, states=(COMPLETE, PRUNED)) if t.user_attrs.get("worker") == worker]
    return Tuned(study_name=plan_.study_name, worker=worker, trials=len(ran), complete=sum(t.state == COMPLETE for t in ran),
                 pruned=sum(t.state == PRUNED for t in ran), seconds=round(time.monotonic() - started, 1))


def select_trial(cfg: ProjectConfig, study: optuna.Study) -> tuple[optuna.trial.FrozenTrial, str]:
    """The winning trial and why: the best CV score, or (select: within_se) among the trials within
    one standard error of the best, the enqueued default, else the cheapest."""
    done = [t for t in study.get_trials(deepcopy=False, states=(COMPLETE,)) if t.value is not None]
    if not done:
        raise SearchError(f"study {study.study_name}: no trial completed ({len(study.trials)} started); raise the timeout "
                          "or the trial budget")
    sign = 1.0 if direction(cfg) == "maximize" else -1.0
    best = max(done, key=lambda t: sign * float(t.value))  # type: ignore[arg-type]
    if cfg.search.select == "best":
        return best, f"best CV {cfg.primary_metric}"
    se = float(best.user_attrs.get("cv_std", 0.0)) / max(1.0, float(best.user_attrs.get("cv_folds", 1))) ** 0.5
    near = [t for t in done if sign * (float(best.value) - float(t.value)) <= se]  # type: ignore[arg-type]
    default = next((t for t in near if t.user_attrs.get("enqueued") == "default"), None)
    if default is not None:
        if default.number == best.number:
            return best, f"best CV {cfg.primary_metric} (the known-good default)"
        return default, (f"the known-good default, within 1 SE ({se:.4f}) of the best #{best.number} ({float(best.value):.4f}): "
                         "the search did not show it wrong")
    pick = min(near, key=lambda t: (float(t.user_attrs.get("cv_fit_seconds", 0.0)), t.number))
    if pick.number == best.number:
        return best, f"best CV {cfg.primary_metric} (no cheaper trial within 1 SE = {se:.4f})"
    return pick, (f"cheapest of {len(near)} trials within 1 SE ({se:.4f}) of the best #{best.number} "
                  f"({float(best.value):.4f}): noise should not pick between them")


def refit_rounds(trial: optuna.trial.FrozenTrial) -> int | None:
    iters = trial.user_attrs.get("cv_best_iterations") or []
    return int(round(float(np.mean(iters)))) if iters else None


def final_params(trial: optuna.trial.FrozenTrial) -> tuple[str, dict[str, Any]]:
    """The winning trial's family and params, boosting rounds from early stopping."""
    family, params = unpack(trial.params)
    rounds = refit_rounds(trial)
    if family in BOOSTING and rounds:
        params["n_estimators"] = rounds
    return family, params
