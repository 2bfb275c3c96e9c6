"""Metrics (scikit-learn), their paired bootstrap (scipy), slices and fairness: pure functions over
arrays and a project config. Used by the search, evaluate, `compare` and the benchmarks alike, so a
decision, a comparison and a benchmark all compute the same numbers the same way.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn import metrics as skm

from pipelines.config import REGRESSION_METRICS, BootstrapConfig, CostModel, ProjectConfig
from pipelines.contracts import OVERALL, DeltaInterval, FairnessResult, MetricInterval, SliceScore, finite_or_none

_RANKING = frozenset({"roc_auc", "pr_auc"})
_EPS = 1e-7
# Bootstrap on at most this many rows (a seeded subsample, the same rows for both models): beyond it the
# interval is already narrow, and cost (time and memory) would grow with the window.
MAX_BOOTSTRAP_ROWS = 50_000
_CLASSIFICATION = {
    "roc_auc": lambda y, p, pred: skm.roc_auc_score(y, p),
    "pr_auc": lambda y, p, pred: skm.average_precision_score(y, p),
    "f1": lambda y, p, pred: skm.f1_score(y, pred, zero_division=0),
    "precision": lambda y, p, pred: skm.precision_score(y, pred, zero_division=0),
    "recall": lambda y, p, pred: skm.recall_score(y, pred, zero_division=0),
    "accuracy": lambda y, p, pred: skm.accuracy_score(y, pred),
    "brier": lambda y, p, pred: skm.brier_score_loss(y, p),
    "log_loss": lambda y, p, pred: skm.log_loss(y, p, labels=[0, 1]),
    "positive_rate": lambda y, p, pred: pred.mean() if len(pred) else float("nan"),
}


def classification_metrics(y: np.ndarray, proba: np.ndarray, threshold: float,
                           only: tuple[str, ...] | None = None) -> dict[str, float | None]:
    """Metrics at `threshold` (predicted positive: proba >= threshold, as the saved model does)."""
    y = np.asarray(y).astype(int)
    proba = np.clip(np.asarray(proba, dtype=float), _EPS, 1 - _EPS)
    pred = (proba >= threshold).astype(int)
    two = len(np.unique(y)) == 2
    return {name: None if (name in _RANKING and not two) or not len(y) else finite_or_none(fn(y, proba, pred))
            for name, fn in _CLASSIFICATION.items() if only is None or name in only}


def regression_metrics(y: np.ndarray, pred: np.ndarray, only: tuple[str, ...] | None = None) -> dict[str, float | None]:
    """RMSE, MAE, R2, MAPE (rows with y == 0 excluded, so it is defined) and sMAPE."""
    y, pred = np.asarray(y, dtype=float), np.asarray(pred, dtype=float)
    if len(y) == 0:
        return {k: None for k in REGRESSION_METRICS if only is None or k in only}
    nz = y != 0
    denom = np.abs(y) + np.abs(pred)
    fns = {
        "rmse": lambda: float(np.sqrt(skm.mean_squared_error(y, pred))),
        "mae": lambda: float(skm.mean_absolute_error(y, pred)),
        "r2": lambda: float(skm.r2_score(y, pred)) if len(y) > 1 else None,
        "mape": lambda: float(skm.mean_absolute_percentage_error(y[nz], pred[nz])) if nz.any() else None,
        "smape": lambda: float(np.mean(np.where(denom > 0, 2 * np.abs(pred - y) / np.where(denom > 0, denom, 1), 0.0))),
    }
    return {k: finite_or_none(fn()) for k, fn in fns.items() if only is None or k in only}


def cost_metrics(y: np.ndarray, proba: np.ndarray, threshold: float, cost: CostModel,
                 amounts: np.ndarray | None = None) -> dict[str, float | None]:
    """Value of flagging at `threshold` (pipelines.config.CostModel): caught positives save
    amount * loss_rate, flagged negatives forgo amount * profit_rate, every flag costs review_cost.
    ROI = net benefit / what flagging cost (reviews + forgone margin)."""
    flag = np.asarray(proba) >= threshold
    y = np.asarray(y).astype(int)
    amt = amounts if amounts is not None else np.full(len(y), float(cost.amount or 0.0))
    saved = float((amt * (flag & (y == 1))).sum()) * cost.loss_rate
    spend = float(flag.sum()) * cost.review_cost + float((amt * (flag & (y == 0))).sum()) * cost.profit_rate
    net = saved - spend
    return {"net_benefit": net, "roi": (net / spend) if spend > 0 else None,
            "flagged_rate": float(flag.mean()) if len(flag) else None}


def model_metrics(cfg: ProjectConfig, y: np.ndarray, p: np.ndarray, threshold: float | None,
                  only: tuple[str, ...] | None = None, amounts: np.ndarray | None = None) -> dict[str, float | None]:
    """The task's metrics: regression, or classification (+ cost metrics when the project has a cost model)."""
    if cfg.regression:
        return regression_metrics(y, p, only)
    thr = 0.5 if threshold is None else threshold
    out = classification_metrics(y, p, thr, only)
    cost = cfg.threshold.cost
    if cost is not None and (only is None or {"net_benefit", "roi"} & set(only)):
        out.update(cost_metrics(y, p, thr, cost, amounts))
    return out


def threshold_metric(name: str, y: np.ndarray, proba: np.ndarray, t: float) -> float:
    pred = (proba >= t).astype(int)
    fn = {"f1": lambda: skm.f1_score(y, pred, zero_division=0), "accuracy": lambda: skm.accuracy_score(y, pred),
          "balanced_accuracy": lambda: skm.balanced_accuracy_score(y, pred),
          "precision": lambda: skm.precision_score(y, pred, zero_division=0),
          "recall": lambda: skm.recall_score(y, pred, zero_division=0)}[name]
    return float(fn())


# ------------------------------------------------------------------------------ paired bootstrap
def _vectorized(metric: str, y: np.ndarray, s: np.ndarray, thr: float, cost: CostModel | None, amounts: np.ndarray | None,
                axis: int = -1) -> np.ndarray:
    """`metric` along `axis` for a batch of resamples (the same definitions as scikit-learn's)."""
    from scipy.stats import rankdata

    y = y.astype(float)
    if metric in REGRESSION_METRICS:
        err = s - y
        if metric == "rmse":
            return np.sqrt(np.mean(err**2, axis=axis))
        if metric == "mae":
            return np.mean(np.abs(err), axis=axis)
        if metric == "r2":
            ss_res = np.sum(err**2, axis=axis)
            ss_tot = np.sum((y - np.mean(y, axis=axis, keepdims=True)) ** 2, axis=axis)
            return 1 - ss_res / np.where(ss_tot > 0, ss_tot, np.nan)
        if metric == "mape":
            nz = y != 0
            ape = np.where(nz, np.abs(err) / np.where(nz, np.abs(y), 1.0), 0.0)
            return np.sum(ape, axis=axis) / np.where(nz.sum(axis=axis) > 0, nz.sum(axis=axis), np.nan)
        denom = np.abs(y) + np.abs(s)
        return np.mean(np.where(denom > 0, 2 * np.abs(err) / np.where(denom > 0, denom, 1), 0.0), axis=axis)
    s = np.clip(s, _EPS, 1 - _EPS)
    n1 = y.sum(axis=axis)
    n0 = y.shape[axis] - n1
    if metric == "roc_auc":
        r = rankdata(s, axis=axis)
        return ((r * y).sum(axis=axis) - n1 * (n1 + 1) / 2) / np.where(n1 * n0 > 0, n1 * n0, np.nan)
    if metric == "pr_auc":  # average precision: mean precision at each positive's rank (ties broken by order)
        order = np.argsort(-s, axis=axis, kind="stable")
        ys = np.take_along_axis(y, order, axis=axis)
        ranks = np.arange(1, ys.shape[axis] + 1).reshape([-1 if d == (axis % ys.ndim) else 1 for d in range(ys.ndim)])
        prec = np.cumsum(ys, axis=axis) / ranks
        return (prec * ys).sum(axis=axis) / np.where(n1 > 0, n1, np.nan)
    if metric == "brier":
        return np.mean((s - y) ** 2, axis=axis)
    if metric == "log_loss":
        return -np.mean(y * np.log(s) + (1 - y) * np.log(1 - s), axis=axis)
    pred = (s >= thr).astype(float)
    tp, fp = (pred * y).sum(axis=axis), (pred * (1 - y)).sum(axis=axis)
    fn = ((1 - pred) * y).sum(axis=axis)
    if metric == "accuracy":
        return np.mean(pred == y, axis=axis)
    if metric == "precision":
        return np.where(tp + fp > 0, tp / np.where(tp + fp > 0, tp + fp, 1), 0.0)
    if metric == "recall":
        return np.where(tp + fn > 0, tp / np.where(tp + fn > 0, tp + fn, 1), 0.0)
    if metric == "f1":
        d = 2 * tp + fp + fn
        return np.where(d > 0, 2 * tp / np.where(d > 0, d, 1), 0.0)
    if metric == "net_benefit" and cost is not None:
        amt = amounts if amounts is not None else np.full(y.shape, float(cost.amount or 0.0))
        return ((pred * y * amt).sum(axis=axis) * cost.loss_rate - (pred * (1 - y) * amt).sum(axis=axis) * cost.profit_rate
                - pred.sum(axis=axis) * cost.review_cost)
    raise ValueError(f"no bootstrap kernel for metric {metric!r}")


def _bounded_rows(seed: int, *columns: np.ndarray) -> list[np.ndarray]:
    """The same seeded subsample of at most MAX_BOOTSTRAP_ROWS rows from every column (all as is when shorter)."""
    n = len(columns[0])
    if n <= MAX_BOOTSTRAP_ROWS:
        return list(columns)
    keep = np.sort(np.random.default_rng(seed).choice(n, MAX_BOOTSTRAP_ROWS, replace=False))
    return [c[keep] for c in columns]


def paired_bootstrap(metric: str, y: np.ndarray, p_new: np.ndarray, p_old: np.ndarray, *, thr_new: float | None = 0.5,
                     thr_old: float | None = 0.5, boot: BootstrapConfig = BootstrapConfig(), cost: CostModel | None = None,
                     amounts: np.ndarray | None = None, slice_name: str = OVERALL) -> DeltaInterval:
    """Percentile CI of metric(new) - metric(old), resampling rows jointly (scipy.stats.bootstrap,
    paired, vectorised). Both models are scored on the same resampled rows."""
    from scipy.stats import bootstrap

    y = np.asarray(y, dtype=float)
    a = np.asarray(amounts, dtype=float) if amounts is not None else np.zeros(len(y))
    tn, to = 0.5 if thr_new is None else thr_new, 0.5 if thr_old is None else thr_old
    use_amounts = amounts is not None
    y, p_new, p_old, a = _bounded_rows(boot.seed, y, np.asarray(p_new, float), np.asarray(p_old, float), a)

    def stat(yy: np.ndarray, pn: np.ndarray, po: np.ndarray, aa: np.ndarray, axis: int = -1) -> np.ndarray:
        am = aa if use_amounts else None
        return _vectorized(metric, yy, pn, tn, cost, am, axis) - _vectorized(metric, yy, po, to, cost, am, axis)

    point = float(stat(y, p_new, p_old, a))
    if len(y) < 10 or not np.isfinite(point):
        return DeltaInterval(metric=metric, slice=slice_name, n=len(y), delta=finite_or_none(point), ci_low=None, ci_high=None,
                             confidence=boot.confidence, resamples=boot.resamples)
    res = bootstrap((y, p_new, p_old, a), stat, paired=True, vectorized=True, n_resamples=boot.resamples,
                    confidence_level=boot.confidence, method="percentile", batch=max(10, min(250, 5_000_000 // len(y))),
                    random_state=np.random.default_rng(boot.seed))
    return DeltaInterval(metric=metric, slice=slice_name, n=len(y), delta=point, ci_low=finite_or_none(res.confidence_interval.low),
                         ci_high=finite_or_none(res.confidence_interval.high), confidence=boot.confidence, resamples=boot.resamples)


def metric_intervals(cfg: ProjectConfig, y: np.ndarray, p: np.ndarray, threshold: float | None,
                     amounts: np.ndarray | None = None, resamples: int = 300) -> dict[str, MetricInterval]:
    """Bootstrap CIs of one model's metrics (for the model card): same kernel, one model."""
    from scipy.stats import bootstrap

    boot = cfg.promotion.bootstrap
    names = [m for m in (REGRESSION_METRICS if cfg.regression else ("roc_auc", "f1", "precision", "recall", "accuracy", "brier"))]
    if cfg.threshold.cost is not None:
        names.append("net_benefit")
    point = model_metrics(cfg, y, p, threshold, amounts=amounts)
    out: dict[str, MetricInterval] = {}
    if len(y) < 10:
        return {n: MetricInterval(metric=n, value=point.get(n), ci_low=None, ci_high=None) for n in names}
    thr = 0.5 if threshold is None else threshold
    a = amounts if amounts is not None else np.zeros(len(y))
    y, p, a = _bounded_rows(boot.seed, np.asarray(y, float), np.asarray(p, float), np.asarray(a, float))
    for n in names:
        def stat(yy: np.ndarray, pp: np.ndarray, aa: np.ndarray, axis: int = -1, n: str = n) -> np.ndarray:
            return _vectorized(n, yy, pp, thr, cfg.threshold.cost, aa if amounts is not None else None, axis)

        res = bootstrap((y, p, a), stat, paired=True, vectorized=True, n_resamples=resamples, confidence_level=boot.confidence,
                        method="percentile", batch=max(10, min(300, 5_000_000 // len(y))), random_state=np.random.default_rng(boot.seed))
        out[n] = MetricInterval(metric=n, value=point.get(n), ci_low=finite_or_none(res.confidence_interval.low),
                                ci_high=finite_or_none(res.confidence_interval.high))
    return out


# ------------------------------------------------------------------------------ slices, fairness
def slice_masks(cfg: ProjectConfig, df: pd.DataFrame) -> dict[str, np.ndarray]:
    """Named boolean masks: `overall`, `<col>=<value>` per category, `<col>=[lo,hi)` per numeric band."""
    masks: dict[str, np.ndarray] = {OVERALL: np.ones(len(df), dtype=bool)}
    for col in cfg.slices.categorical:
        for value in sorted(df[col].dropna().astype(str).unique()):
            masks[f"{col}={value}"] = (df[col].astype(str) == value).to_numpy()
    for band in cfg.slices.numeric_bands:
        vals = pd.to_numeric(df[band.column], errors="coerce").to_numpy()
        for lo, hi in zip(band.edges, band.edges[1:]):
            masks[f"{band.column}=[{lo:g},{hi:g})"] = (vals >= lo) & (vals < hi)
    return masks


def judged(cfg: ProjectConfig, y: np.ndarray) -> bool:
    """Enough rows (and, for classification, enough of each class) to judge a slice."""
    n = len(y)
    if cfg.regression:
        return n >= cfg.slices.min_size
    pos = int(np.sum(y))
    return n >= cfg.slices.min_size and min(pos, n - pos) >= cfg.slices.min_positives


def slice_scores(cfg: ProjectConfig, masks: dict[str, np.ndarray], y: np.ndarray, p: np.ndarray, threshold: float | None,
                 amounts: np.ndarray | None = None) -> list[SliceScore]:
    out = []
    for name, mask in masks.items():
        yy = y[mask]
        metrics = model_metrics(cfg, yy, p[mask], threshold, amounts=None if amounts is None else amounts[mask]) if len(yy) else {}
        out.append(SliceScore(name=name, n=int(mask.sum()), positives=None if cfg.regression else int(yy.sum()),
                              judged=judged(cfg, yy), metrics=metrics))
    return out


def disparate_impact(groups: np.ndarray, pred: np.ndarray, feature: str, min_size: int = 1) -> FairnessResult:
    """Selection (predicted-positive) rate per group and min/max ratio over groups with >= min_size rows."""
    sizes = {g: int((groups == g).sum()) for g in sorted(set(groups.tolist()))}
    rates = {g: float(pred[groups == g].mean()) for g in sizes}
    judged_rates = {g: r for g, r in rates.items() if sizes[g] >= min_size}
    hi = max(judged_rates.values()) if judged_rates else 0.0
    ratio = (min(judged_rates.values()) / hi) if hi > 0 and len(judged_rates) > 1 else None
    return FairnessResult(feature=feature, selection_rates=rates, group_sizes=sizes, judged_groups=sorted(judged_rates),
                          disparate_impact=ratio)
