"""Evaluate: challenger, current champion and a dummy baseline, scored on the SAME comparison rows.

The comparison rows are the run's test rows minus every row in the champion's training snapshot
(matched by row key): neither model trained on them. On them: global metrics at each model's own
threshold, the same per slice (overall always; slices under the minimum size reported, not judged),
paired bootstrap intervals of challenger - champion for every (metric, slice) a change threshold
needs, disparate impact per sensitive feature, and a separate line for the "fresh" rows that
arrived after the champion's as-of date. The result is an `Evaluation` (pipelines.contracts).
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from pipelines.config import LOWER_IS_BETTER, ProjectConfig
from pipelines.contracts import OVERALL, Backtest, ChampionRef, DeltaInterval, Evaluation, FreshRows, ModelScores, layout
from pipelines.domain.estimators import predict_scores
from pipelines.domain.metrics import disparate_impact, metric_intervals, model_metrics, paired_bootstrap, slice_masks, slice_scores
from pipelines.domain.targets import encode_target, row_amounts

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Candidate:
    """A model to score: its scores on the comparison rows are computed once."""

    model: Any
    threshold: float | None
    version: str | None = None


def model_threshold(model: Any, fallback: float | None = None) -> float | None:
    """The decision threshold a model applies in `predict` (FixedThresholdClassifier), else `fallback`."""
    t = getattr(model, "threshold", None)
    return float(t) if isinstance(t, (int, float)) else fallback


def comparison_rows(test_df: pd.DataFrame, champion_train_keys: set[str] | None) -> tuple[pd.DataFrame, int]:
    """The test rows neither model trained on, and how many were dropped as seen by the champion."""
    if not champion_train_keys:
        return test_df.reset_index(drop=True), 0
    seen = test_df[layout.ROW_KEY].astype(str).isin(champion_train_keys).to_numpy()
    return test_df[~seen].reset_index(drop=True), int(seen.sum())


def _interval_targets(cfg: ProjectConfig, masks: dict[str, np.ndarray], judged: dict[str, bool]) -> list[tuple[str, str]]:
    """(metric, slice) pairs whose paired interval the policy needs, plus the primary metric overall."""
    out = [(cfg.primary_metric, OVERALL)]
    for t in cfg.promotion.change_thresholds:
        if not t.needs_interval:
            continue
        slices = [s for s in masks if s != OVERALL and judged.get(s)] if t.slice == "*" else [t.slice]
        out += [(t.metric, s) for s in slices if s in masks]
    return list(dict.fromkeys(out))


def delta_intervals(cfg: ProjectConfig, y: np.ndarray, new: np.ndarray, old: np.ndarray, thr_new: float | None,
                    thr_old: float | None, masks: dict[str, np.ndarray], targets: list[tuple[str, str]],
                    amounts: np.ndarray | None) -> list[DeltaInterval]:
    out = []
    for metric, name in targets:
        m = masks[name]
        out.append(paired_bootstrap(metric, y[m], new[m], old[m], thr_new=thr_new, thr_old=thr_old, boot=cfg.promotion.bootstrap,
                                    cost=cfg.threshold.cost, amounts=None if amounts is None else amounts[m], slice_name=name))
    return out


def fresh_rows(cfg: ProjectConfig, rows: pd.DataFrame, y: np.ndarray, scores: dict[str, np.ndarray], thresholds: dict[str, float | None],
               champion: ChampionRef, amounts: np.ndarray | None) -> FreshRows | None:
    if not champion.as_of:
        return None
    since = dt.date.fromisoformat(champion.as_of)
    m = (rows[layout.ROW_DATE] >= since.isoformat()).to_numpy()
    if not m.any():
        return FreshRows(since=since, n=0)
    am = None if amounts is None else amounts[m]
    metrics = {k: model_metrics(cfg, y[m], s[m], thresholds[k], amounts=am) for k, s in scores.items() if k != "baseline"}
    delta = paired_bootstrap(cfg.primary_metric, y[m], scores["challenger"][m], scores["champion"][m], thr_new=thresholds["challenger"],
                             thr_old=thresholds["champion"], boot=cfg.promotion.bootstrap, cost=cfg.threshold.cost, amounts=am,
                             slice_name="fresh")
    return FreshRows(since=since, n=int(m.sum()), metrics=metrics, delta=delta)


def evaluate(cfg: ProjectConfig, test_df: pd.DataFrame, *, run_id: str, as_of: dt.date, data_hash: str,
             challenger: Candidate, baseline: Candidate, champion: Candidate | None = None,
             champion_ref: ChampionRef | None = None, champion_train_keys: set[str] | None = None
             ) -> tuple[Evaluation, dict[str, np.ndarray]]:
    """The evaluation report plus the raw scores (for plots), all on the same comparison rows."""
    rows, excluded = comparison_rows(test_df, champion_train_keys if champion is not None else None)
    X, y = rows[cfg.input_columns], encode_target(cfg, rows)
    amounts = row_amounts(cfg, rows)
    cands = {"challenger": challenger, "baseline": baseline, **({"champion": champion} if champion is not None else {})}
    scores = {k: predict_scores(c.model, X, cfg.regression) for k, c in cands.items()}
    thresholds = {k: c.threshold for k, c in cands.items()}
    masks = slice_masks(cfg, rows)
    models = {k: ModelScores(version=c.version, threshold=c.threshold, metrics=model_metrics(cfg, y, scores[k], c.threshold, amounts=amounts),
                             slices=slice_scores(cfg, masks, y, scores[k], c.threshold, amounts)) for k, c in cands.items()}
    judged = {s.name: s.judged for s in models["challenger"].slices}
    intervals: list[DeltaInterval] = []
    fresh = None
    if champion is not None and len(y):
        intervals = delta_intervals(cfg, y, scores["challenger"], scores["champion"], challenger.threshold, champion.threshold, masks,
                                    _interval_targets(cfg, masks, judged), amounts)
        fresh = fresh_rows(cfg, rows, y, scores, thresholds, champion_ref, amounts) if champion_ref else None
    fairness, confusion = [], None
    if not cfg.regression and len(y):
        from sklearn.metrics import confusion_matrix

        pred = (np.clip(scores["challenger"], 1e-7, 1 - 1e-7) >= (challenger.threshold or 0.5)).astype(int)
        fairness = [disparate_impact(rows[f].astype(str).to_numpy(), pred, f, cfg.slices.min_size) for f in cfg.sensitive_features]
        confusion = confusion_matrix(y, pred, labels=[0, 1]).tolist()
    report = Evaluation(
        project=cfg.name, as_of=as_of, run_id=run_id, data_hash=data_hash, primary_metric=cfg.primary_metric,
        higher_is_better=cfg.primary_metric not in LOWER_IS_BETTER, test_rows=len(test_df), comparison_rows=len(rows),
        excluded_seen_by_champion=excluded, positive_rate=None if cfg.regression or not len(y) else float(np.mean(y)),
        champion=champion_ref if champion is not None else None, models=models, intervals=intervals,
        metric_cis=metric_intervals(cfg, y, scores["challenger"], challenger.threshold, amounts) if len(y) else {},
        fairness=fairness, fresh=fresh, confusion_matrix=confusion)
    _log_summary(cfg, report)
    return report, {"y": y, **scores}


def _log_summary(cfg: ProjectConfig, r: Evaluation) -> None:
    m, p = r.models, cfg.primary_metric
    line = (f"test {p} on {r.comparison_rows} comparison rows ({r.excluded_seen_by_champion} of {r.test_rows} test rows excluded: "
            f"seen by the champion): challenger {_f(m['challenger'].metrics.get(p))}, baseline {_f(m['baseline'].metrics.get(p))}")
    iv = r.interval(p)
    if "champion" in m and iv is not None:
        line += (f", champion v{r.champion_version} {_f(m['champion'].metrics.get(p))}; challenger - champion {_f(iv.delta, '+.4f')} "
                 f"[{_f(iv.ci_low, '+.4f')}, {_f(iv.ci_high, '+.4f')}]")
    else:
        line += ", no champion yet"
    log.info(line)
    if r.fresh is not None and r.fresh.n:
        d = r.fresh.delta
        log.info("fresh rows (since the champion's as-of %s): %d rows; challenger - champion %s %s", r.fresh.since, r.fresh.n, p,
                 f"{_f(d.delta, '+.4f')} [{_f(d.ci_low, '+.4f')}, {_f(d.ci_high, '+.4f')}]" if d else "-")


def _f(v: float | None, fmt: str = ".4f") -> str:
    return "-" if v is None else format(v, fmt)


def temporal_backtest(cfg: ProjectConfig, model: Any, frame: pd.DataFrame) -> Backtest:
    """Refit the challenger's estimator on the oldest part of the window and score the newest part."""
    from sklearn.base import clone

    assert cfg.backtest is not None
    t = pd.to_datetime(frame[cfg.backtest.time_column], errors="coerce")
    order = np.argsort(t.to_numpy(), kind="stable")
    cut = int(len(frame) * (1 - cfg.backtest.fraction))
    old, new = frame.iloc[order[:cut]], frame.iloc[order[cut:]]
    est = getattr(model, "estimator", model)
    est = getattr(est, "estimator", est)  # unwrap FixedThresholdClassifier(FrozenEstimator(...)) for a fresh fit
    m = clone(est).fit(old[cfg.input_columns], encode_target(cfg, old))
    p = predict_scores(m, new[cfg.input_columns], cfg.regression)
    return Backtest(train_rows=len(old), test_rows=len(new), cutoff=str(t.iloc[order[cut]].date()) if len(new) else None,
                    metrics=model_metrics(cfg, encode_target(cfg, new), p, model_threshold(model), amounts=row_amounts(cfg, new)))
