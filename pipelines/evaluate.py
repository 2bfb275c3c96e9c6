"""Evaluate: challenger, current champion and a dummy baseline, scored on the SAME test rows.

Global metrics at each model's own decision threshold, the same per slice (the overall slice always
included; slices under the minimum size are reported but not judged), a paired bootstrap CI of
challenger minus champion on the primary metric (scipy), and disparate impact per sensitive feature.
The report is a plain JSON-able dict: the policy reads it, MLflow and the lake store it.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn import metrics as skm

from pipelines.config import LOWER_IS_BETTER, ProjectConfig

log = logging.getLogger(__name__)

OVERALL = "overall"


_RANKING = frozenset({"roc_auc", "pr_auc"})
_METRIC_FNS = {
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


def classification_metrics(
    y: np.ndarray, proba: np.ndarray, threshold: float, only: tuple[str, ...] | None = None
) -> dict[str, float]:
    """Metrics from scikit-learn (all, or `only` these); ranking metrics are NaN when y has one class."""
    y = np.asarray(y).astype(int)
    proba = np.clip(np.asarray(proba, dtype=float), 1e-7, 1 - 1e-7)
    pred = (proba >= threshold).astype(int)
    two = len(np.unique(y)) == 2
    return {
        name: float("nan") if (name in _RANKING and not two) else float(fn(y, proba, pred))
        for name, fn in _METRIC_FNS.items()
        if only is None or name in only
    }


def regression_metrics(y: np.ndarray, pred: np.ndarray, only: tuple[str, ...] | None = None) -> dict[str, float]:
    """RMSE, MAE, R2, MAPE (rows with y == 0 excluded, so it is defined) and sMAPE, from scikit-learn."""
    y, pred = np.asarray(y, dtype=float), np.asarray(pred, dtype=float)
    nz = y != 0
    denom = np.abs(y) + np.abs(pred)
    fns = {
        "rmse": lambda: float(np.sqrt(skm.mean_squared_error(y, pred))),
        "mae": lambda: float(skm.mean_absolute_error(y, pred)),
        "r2": lambda: float(skm.r2_score(y, pred)) if len(y) > 1 else float("nan"),
        "mape": lambda: float(skm.mean_absolute_percentage_error(y[nz], pred[nz])) if nz.any() else float("nan"),
        "smape": lambda: float(np.mean(np.where(denom > 0, 2 * np.abs(pred - y) / np.where(denom > 0, denom, 1), 0.0))),
    }
    if len(y) == 0:
        return {k: float("nan") for k in fns if only is None or k in only}
    return {k: fn() for k, fn in fns.items() if only is None or k in only}


def cost_metrics(y: np.ndarray, proba: np.ndarray, threshold: float, cost: Any) -> dict[str, float]:
    """Expected value of flagging at `threshold`: each caught positive saves amount * loss_rate,
    each flag costs review_cost. ROI = net benefit / review spend."""
    flag = np.asarray(proba) >= threshold
    y = np.asarray(y).astype(int)
    saved = float((flag & (y == 1)).sum()) * cost.amount * cost.loss_rate
    spend = float(flag.sum()) * cost.review_cost
    net = saved - spend
    return {"net_benefit": net, "roi": (net / spend) if spend > 0 else float("nan"), "flagged_rate": float(flag.mean()) if len(flag) else float("nan")}


def model_metrics(cfg: ProjectConfig, y: np.ndarray, p: np.ndarray, threshold: float | None,
                  only: tuple[str, ...] | None = None) -> dict[str, float]:
    """The task's metrics: regression, or classification (+ cost metrics when the project has a cost model)."""
    if cfg.regression:
        return regression_metrics(y, p, only)
    thr = 0.5 if threshold is None else threshold
    out = classification_metrics(y, p, thr, only)
    if cfg.threshold.cost is not None and (only is None or {"net_benefit", "roi"} & set(only)):
        out.update(cost_metrics(y, p, thr, cfg.threshold.cost))
    return out


def threshold_metric(name: str, y: np.ndarray, proba: np.ndarray, t: float) -> float:
    pred = (proba >= t).astype(int)
    fn = {
        "f1": lambda: skm.f1_score(y, pred, zero_division=0),
        "accuracy": lambda: skm.accuracy_score(y, pred),
        "balanced_accuracy": lambda: skm.balanced_accuracy_score(y, pred),
        "precision": lambda: skm.precision_score(y, pred, zero_division=0),
        "recall": lambda: skm.recall_score(y, pred, zero_division=0),
    }[name]
    return float(fn())


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


def slice_metrics(
    cfg: ProjectConfig, df: pd.DataFrame, y: np.ndarray, proba: np.ndarray, threshold: float | None
) -> list[dict[str, Any]]:
    rows = []
    for name, mask in slice_masks(cfg, df).items():
        n = int(mask.sum())
        if cfg.regression:
            judged, extra = n >= cfg.slices.min_size, {}
        else:
            pos = int(y[mask].sum()) if n else 0
            judged, extra = n >= cfg.slices.min_size and min(pos, n - pos) >= cfg.slices.min_positives, {"positives": pos}
        row: dict[str, Any] = {"slice": name, "n": n, **extra, "judged": judged}
        row.update(model_metrics(cfg, y[mask], proba[mask], threshold) if n else {})
        rows.append(row)
    return rows


def paired_bootstrap_delta(
    metric: str,
    y: np.ndarray,
    p_a: np.ndarray,
    p_b: np.ndarray,
    *,
    threshold_a: float | None = 0.5,
    threshold_b: float | None = 0.5,
    n_resamples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
) -> dict[str, float]:
    """CI of metric(a) - metric(b) resampling rows jointly (scipy.stats.bootstrap, paired)."""
    from scipy.stats import bootstrap

    regression = metric in ("rmse", "mae", "r2", "mape", "smape")
    one = (metric,)

    def m(yy: np.ndarray, pp: np.ndarray, thr: float | None) -> float:
        if regression:
            return regression_metrics(yy, pp, one)[metric]
        return classification_metrics(yy, pp, 0.5 if thr is None else thr, one)[metric]

    def stat(yy: np.ndarray, aa: np.ndarray, bb: np.ndarray) -> float:
        if not regression and len(np.unique(yy)) < 2:
            return np.nan
        return m(yy, aa, threshold_a) - m(yy, bb, threshold_b)

    delta = stat(y, p_a, p_b)
    res = bootstrap(
        (y, p_a, p_b), stat, paired=True, vectorized=False, n_resamples=n_resamples,
        confidence_level=confidence, method="percentile", random_state=np.random.default_rng(seed),
    )
    return {
        "delta": float(delta),
        "ci_low": float(res.confidence_interval.low),
        "ci_high": float(res.confidence_interval.high),
        "confidence": confidence,
        "n_resamples": n_resamples,
    }


def disparate_impact(df: pd.DataFrame, pred: np.ndarray, feature: str, min_size: int = 1) -> dict[str, Any]:
    """Selection (predicted-positive) rate per group and min/max ratio over groups with >= min_size rows."""
    groups = df[feature].astype(str).to_numpy()
    sizes = {g: int((groups == g).sum()) for g in sorted(set(groups))}
    rates = {g: float(pred[groups == g].mean()) for g in sizes}
    judged = {g: r for g, r in rates.items() if sizes[g] >= min_size}
    hi = max(judged.values()) if judged else 0.0
    ratio = (min(judged.values()) / hi) if hi > 0 and len(judged) > 1 else float("nan")
    return {"feature": feature, "selection_rates": rates, "group_sizes": sizes, "judged_groups": sorted(judged),
            "disparate_impact": ratio}


def metric_cis(cfg: ProjectConfig, y: np.ndarray, proba: np.ndarray, threshold: float | None, *, n_resamples: int = 300,
               confidence: float = 0.95, seed: int = 0) -> dict[str, dict[str, float]]:
    """Bootstrap CIs of every metric of one model (scipy.stats.bootstrap, multi-output statistic)."""
    from scipy.stats import bootstrap

    names = list(model_metrics(cfg, y[:50], proba[:50], threshold)) if len(y) else []
    names = [n for n in names if n not in ("positive_rate", "flagged_rate")]

    def stat(yy: np.ndarray, pp: np.ndarray) -> np.ndarray:
        m = model_metrics(cfg, yy, pp, threshold, tuple(names))
        return np.array([m[n] for n in names])

    res = bootstrap((y, proba), stat, paired=True, vectorized=False, n_resamples=n_resamples, confidence_level=confidence,
                    method="percentile", random_state=np.random.default_rng(seed))
    point = stat(y, proba)
    return {n: {"value": float(point[i]), "ci_low": float(res.confidence_interval.low[i]), "ci_high": float(res.confidence_interval.high[i])}
            for i, n in enumerate(names)}


def score(model: Any, X: pd.DataFrame, regression: bool = False) -> np.ndarray:
    """Probability of the positive class, or the predicted value for regression."""
    return np.asarray(model.predict(X), dtype=float) if regression else np.asarray(model.predict_proba(X))[:, 1]


def temporal_backtest(cfg: ProjectConfig, model: Any, frame: pd.DataFrame) -> dict[str, Any]:
    """Refit the challenger's pipeline on the oldest part of the window and score the newest part."""
    from sklearn.base import clone

    assert cfg.backtest is not None
    t = pd.to_datetime(frame[cfg.backtest.time_column], errors="coerce")
    order = np.argsort(t.to_numpy(), kind="stable")
    cut = int(len(frame) * (1 - cfg.backtest.fraction))
    old, new = frame.iloc[order[:cut]], frame.iloc[order[cut:]]
    m = clone(model).fit(old[cfg.input_columns], old[cfg.target])
    y = new[cfg.target].to_numpy(dtype=float)
    p = score(m, new[cfg.input_columns], cfg.regression)
    return {"train_rows": len(old), "test_rows": len(new), "cutoff": str(t.iloc[order[cut]].date()) if len(new) else None,
            "metrics": model_metrics(cfg, y, p, None)}


def evaluate(
    cfg: ProjectConfig,
    test_df: pd.DataFrame,
    challenger: Any,
    challenger_threshold: float | None,
    baseline: Any,
    champion: Any | None = None,
    champion_threshold: float | None = 0.5,
    champion_version: str | None = None,
) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """The evaluation report plus the raw scores (for plots), all on the same test rows."""
    X = test_df[cfg.input_columns]
    reg = cfg.regression
    y = test_df[cfg.target].to_numpy(dtype=float) if reg else test_df[cfg.target].astype(int).to_numpy()
    scores = {"challenger": score(challenger, X, reg), "baseline": score(baseline, X, reg)}
    thresholds: dict[str, float | None] = {"challenger": challenger_threshold, "baseline": None if reg else 0.5}
    if champion is not None:
        scores["champion"] = score(champion, X, reg)
        thresholds["champion"] = champion_threshold
    report: dict[str, Any] = {
        "primary_metric": cfg.primary_metric,
        "higher_is_better": cfg.primary_metric not in LOWER_IS_BETTER,
        "test_rows": int(len(y)),
        "test_positive_rate": None if reg else float(y.mean()),
        "thresholds": thresholds,
        "champion_version": champion_version,
        "models": {},
    }
    for name, p in scores.items():
        report["models"][name] = {
            "metrics": model_metrics(cfg, y, p, thresholds[name]),
            "slices": slice_metrics(cfg, test_df, y, p, thresholds[name]),
        }
    if reg:
        report["fairness"] = []
    else:
        pred = (scores["challenger"] >= challenger_threshold).astype(int)
        report["fairness"] = [disparate_impact(test_df, pred, f, cfg.slices.min_size) for f in cfg.sensitive_features]
        report["confusion_matrix"] = skm.confusion_matrix(y, pred, labels=[0, 1]).tolist()
    sig = cfg.promotion.significance
    report["metric_cis"] = metric_cis(cfg, y, scores["challenger"], challenger_threshold, confidence=sig.confidence, seed=sig.seed)
    if champion is not None:
        metric = sig.metric or cfg.primary_metric
        report["bootstrap"] = {"metric": metric, **paired_bootstrap_delta(
            metric, y, scores["challenger"], scores["champion"],
            threshold_a=challenger_threshold, threshold_b=champion_threshold,
            n_resamples=sig.resamples, confidence=sig.confidence, seed=sig.seed,
        )}
    m = report["models"]
    log.info(
        "test %s on %d rows: challenger %.4f, baseline %.4f%s",
        cfg.primary_metric, len(y), m["challenger"]["metrics"][cfg.primary_metric],
        m["baseline"]["metrics"][cfg.primary_metric],
        (f", champion v{champion_version} %.4f; delta %.4f [%.4f, %.4f]" % (
            m["champion"]["metrics"][cfg.primary_metric], report["bootstrap"]["delta"],
            report["bootstrap"]["ci_low"], report["bootstrap"]["ci_high"]) if champion is not None else ", no champion yet"),
    )
    return report, {"y": y, **scores}


def slice_table(report: dict[str, Any], metric: str) -> pd.DataFrame:
    """Slices side by side: rows = slices, columns = n, judged, and `metric` per model."""
    frames = []
    for model, body in report["models"].items():
        f = pd.DataFrame(body["slices"])[["slice", "n", "judged", metric]].rename(columns={metric: f"{model}_{metric}"})
        frames.append(f.set_index(["slice", "n", "judged"]))
    return pd.concat(frames, axis=1).reset_index()


def slice_comparison_plot(report: dict[str, Any], metric: str, path: Path) -> Path:
    """Bar chart of `metric` per judged slice, one bar per model (challenger vs champion vs baseline)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    table = slice_table(report, metric)
    table = table[table["judged"]]
    models = [m for m in ("challenger", "champion", "baseline") if f"{m}_{metric}" in table]
    fig, ax = plt.subplots(figsize=(max(6, 0.55 * len(table) * len(models)), 4))
    width = 0.8 / len(models)
    xs = np.arange(len(table))
    for i, m in enumerate(models):
        ax.bar(xs + i * width, table[f"{m}_{metric}"], width, label=m)
    ax.set_xticks(xs + width * (len(models) - 1) / 2, [f"{s}\n(n={n})" for s, n in zip(table["slice"], table["n"])], rotation=45, ha="right", fontsize=7)
    ax.set_ylabel(metric)
    ax.set_ylim(max(0.0, float(np.nanmin(table[[f"{m}_{metric}" for m in models]].to_numpy())) - 0.1), None)
    ax.legend()
    ax.set_title(f"{metric} per slice")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def comparison_html(report: dict[str, Any], metric: str) -> str:
    """Challenger vs champion (and baseline) per slice with deltas, for the MLflow artifact view."""
    t = slice_table(report, metric)
    if f"champion_{metric}" in t:
        t[f"delta_{metric}"] = t[f"challenger_{metric}"] - t[f"champion_{metric}"]
    b = report.get("bootstrap")
    ci = (f"<p>Paired bootstrap {b['confidence']:.0%} CI of challenger - champion ({b['metric']}): "
          f"{b['delta']:+.4f} [{b['ci_low']:+.4f}, {b['ci_high']:+.4f}] on {report['test_rows']} rows</p>") if b else "<p>No champion yet.</p>"
    return (f"<html><head><meta charset='utf-8'><title>comparison</title></head><body><h2>{metric}: challenger vs champion</h2>{ci}"
            + t.to_html(index=False, float_format=lambda v: f"{v:.4f}", na_rep="-") + "</body></html>")


def evaluation_plots(scores: dict[str, np.ndarray], thresholds: dict[str, float | None], outdir: Path) -> list[Path]:
    """Confusion matrix (challenger), ROC and PR curves (every model) as PNGs."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    y = scores["y"]
    models = [k for k in scores if k != "y"]
    out = []
    if thresholds.get("challenger") is None:  # regression: predicted vs actual, residuals
        fig, axes = plt.subplots(1, 2, figsize=(10, 4))
        axes[0].scatter(y, scores["challenger"], s=4, alpha=0.4)
        lim = [float(np.nanmin(y)), float(np.nanmax(y))]
        axes[0].plot(lim, lim, "k--", lw=1)
        axes[0].set_xlabel("actual")
        axes[0].set_ylabel("predicted (challenger)")
        for mname in models:
            axes[1].hist(scores[mname] - y, bins=50, alpha=0.5, label=mname)
        axes[1].set_xlabel("residual")
        axes[1].legend()
        fig.tight_layout()
        fig.savefig(outdir / "predicted_vs_actual.png", dpi=90)
        plt.close(fig)
        return [outdir / "predicted_vs_actual.png"]
    fig, ax = plt.subplots(figsize=(4.5, 4))
    skm.ConfusionMatrixDisplay.from_predictions(y, (scores["challenger"] >= thresholds["challenger"]).astype(int), ax=ax, colorbar=False)
    ax.set_title(f"challenger @ {thresholds['challenger']:.2f}")
    fig.tight_layout()
    fig.savefig(outdir / "confusion_matrix.png", dpi=90)
    out.append(outdir / "confusion_matrix.png")
    plt.close(fig)
    for fname, display in (("roc_curve.png", skm.RocCurveDisplay), ("pr_curve.png", skm.PrecisionRecallDisplay)):
        fig, ax = plt.subplots(figsize=(5, 4))
        for mname in models:
            display.from_predictions(y, scores[mname], name=mname, ax=ax)
        fig.tight_layout()
        fig.savefig(outdir / fname, dpi=90)
        out.append(outdir / fname)
        plt.close(fig)
    return out
