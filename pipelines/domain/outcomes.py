"""Late outcomes joined to the predictions they judge, and what they say about each model version:
pure functions over frames and a project config.

A prediction is judged once: its key is (record id, model version, arm), and only the first
prediction of a key counts (a customer re-scored every day by the same version is one forecast,
made the first time). An outcome is read only if it had ARRIVED before the as-of date; a
prediction made when its outcome was already known is not a forecast and is excluded; an id that
arrived with two different labels is excluded and counted, never guessed; a prediction whose
outcome is overdue is counted missing, never read as a negative. Every row lands in exactly one
count (`JoinCounts`), so the counts add up.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pandas as pd

from pipelines.config import LOWER_IS_BETTER, DecayRule, ProjectConfig
from pipelines.contracts import DeltaInterval, JoinCounts, MetricInterval, RealizedMetrics, RealizedReport
from pipelines.domain.metrics import metric_intervals, paired_bootstrap
from pipelines.domain.targets import encode_target

PREDICTION_COLUMNS = ("record_id", "model_version", "arm", "score", "predicted_on")
OUTCOME_COLUMNS = ("record_id", "label", "arrived")
KEY = ["record_id", "model_version", "arm"]


class OutcomeJoinError(ValueError):
    """Predictions or outcomes handed to the join lack a column it needs."""


@dataclass(frozen=True)
class Joined:
    rows: pd.DataFrame  # one row per judged prediction: KEY, score, predicted_on, y, arrived, late (+ amount)
    counts: JoinCounts


def id_text(ids: pd.Series) -> pd.Series:
    """Ids as the prediction log writes them: integer-valued numbers without a decimal part."""
    num = pd.to_numeric(ids, errors="coerce")
    whole = num.notna() & (num == num.round())
    return ids.astype(str).where(~whole, num.round().astype("Int64").astype(str))


def _require(df: pd.DataFrame, cols: tuple[str, ...], what: str) -> None:
    missing = [c for c in cols if c not in df.columns]
    if missing:
        raise OutcomeJoinError(f"{what} lack column(s) {missing} (have {list(df.columns)})")


def _dates(s: pd.Series) -> pd.Series:
    return pd.to_datetime(s.astype(str).str[:10], format="%Y-%m-%d").dt.date


def join_outcomes(cfg: ProjectConfig, predictions: pd.DataFrame, outcomes: pd.DataFrame, as_of: dt.date, label_delay_days: int,
                  earlier_ids: set[str] | None = None) -> Joined:
    """Join `predictions` (PREDICTION_COLUMNS) with `outcomes` (OUTCOME_COLUMNS) by record id; labels
    are encoded as training encodes them (`pipelines.domain.targets`: 1 = the positive label).
    `earlier_ids`: ids predicted before the window; their outcomes are counted as such, not as never predicted."""
    _require(predictions, PREDICTION_COLUMNS, "predictions")
    _require(outcomes, OUTCOME_COLUMNS, "outcomes")
    p = predictions.copy()
    p["record_id"], p["model_version"], p["arm"] = (p[c].astype(str) for c in KEY)
    p["predicted_on"] = _dates(p["predicted_on"])
    p = p[p["predicted_on"] < as_of].sort_values("predicted_on", kind="stable")
    first = ~p.duplicated(KEY, keep="first")
    n_pred, dup_pred = len(p), int((~first).sum())
    p = p[first]

    o = outcomes.copy()
    o["record_id"], o["arrived"] = o["record_id"].astype(str), _dates(o["arrived"])
    o = o[o["arrived"] < as_of]  # an outcome is read only once it has arrived
    n_out = len(o)
    if o["label"].isna().any():  # the import's suite refuses these: a null here is a broken store, not a negative
        raise OutcomeJoinError(f"{int(o['label'].isna().sum())} stored outcome(s) have no label (e.g. id "
                               f"{o.loc[o['label'].isna(), 'record_id'].iloc[0]})")
    labels_per_id = o.groupby("record_id")["label"].nunique(dropna=False)
    conflicting = o["record_id"].isin(labels_per_id.index[labels_per_id > 1])
    n_conflicting = int(conflicting.sum())
    o = o[~conflicting].sort_values("arrived", kind="stable")
    dup_out = int(o.duplicated("record_id", keep="first").sum())
    o = o.drop_duplicates("record_id", keep="first")  # the first arrival of an id (same label)

    m = p.merge(o[["record_id", "label", "arrived"]], on="record_id", how="left")
    has = m["arrived"].notna()
    due = m["predicted_on"].map(lambda d: d + dt.timedelta(days=label_delay_days))
    outcome_first = has & (m["arrived"] <= m["predicted_on"])
    matched = has & ~outcome_first
    missing = ~has & (due < as_of)
    pending = ~has & ~missing
    judged = m[matched].copy()
    judged["late"] = [a > d for a, d in zip(judged["arrived"], due[matched])]
    judged["y"] = encode_target(cfg, judged.rename(columns={"label": cfg.target})) if len(judged) else np.zeros(0)
    matched_ids = set(judged["record_id"])
    earlier = set(earlier_ids or ())
    predicted_ids = set(p["record_id"])
    counts = JoinCounts(
        predictions=n_pred, duplicate_predictions=dup_pred, matched=int(matched.sum()), late=int(judged["late"].sum()),
        pending=int(pending.sum()), missing=int(missing.sum()), outcome_first=int(outcome_first.sum()), outcomes=n_out,
        duplicate_outcomes=dup_out, conflicting_outcomes=n_conflicting, matched_ids=len(matched_ids),
        outcome_first_ids=int(o["record_id"].isin(predicted_ids - matched_ids).sum()),
        before_window=int((~o["record_id"].isin(predicted_ids) & o["record_id"].isin(earlier)).sum()),
        never_predicted=int((~o["record_id"].isin(predicted_ids | earlier)).sum()))
    return Joined(rows=judged.drop(columns=["label"]).reset_index(drop=True), counts=counts)


def realized_metrics(cfg: ProjectConfig, joined: pd.DataFrame, thresholds: dict[str, float | None],
                     estimates: dict[str, MetricInterval], resamples: int = 300) -> list[RealizedMetrics]:
    """Per (version, arm): the task's metrics on the judged predictions with bootstrap intervals (the
    same kernel as the model card's), next to the version's evaluation-time estimate of the primary metric."""
    out = []
    for (version, arm), g in joined.groupby(["model_version", "arm"], sort=True):
        y, s = g["y"].to_numpy(float), g["score"].to_numpy(float)
        amounts = g["amount"].to_numpy(float) if "amount" in g.columns else None
        cis = metric_intervals(cfg, y, s, thresholds.get(str(version)), amounts=amounts, resamples=resamples)
        est = estimates.get(str(version))
        out.append(RealizedMetrics(version=str(version), arm=str(arm), rows=len(g), positives=None if cfg.regression else int(y.sum()),
                                   metrics=cis, estimate=est.value if est else None, estimate_low=est.ci_low if est else None))
    return out


def paired_realized(cfg: ProjectConfig, joined: pd.DataFrame, champion: str, challenger: str,
                    thresholds: dict[str, float | None]) -> DeltaInterval | None:
    """Challenger - champion on the primary metric over the ids BOTH scored (shadow or batch), paired
    bootstrap on those rows; None when they share fewer than 10 judged ids."""
    a = joined[joined["model_version"] == champion].drop_duplicates("record_id").set_index("record_id")
    b = joined[joined["model_version"] == challenger].drop_duplicates("record_id").set_index("record_id")
    both = a.index.intersection(b.index)
    if len(both) < 10:
        return None
    y = a.loc[both, "y"].to_numpy(float)
    amounts = a.loc[both, "amount"].to_numpy(float) if "amount" in a.columns else None
    return paired_bootstrap(cfg.primary_metric, y, b.loc[both, "score"].to_numpy(float), a.loc[both, "score"].to_numpy(float),
                            thr_new=thresholds.get(challenger), thr_old=thresholds.get(champion), boot=cfg.promotion.bootstrap,
                            cost=cfg.threshold.cost, amounts=amounts)


def window_breached(rule: DecayRule, realized: RealizedMetrics | None) -> tuple[bool | None, str]:
    """Whether one window breaks the rule: True/False, or None when it cannot be judged (too few
    outcomes, no metric, no estimate to fall below). The reason says which bound and by how much."""
    if realized is None or realized.rows < rule.min_rows:
        return None, f"{realized.rows if realized else 0} outcomes < min_rows {rule.min_rows}: not judged"
    iv = realized.metrics.get(rule.metric)
    value = iv.value if iv else None
    if value is None:
        return None, f"no realized {rule.metric}"
    lower = rule.metric in LOWER_IS_BETTER
    reasons = []
    if rule.floor is not None and (value > rule.floor if lower else value < rule.floor):
        reasons.append(f"{rule.metric} {value:.4g} {'above' if lower else 'below'} the floor {rule.floor:.4g}")
    if rule.max_drop is not None and realized.estimate is not None:
        drop = (value - realized.estimate) if lower else (realized.estimate - value)
        if drop > rule.max_drop:
            reasons.append(f"{rule.metric} {value:.4g} is {drop:.4g} worse than its estimate {realized.estimate:.4g} "
                           f"(max_drop {rule.max_drop:.4g})")
    elif rule.max_drop is not None and rule.floor is None:
        return None, f"no evaluation-time estimate of {rule.metric} for v{realized.version}"
    if reasons:
        return True, "; ".join(reasons)
    return False, f"{rule.metric} {value:.4g} within the rule"


def decay_streak(rule: DecayRule, history: list[RealizedReport], today: bool | None, champion: str | None) -> int:
    """Breached windows in a row of THIS champion, newest first, counting today's verdict and then the
    recorded reports' (newest first); windows that could not be judged neither count nor break the
    streak; a report of another champion ends it (a new champion starts with a clean record)."""
    streak = 1 if today else 0
    if today is False:
        return 0
    for rep in history:
        if rep.champion != champion:
            break
        judged = [v for v in rep.versions if v.version == rep.champion and v.arm == "champion"]
        verdict, _ = window_breached(rule, judged[0] if judged else None)
        if verdict is None:
            continue
        if not verdict:
            break
        streak += 1
    return streak


def realized_markdown(rep: RealizedReport) -> str:
    c = rep.counts
    lines = [f"# Realized outcomes: {rep.project}, as of {rep.as_of}", "",
             f"Predictions made {rep.window_first}..{rep.window_last}; outcomes that arrived before {rep.as_of} "
             f"(due {rep.label_delay_days} days after the prediction).", "",
             "| predictions | duplicate | matched | late | pending | missing | outcome first |", "|---:|---:|---:|---:|---:|---:|---:|",
             f"| {c.predictions:,} | {c.duplicate_predictions:,} | {c.matched:,} | {c.late:,} | {c.pending:,} | {c.missing:,} | {c.outcome_first:,} |",
             "", "| outcomes arrived | duplicate | conflicting | matched ids | outcome-first ids | predicted before the window "
             "| never predicted |", "|---:|---:|---:|---:|---:|---:|---:|",
             f"| {c.outcomes:,} | {c.duplicate_outcomes:,} | {c.conflicting_outcomes:,} | {c.matched_ids:,} | {c.outcome_first_ids:,} "
             f"| {c.before_window:,} | {c.never_predicted:,} |", "",
             f"| version | arm | rows | realized {rep.primary_metric} [95% CI] | evaluation-time estimate |", "|---|---|---:|---|---:|"]
    for v in rep.versions:
        iv = v.metrics.get(rep.primary_metric)
        val = "-" if iv is None or iv.value is None else f"{iv.value:.4f}" + (
            f" [{iv.ci_low:.4f}, {iv.ci_high:.4f}]" if iv.ci_low is not None and iv.ci_high is not None else "")
        lines.append(f"| v{v.version} | {v.arm} | {v.rows:,} | {val} | {'-' if v.estimate is None else f'{v.estimate:.4f}'} |")
    if rep.paired is not None and rep.paired.delta is not None:
        ci = "" if rep.paired.ci_low is None else f" [{rep.paired.ci_low:+.4f}, {rep.paired.ci_high:+.4f}]"
        lines += ["", f"Challenger v{rep.challenger} - champion v{rep.champion} on the {rep.paired.n:,} ids both scored: "
                  f"{rep.primary_metric} {rep.paired.delta:+.4f}{ci} (paired bootstrap; promotion still goes through the gate)."]
    lines += ["", f"**Decay: {'YES' if rep.decayed else 'no'}**{' (alert and retrain signalled)' if rep.signal else ''} - "
              f"{rep.decay_reason or 'no rule configured'}"]
    return "\n".join(lines) + "\n"

