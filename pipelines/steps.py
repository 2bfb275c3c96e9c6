"""The pipeline's steps with their I/O: what a DAG task (or `python -m pipelines run`) calls.

Each step takes the `Resources` built at the edge, the project config, the `RunSpec` and the typed
results of earlier steps; reads its inputs from the lake / MLflow by the URIs and ids those carry;
calls the domain functions (extract, validate, search, refit, evaluate, policy, drift); writes its
outputs under keys from `pipelines.layout`; and returns a typed result again. Only the DAG's task
adapters turn results into JSON for XCom.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from typing import Any

from pipelines import layout, names
from pipelines.config import ProjectConfig
from pipelines.contracts import (
    DriftSummary, Evaluated, Evaluation, Extracted, Registered, RunSpec, SearchPlan, Trained, Tuned, Validated,
)
from pipelines.resources import Resources
from pipelines.tracking import VersionInfo

log = logging.getLogger(__name__)


def summarize(step: str, lines: list[str]) -> None:
    """The last lines of every task log: what it did and decided, readable without scrolling."""
    log.info("== %s: %s", step, lines[0])
    for line in lines[1:]:
        log.info("   %s", line)


# --------------------------------------------------------------------------------------- extract
def step_extract(res: Resources, cfg: ProjectConfig, run: RunSpec) -> Extracted:
    from pipelines.extract import extract

    ex = extract(res.lake, cfg, run.as_of, run.interval_start, run.window_days)
    summarize("extract", [f"{ex.rows} rows from {ex.partitions} partitions ({ex.window}) as of {ex.as_of}",
                          f"train {ex.train_rows} / test {ex.test_rows} ({ex.split}); {ex.new_rows} new rows since {ex.new_since}",
                          f"snapshots: {layout.run_prefix(cfg.name, run.as_of, ex.data_hash)} (data {layout.data_id(ex.data_hash)})"])
    return ex


# -------------------------------------------------------------------------------------- validate
def step_validate(res: Resources, cfg: ProjectConfig, run: RunSpec, ex: Extracted) -> Validated:
    """The project's suite on the window's rows as they arrived (before cleaning filters)."""
    from pipelines.extract import load_snapshot, strip_snapshot_columns
    from pipelines.validate import validate_frame

    df = load_snapshot(res.lake, ex.window_uri)
    outcome = validate_frame(strip_snapshot_columns(df), cfg, res.settings.expectations_dir, lake=res.lake,
                             report_prefix=layout.validation_prefix(cfg.name, run.as_of, ex.data_hash))
    summarize("validate", [f"suite {cfg.validation.suite}: {outcome.evaluated} expectations passed on {outcome.rows} rows "
                           f"({outcome.seconds:.1f}s)", f"report: {outcome.docs_uri}"])
    return outcome.summary()


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
    from pipelines.search import plan

    fp = fingerprint(cfg, ex, run)
    found = res.registry.reusable_run(cfg.name, run.run_key, fp)
    p = plan(cfg, study_name=f"{cfg.name}-{run.as_of.isoformat()}-{fp}", fingerprint=fp, storage=res.optuna_storage,
             n_trials=run.n_trials or cfg.search.n_trials, timeout_s=60.0 * (run.timeout_minutes or cfg.search.timeout_minutes),
             workers=run.optuna_workers, reuse_run_id=found.run_id if found else None)
    summarize("plan_search", [f"reusing MLflow run {found.run_id}: same data and settings (fingerprint {fp}); no search" if found else
                              f"study {p.study_name}: {p.n_trials} trials over {p.workers} worker(s), {p.timeout_s:.0f}s budget"])
    return p


def step_tune(res: Resources, cfg: ProjectConfig, ex: Extracted, p: SearchPlan, worker: int, trials: int) -> Tuned:
    from pipelines.extract import load_snapshot
    from pipelines.search import tune

    if p.reuse_run_id:
        return Tuned(study_name=p.study_name, worker=worker, trials=0, complete=0, pruned=0, seconds=0.0)
    t = tune(cfg, load_snapshot(res.lake, ex.train_uri), p, worker, trials, res.optuna_storage, cfg.search.n_jobs or res.settings.n_jobs)
    summarize("tune", [f"worker {worker}: {t.trials} trials ({t.complete} complete, {t.pruned} pruned) in {t.seconds:.0f}s on "
                       f"{p.study_name}"])
    return t


def _trained(res: Resources, cfg: ProjectConfig, found: Any, fp: str) -> Trained:
    from pipelines.tracking import threshold_of

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
        from pipelines.training_run import log_training_run

        return log_training_run(res, cfg, run, ex, val, p)


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


# -------------------------------------------------------------------------------------- evaluate
def evaluate_against(res: Resources, cfg: ProjectConfig, ex: Extracted, tr: Trained, champ: VersionInfo | None
                     ) -> tuple[str, Evaluation, dict[str, Any] | None]:
    """The challenger vs `champ` (or none) on the comparison rows: computed once per (run, champion),
    stored under an immutable key; a second call reads it back."""
    from sklearn.dummy import DummyClassifier, DummyRegressor

    from pipelines.evaluate import Candidate, evaluate, model_threshold, temporal_backtest
    from pipelines.extract import load_snapshot
    from pipelines.operations import champion_ref
    from pipelines.targets import encode_target

    key = layout.evaluation_key(cfg.name, ex.as_of, ex.data_hash, tr.run_id, champ.version if champ else None)
    if res.lake.exists(key):
        return res.lake.uri(key), Evaluation.from_json(res.lake.get_json(key)), None
    train_df, test_df = load_snapshot(res.lake, ex.train_uri), load_snapshot(res.lake, ex.test_uri)
    model = res.load_model(tr.model_uri)
    dummy = DummyRegressor(strategy="median") if cfg.regression else DummyClassifier(strategy="prior")
    baseline = Candidate(dummy.fit(train_df[cfg.input_columns], encode_target(cfg, train_df)), None if cfg.regression else 0.5)
    champion = ref = keys = None
    if champ is not None:
        cm = res.load_model(f"models:/{cfg.name}/{champ.version}")
        champion, ref = Candidate(cm, model_threshold(cm, champ.threshold), champ.version), champion_ref(res, champ)
        keys = set(load_snapshot(res.lake, ref.train_uri)[layout.ROW_KEY].astype(str)) if ref.train_uri else None
    ev, scores = evaluate(cfg, test_df, run_id=tr.run_id, as_of=ex.as_of, data_hash=ex.data_hash,
                          challenger=Candidate(model, model_threshold(model, tr.threshold)), baseline=baseline, champion=champion,
                          champion_ref=ref, champion_train_keys=keys)
    if cfg.backtest is not None:
        import pandas as pd

        ev = ev.model_copy(update={"backtest": temporal_backtest(cfg, model, pd.concat([train_df, test_df], ignore_index=True))})
    uri, written = res.lake.write_json_once(key, ev.to_json())
    if not written:  # a concurrent attempt stored it first: that one is the record
        return uri, Evaluation.from_json(res.lake.get_json(key)), None
    return uri, ev, scores


def step_evaluate(res: Resources, cfg: ProjectConfig, run: RunSpec, ex: Extracted, tr: Trained) -> Evaluated:
    from pipelines.publish import log_evaluation

    champ = res.registry.alias_version(cfg.name, names.CHAMPION)  # a registry error fails the task; only "no model" is None
    if champ is not None and champ.run_id == tr.run_id:
        log.info("this run's own model is already champion v%s: comparing against the baseline only", champ.version)
        champ = None
    uri, ev, scores = evaluate_against(res, cfg, ex, tr, champ)
    log_evaluation(res, cfg, tr, ev, scores)
    p = cfg.primary_metric
    iv = ev.interval(p)
    value = ev.challenger.metrics.get(p)
    summarize("evaluate", [f"challenger {p} {'-' if value is None else format(value, '.4f')} on {ev.comparison_rows} comparison rows "
                           f"({ev.excluded_seen_by_champion} excluded as seen by the champion)",
                           f"vs champion v{ev.champion_version}: challenger - champion {iv.delta:+.4f}, {iv.confidence:.0%} CI "
                           f"[{iv.ci_low or 0:+.4f}, {iv.ci_high or 0:+.4f}]" if iv and iv.delta is not None
                           else "no champion yet: compared with the baseline only", f"report: {uri}"])
    return Evaluated(evaluation_uri=uri, run_id=tr.run_id, champion_version=ev.champion_version, primary=ev.challenger.metrics.get(p),
                     comparison_rows=ev.comparison_rows)


# -------------------------------------------------------------------------------------- register
def step_register(res: Resources, cfg: ProjectConfig, run: RunSpec, ex: Extracted, tr: Trained, evd: Evaluated) -> Registered:
    """Register once, decide once (write-ahead), move aliases last; a retry converges."""
    from pipelines.publish import publish_decision
    from pipelines.promotion import PromotionError, decide_and_move

    started = time.monotonic()
    ev = Evaluation.from_json(res.lake.get_json(res.lake.key_of(evd.evaluation_uri)))
    if ev.run_id != tr.run_id or evd.run_id != tr.run_id:
        raise PromotionError(f"the evaluation {evd.evaluation_uri} belongs to MLflow run {ev.run_id}, not to this run's {tr.run_id}: "
                             "refusing to register on it")
    version, reused = res.registry.register(cfg.name, tr.model_uri, tr.run_id, {
        names.AS_OF: run.as_of.isoformat(), names.DATA_HASH: ex.data_hash, names.RUN_KEY: run.run_key, names.FAMILY: tr.family,
        names.THRESHOLD: "" if tr.threshold is None else str(tr.threshold), names.TRAIN_URI: ex.train_uri, names.TEST_URI: ex.test_uri,
        names.WINDOW: ex.window, names.EVALUATION_URI: evd.evaluation_uri,
        names.DECISION: "pending", names.DECISION_STATE: "pending"})  # visibly undecided until the gate records its decision

    def rescore(champion: str | None) -> tuple[str, Evaluation]:
        uri, e, _ = evaluate_against(res, cfg, ex, tr, res.registry.version(cfg.name, champion) if champion else None)
        return uri, e

    rec, ev, again = decide_and_move(res, cfg, run, version, tr.run_id, evd.evaluation_uri, ev, rescore)
    publish_decision(res, cfg, rec, ev, ex, tr)
    champion = res.registry.aliases(cfg.name).get(names.CHAMPION)
    d = rec.decision
    summarize("register", [f"{cfg.name} v{version}{' (already registered)' if reused else ''}: {d.decision.upper()}"
                           + (" (recorded earlier; nothing decided twice)" if again else ""),
                           f"why: {d.reason[:400]}", f"promotion checks {d.promotion_checks}: {d.checks_summary}; champion is now "
                           f"v{champion}; register took {time.monotonic() - started:.1f}s"]
              + [f"failed: {c.detail[:200]}" for c in d.failed[:3]])
    return Registered(version=version, decision=d.decision, champion=champion, reused=again,
                      decision_uri=res.lake.uri(layout.decision_prefix(cfg.name, version)))


# ----------------------------------------------------------------------------------------- drift
def step_drift(res: Resources, cfg: ProjectConfig, run: RunSpec, ex: Extracted, tr: Trained, evd: Evaluated) -> DriftSummary:
    """Drift of this interval's new rows against the training rows of the champion that served it."""
    from pipelines.drift import DriftTarget, check_drift, record_drift
    from pipelines.extract import load_snapshot

    ev = Evaluation.from_json(res.lake.get_json(res.lake.key_of(evd.evaluation_uri)))
    current = load_snapshot(res.lake, ex.new_uri)
    if ev.champion is not None and ev.champion.train_uri:
        reference, source = load_snapshot(res.lake, ev.champion.train_uri), f"champion v{ev.champion.version} training rows"
    else:  # no champion served this interval: this run's training rows before the interval
        reference = load_snapshot(res.lake, ex.train_uri)
        reference = reference[~reference[layout.ROW_KEY].isin(current[layout.ROW_KEY])]
        source = "this run's training rows before the interval (no champion yet)"
    result, report = check_drift(cfg, reference, current, seed=cfg.split.seed)
    target = DriftTarget(json_key=layout.drift_key(cfg.name, run.as_of, ex.data_hash, tr.run_id, "json"),
                         html_key=layout.drift_key(cfg.name, run.as_of, ex.data_hash, tr.run_id, "html"), mlflow_run_id=tr.run_id,
                         mlflow_experiment_id=tr.experiment_id, metric="drift_share", artifact_dir=names.ARTIFACT_DRIFT)
    summary = record_drift(res, cfg, result, report, day=run.as_of, reference=source, target=target,
                           champion_version=ev.champion_version, label=f"as of {run.as_of}")
    res.registry.set_tags(tr.run_id, {names.DRIFT_STATUS: summary.status})
    res.registry.finish_run(tr.run_id)
    summarize("drift", [f"{summary.status}: {summary.reason}", f"reference: {source}; report: {summary.report_uri}"])
    return summary


# ------------------------------------------------------------------------------------------- all
def run_all(res: Resources, cfg: ProjectConfig, run: RunSpec) -> dict[str, Any]:
    """All steps in-process, in DAG order (the CLI's `run`)."""
    ex = step_extract(res, cfg, run)
    val = step_validate(res, cfg, run, ex)
    tr = step_train(res, cfg, run, ex, val)
    evd = step_evaluate(res, cfg, run, ex, tr)
    reg = step_register(res, cfg, run, ex, tr, evd)
    dr = step_drift(res, cfg, run, ex, tr, evd)
    return {"extract": ex, "validate": val, "train": tr, "evaluate": evd, "register": reg, "drift": dr}
