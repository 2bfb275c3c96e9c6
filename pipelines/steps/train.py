"""The search steps: `plan_search` (create the study, or find an identical earlier run to reuse),
`tune` (one worker's share of the trials) and, for the CLI, `train` = plan -> every worker -> refit.
A fingerprint of the data hash and the settings that determine the model decides reuse.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from pipelines.config import ProjectConfig
from pipelines.contracts import Extracted, RunSpec, SearchPlan, Trained, Tuned, Validated
from pipelines.resources import Resources
from pipelines.steps.refit import step_refit
from pipelines.steps.summary import summarize


# ----------------------------------------------------------------------------------------- train
def fingerprint(cfg: ProjectConfig, ex: Extracted, run: RunSpec) -> str:
    """Everything that determines the trained model: same fingerprint -> same model (seeded)."""
    basis = {
        "data_hash": ex.data_hash,
        "config": cfg.model_dump(mode="json", include={"numeric_features", "categorical_features", "feature_engineering", "search",
                                                       "threshold", "split", "primary_metric", "target", "positive_label",
                                                       "calibration", "target_transform", "maturity", "categorical_encoding"}),
        "n_trials": run.n_trials or cfg.search.n_trials,
        "timeout_minutes": run.timeout_minutes or cfg.search.timeout_minutes,
        "window_days": run.window_days or cfg.training_window_days,
    }
    return hashlib.sha256(json.dumps(basis, sort_keys=True, default=str).encode()).hexdigest()[:16]


def step_plan_search(res: Resources, cfg: ProjectConfig, run: RunSpec, ex: Extracted) -> SearchPlan:
    from pipelines.domain.search import plan

    fp = fingerprint(cfg, ex, run)
    found = res.registry.reusable_run(cfg.name, run.run_key, fp)
    p = plan(cfg, study_name=f"{cfg.name}-{run.as_of.isoformat()}-{fp}", fingerprint=fp, storage=res.optuna_storage,
             n_trials=run.n_trials or cfg.search.n_trials, timeout_s=60.0 * (run.timeout_minutes or cfg.search.timeout_minutes),
             workers=run.optuna_workers, reuse_run_id=found.run_id if found else None)
    summarize("plan_search", [f"reusing MLflow run {found.run_id}: same data and settings (fingerprint {fp}); no search" if found else
                              f"study {p.study_name}: {p.n_trials} trials over {p.workers} worker(s), {p.timeout_s:.0f}s budget"])
    return p


def step_tune(res: Resources, cfg: ProjectConfig, ex: Extracted, p: SearchPlan, worker: int, trials: int) -> Tuned:
    from pipelines.domain.search import tune
    from pipelines.steps.extract import load_snapshot

    if p.reuse_run_id:
        return Tuned(study_name=p.study_name, worker=worker, trials=0, complete=0, pruned=0, seconds=0.0)
    t = tune(cfg, load_snapshot(res.lake, ex.train_uri), p, worker, trials, res.optuna_storage, cfg.search.n_jobs or res.settings.n_jobs)
    summarize("tune", [f"worker {worker}: {t.trials} trials ({t.complete} complete, {t.pruned} pruned) in {t.seconds:.0f}s on "
                       f"{p.study_name}"])
    return t


def step_train(res: Resources, cfg: ProjectConfig, run: RunSpec, ex: Extracted, val: Validated) -> Trained:
    """plan -> tune (every worker; extra workers as processes on this machine) -> refit: the CLI's train."""
    p = step_plan_search(res, cfg, run, ex)
    tasks = p.worker_tasks()
    if p.workers > 1 and not p.reuse_run_id:
        import concurrent.futures as cf
        import multiprocessing as mp

        # spawn, not fork: LightGBM's OpenMP runtime does not survive a fork.
        with cf.ProcessPoolExecutor(p.workers - 1, mp_context=mp.get_context("spawn")) as pool:
            futs = [pool.submit(tune_in_process, cfg.model_dump_json(), ex.to_json(), p.to_json(), t["worker"], t["trials"])
                    for t in tasks[1:]]
            step_tune(res, cfg, ex, p, tasks[0]["worker"], tasks[0]["trials"])
            for f in futs:
                f.result()
    else:
        step_tune(res, cfg, ex, p, tasks[0]["worker"], tasks[0]["trials"])
    return step_refit(res, cfg, run, ex, val, p)


def tune_in_process(cfg_json: str, ex_json: dict[str, Any], plan_json: dict[str, Any], worker: int, trials: int) -> int:
    """Entry point of an extra tune worker process (spawned by `step_train`)."""
    import warnings

    warnings.filterwarnings("ignore")
    res = Resources.from_env()
    t = step_tune(res, ProjectConfig.model_validate_json(cfg_json), Extracted.from_json(ex_json), SearchPlan.from_json(plan_json),
                  worker, trials)
    return t.trials
