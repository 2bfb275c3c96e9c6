"""Train: an Optuna search (seeded TPE, median pruning on CV folds) over the configured model
families, then a refit of the best trial into ONE sklearn Pipeline and a decision threshold chosen
on out-of-fold predictions.

The saved Pipeline holds everything from raw columns to probabilities (feature engineering,
imputation, encoding/scaling, model), so serving needs nothing but the model and its threshold.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import optuna
import pandas as pd
from sklearn.base import BaseEstimator, clone
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.model_selection import KFold, StratifiedKFold
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from pipelines.config import LOWER_IS_BETTER, CategoricalParam, FloatParam, IntParam, ProjectConfig
from pipelines.evaluate import cost_metrics, model_metrics, threshold_metric
from pipelines.features import build_transformer

log = logging.getLogger(__name__)


def n_jobs() -> int:
    return int(os.environ.get("MLOPS_N_JOBS", "2"))


def build_estimator(family: str, params: dict[str, Any], seed: int, regression: bool = False) -> BaseEstimator:
    if family == "logistic_regression" and not regression:
        from sklearn.linear_model import LogisticRegression

        return LogisticRegression(max_iter=3000, random_state=seed, **params)
    if family == "ridge" and regression:
        from sklearn.linear_model import Ridge

        return Ridge(**params)
    if family == "random_forest":
        from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor

        return (RandomForestRegressor if regression else RandomForestClassifier)(random_state=seed, n_jobs=n_jobs(), **params)
    if family == "gradient_boosting":
        from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

        return (HistGradientBoostingRegressor if regression else HistGradientBoostingClassifier)(random_state=seed, **params)
    if family == "lightgbm":
        from lightgbm import LGBMClassifier, LGBMRegressor

        return (LGBMRegressor if regression else LGBMClassifier)(random_state=seed, n_jobs=n_jobs(), verbose=-1, subsample_freq=1, **params)
    raise ValueError(f"model family {family!r} does not fit a {'regression' if regression else 'classification'} task")


def build_pipeline(cfg: ProjectConfig, family: str, params: dict[str, Any], seed: int) -> Pipeline:
    """Feature engineering -> preprocessing -> model, as one Pipeline. Preprocessing is imputation +
    scaling / one-hot, or (categorical_encoding: native) typed columns for LightGBM's own handling."""
    from pipelines.features import NativeCategories

    fe = [build_transformer(s) for s in cfg.feature_engineering]
    derived_num = [c for t in fe if getattr(t, "output_kind", "numeric") == "numeric" for c in t.output_columns]  # type: ignore[attr-defined]
    derived_cat = [c for t in fe if getattr(t, "output_kind", "numeric") == "categorical" for c in t.output_columns]  # type: ignore[attr-defined]
    num_cols, cat_cols = [*cfg.numeric_features, *derived_num], [*cfg.categorical_features, *derived_cat]
    pre: Any
    if cfg.categorical_encoding == "native":
        pre = NativeCategories(numeric=num_cols, categorical=cat_cols)
    else:
        numeric = Pipeline([("impute", SimpleImputer(strategy="median")), ("scale", StandardScaler())])
        categorical = Pipeline(
            [
                ("impute", SimpleImputer(strategy="constant", fill_value="__missing__")),
                ("onehot", OneHotEncoder(handle_unknown="ignore", sparse_output=False)),
            ]
        )
        pre = ColumnTransformer([("num", numeric, num_cols), ("cat", categorical, cat_cols)], remainder="drop",
                                verbose_feature_names_out=False)
    steps: list[tuple[str, Any]] = [(f"fe_{i}_{s.transformer}", t) for i, (s, t) in enumerate(zip(cfg.feature_engineering, fe))]
    steps += [("preprocess", pre), ("model", build_estimator(family, params, seed, cfg.regression))]
    return Pipeline(steps)


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


def unpack(best_params: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    family = best_params["family"]
    prefix = f"{family}__"
    return family, {k[len(prefix) :]: v for k, v in best_params.items() if k.startswith(prefix)}


@dataclass
class TrainResult:
    model: Pipeline
    family: str
    params: dict[str, Any]
    cv_score: float
    threshold: float | None
    oof_metrics: dict[str, float]
    study_name: str
    n_trials: int
    n_complete: int
    n_pruned: int
    duration_s: float
    trials: pd.DataFrame = field(repr=False)
    study: Any = field(repr=False, default=None)

    def summary(self) -> dict[str, Any]:
        return {
            "family": self.family,
            "params": self.params,
            "cv_score": self.cv_score,
            "threshold": self.threshold,
            "oof_metrics": self.oof_metrics,
            "study_name": self.study_name,
            "n_trials": self.n_trials,
            "n_complete": self.n_complete,
            "n_pruned": self.n_pruned,
            "duration_s": round(self.duration_s, 2),
        }


def _xy(cfg: ProjectConfig, df: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray]:
    missing = [c for c in [*cfg.input_columns, cfg.target] if c not in df.columns]
    if missing:
        raise ValueError(f"training data lacks column(s) {missing}")
    y = df[cfg.target].to_numpy(dtype=float) if cfg.regression else df[cfg.target].astype(int).to_numpy()
    return df[cfg.input_columns], y


def folds_for(cfg: ProjectConfig) -> KFold | StratifiedKFold:
    cls = KFold if cfg.regression else StratifiedKFold
    return cls(n_splits=cfg.search.cv_folds, shuffle=True, random_state=cfg.search.seed)


def predict(model: Any, X: pd.DataFrame, regression: bool) -> np.ndarray:
    return np.asarray(model.predict(X), dtype=float) if regression else model.predict_proba(X)[:, 1]


def oof_predictions(pipe: Pipeline, X: pd.DataFrame, y: np.ndarray, folds: Any, regression: bool = False) -> np.ndarray:
    oof = np.zeros(len(y))
    for tr, va in folds.split(X, y):
        m = clone(pipe).fit(X.iloc[tr], y[tr])
        oof[va] = predict(m, X.iloc[va], regression)
    return oof


def choose_threshold(cfg: ProjectConfig, y: np.ndarray, proba: np.ndarray) -> float | None:
    """On out-of-fold predictions: maximise a metric, or (cost) the expected net benefit; None for regression."""
    if cfg.regression:
        return None
    if cfg.threshold.strategy == "fixed":
        assert cfg.threshold.value is not None
        return float(cfg.threshold.value)
    grid = np.round(np.linspace(0.02, 0.98, 97), 2)
    if cfg.threshold.strategy == "cost":
        assert cfg.threshold.cost is not None
        scores = [cost_metrics(y, proba, t, cfg.threshold.cost)["net_benefit"] for t in grid]
    else:
        scores = [threshold_metric(cfg.threshold.metric, y, proba, t) for t in grid]
    return float(grid[int(np.argmax(scores))])


def create_study(cfg: ProjectConfig, study_name: str, storage: str | None, fresh: bool = True) -> optuna.Study:
    direction: Literal["minimize", "maximize"] = "minimize" if cfg.primary_metric in LOWER_IS_BETTER else "maximize"
    if storage and storage.startswith("sqlite:///"):
        Path(storage.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    if fresh and storage:
        # A rerun of the same as-of date starts over, so it reproduces the same trials.
        try:
            optuna.delete_study(study_name=study_name, storage=storage)
        except KeyError:
            pass
    return optuna.create_study(
        study_name=study_name,
        storage=storage,
        direction=direction,
        sampler=optuna.samplers.TPESampler(seed=cfg.search.seed),
        pruner=optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=1),
        load_if_exists=not fresh,
    )


def make_objective(cfg: ProjectConfig, X: pd.DataFrame, y: np.ndarray, worker: int = 0) -> Any:
    """The Optuna objective: mean CV score of the primary metric, reported per fold for pruning."""
    folds = folds_for(cfg)
    families = list(cfg.search.families)
    primary = cfg.primary_metric

    def objective(trial: optuna.Trial) -> float:
        trial.set_user_attr("worker", worker)
        family = trial.suggest_categorical("family", families)
        params = suggest(trial, family, cfg.search.families[family])
        pipe = build_pipeline(cfg, family, params, cfg.search.seed)
        scores: list[float] = []
        for step, (tr, va) in enumerate(folds.split(X, y)):
            m = clone(pipe).fit(X.iloc[tr], y[tr])
            p = predict(m, X.iloc[va], cfg.regression)
            scores.append(model_metrics(cfg, y[va], p, 0.5, (primary,))[primary])
            trial.report(float(np.mean(scores)), step)
            if trial.should_prune():
                raise optuna.TrialPruned()
        return float(np.mean(scores))

    return objective


def _study(cfg: ProjectConfig, study_name: str, storage: str | None, seed: int) -> optuna.Study:
    """Load (never create) a study with this worker's own seeded sampler."""
    return optuna.load_study(
        study_name=study_name,
        storage=storage,
        sampler=optuna.samplers.TPESampler(seed=seed),
        pruner=optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=1),
    )


def optimize_worker(cfg_json: str, data_path: str, study_name: str, storage: str, n_trials: int, timeout_s: float, worker: int) -> int:
    """Entry point of an extra Optuna worker process (spawned): same study, its own seed."""
    import warnings

    warnings.filterwarnings("ignore")
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    cfg = ProjectConfig.model_validate_json(cfg_json)
    X, y = _xy(cfg, pd.read_parquet(data_path))
    study = _study(cfg, study_name, storage, cfg.search.seed + worker)
    cap = optuna.study.MaxTrialsCallback(n_trials, states=None)
    study.optimize(make_objective(cfg, X, y, worker), n_trials=n_trials, timeout=timeout_s, callbacks=[cap], gc_after_trial=True)
    return sum(1 for t in study.trials if t.user_attrs.get("worker") == worker)


def train(
    cfg: ProjectConfig,
    train_df: pd.DataFrame,
    *,
    study_name: str,
    storage: str | None = None,
    n_trials: int | None = None,
    timeout_minutes: float | None = None,
    workers: int = 1,
) -> TrainResult:
    """Search, refit the best trial, pick the threshold. `workers` > 1 runs that many processes
    on one study (needs a shared RDB storage such as Postgres; SQLite must not be shared); each
    has its own seeded sampler, and the total may exceed n_trials by up to workers-1 (trials that
    were already started when the cap was reached finish)."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    X, y = _xy(cfg, train_df)
    n_trials = n_trials or cfg.search.n_trials
    timeout_s = 60.0 * (timeout_minutes or cfg.search.timeout_minutes)
    if workers < 1:
        raise ValueError(f"optuna workers must be >= 1, got {workers}")
    if workers > 1 and (not storage or storage.startswith("sqlite")):
        raise ValueError(
            f"optuna_workers={workers} needs a shared RDB study storage (e.g. Postgres); {storage or 'in-memory'} "
            "must not be shared by parallel workers: set OPTUNA_STORAGE=postgresql+psycopg2://... or use 1 worker"
        )
    folds = folds_for(cfg)
    primary = cfg.primary_metric
    log.info(
        "training %s on %d rows (%s): %d trials max, %.0f s budget, %d-fold CV, %d worker(s), families %s, metric %s",
        cfg.name, len(y), f"mean {y.mean():,.1f}" if cfg.regression else f"{100 * y.mean():.1f}% positive", n_trials, timeout_s, cfg.search.cv_folds, workers, list(cfg.search.families), primary,
    )
    started = time.monotonic()

    def progress(study: optuna.Study, t: optuna.trial.FrozenTrial) -> None:
        done = len(study.trials)
        state = t.state.name.lower()
        val = f"{t.value:.4f}" if t.value is not None else "-"
        try:
            best = f"{study.best_value:.4f} (#{study.best_trial.number} {study.best_trial.params['family']})"
        except ValueError:
            best = "-"
        secs = (t.datetime_complete - t.datetime_start).total_seconds() if t.datetime_complete and t.datetime_start else 0.0
        log.info("trial %d/%d %s %s=%s in %.1fs; best %s; elapsed %.0fs",
                 done, n_trials, t.params.get("family"), primary, val if state == "complete" else state, secs, best,
                 time.monotonic() - started)

    study = create_study(cfg, study_name, storage)
    objective = make_objective(cfg, X, y)
    cap = optuna.study.MaxTrialsCallback(n_trials, states=None)
    if workers == 1:
        study.optimize(objective, n_trials=n_trials, timeout=timeout_s, callbacks=[progress], gc_after_trial=True)
    else:
        import concurrent.futures as cf
        import multiprocessing as mp
        import tempfile

        assert storage is not None
        with tempfile.TemporaryDirectory() as tmp:
            data_path = str(Path(tmp) / "train.parquet")
            train_df.to_parquet(data_path)
            # spawn, not fork: LightGBM's OpenMP runtime does not survive a fork.
            with cf.ProcessPoolExecutor(workers - 1, mp_context=mp.get_context("spawn")) as pool:
                futs = [pool.submit(optimize_worker, cfg.model_dump_json(), data_path, study_name, storage,
                                    n_trials, timeout_s, w) for w in range(1, workers)]
                study.optimize(objective, n_trials=n_trials, timeout=timeout_s, callbacks=[cap, progress], gc_after_trial=True)
                for f in futs:
                    f.result()
        study = optuna.load_study(study_name=study_name, storage=storage)
    complete = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    if not complete:
        raise RuntimeError(f"study {study_name}: no trial completed within {timeout_s:.0f}s ({len(study.trials)} started)")
    family, params = unpack(study.best_trial.params)
    best = build_pipeline(cfg, family, params, cfg.search.seed)
    oof = oof_predictions(best, X, y, folds, cfg.regression)
    threshold = choose_threshold(cfg, y, oof)
    oof_metrics = model_metrics(cfg, y, oof, threshold)
    model = best.fit(X, y)
    pruned = sum(t.state == optuna.trial.TrialState.PRUNED for t in study.trials)
    duration = time.monotonic() - started
    rule = ("no threshold (regression)" if threshold is None else
            f"threshold {threshold:.2f} (" + (f"max OOF net benefit {oof_metrics['net_benefit']:,.0f}, ROI {oof_metrics['roi']:.2f})"
                                             if cfg.threshold.strategy == "cost" else
                                             f"max OOF {cfg.threshold.metric}: {threshold_metric(cfg.threshold.metric, y, oof, threshold):.4f})"))
    log.info("best trial #%d: %s %s; CV %s=%.4f; %s; %d complete, %d pruned, %.0fs",
             study.best_trial.number, family, params, primary, study.best_value, rule, len(complete), pruned, duration)
    return TrainResult(
        model=model,
        family=family,
        params=params,
        cv_score=float(study.best_value),
        threshold=threshold,
        oof_metrics=oof_metrics,
        study_name=study_name,
        n_trials=len(study.trials),
        n_complete=len(complete),
        n_pruned=pruned,
        duration_s=duration,
        trials=study.trials_dataframe(),
        study=study,
    )


def study_plots(study: optuna.Study, outdir: Path) -> list[Path]:
    """Optimization history and parameter importances as PNGs (best effort: small studies may lack them)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from optuna.visualization import matplotlib as ovm

    out = []
    for name, fn in (("optuna_history.png", ovm.plot_optimization_history), ("optuna_importances.png", ovm.plot_param_importances)):
        try:
            import warnings

            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                ax: Any = fn(study)
            fig: Any = ax.figure if hasattr(ax, "figure") else ax[0].figure
            fig.tight_layout()
            fig.savefig(outdir / name, dpi=90)
            plt.close(fig)
            out.append(outdir / name)
        except Exception as e:  # e.g. importances need >= 2 complete trials of one family
            log.info("skipped %s: %s", name, e)
    return out
