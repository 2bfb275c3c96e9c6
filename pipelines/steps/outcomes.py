"""The outcomes steps: store outcomes as they arrive (validated, immutable, under their arrival day),
and judge the served predictions on them (`pipelines.domain.outcomes`): realized metrics per model
version and arm next to the evaluation-time estimate, the champion and a shadow challenger paired on
the same ids, the decay rule, one write-once report per day.
"""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path

import pandas as pd

from pipelines.config import ProjectConfig
from pipelines.contracts import Evaluation, MetricInterval, RealizedReport, layout
from pipelines.contracts.rollout import ARM_CHAMPION, ARM_SHADOW
from pipelines.domain.outcomes import decay_streak, id_text, join_outcomes, paired_realized, realized_markdown, realized_metrics, window_breached
from pipelines.domain.rows import content_hash
from pipelines.domain.validation import validate_outcomes
from pipelines.resources import Resources
from pipelines.resources.lake import Lake, LakeKeyNotFound
from pipelines.steps.promotion import latest_record

log = logging.getLogger(__name__)


class OutcomesNotConfigured(ValueError):
    """The project has no `outcomes:` block (or no id column to join by)."""


def _outcomes_of(cfg: ProjectConfig) -> int:
    if cfg.outcomes is None or cfg.id_column is None:
        raise OutcomesNotConfigured(f"project {cfg.name} has no outcomes block: add `outcomes: {{label_delay_days: N}}` and an id_column")
    return cfg.outcomes.label_delay_days


def import_outcomes(lake: Lake, cfg: ProjectConfig, df: pd.DataFrame, arrived: dt.date, expectations_dir: Path) -> tuple[str, bool, int]:
    """Validate one outcome file (`validate_outcomes`: a refused file writes nothing) and store its ids
    and labels under its arrival day. The key is the content's hash: the same file imported twice is
    stored once. Returns (uri, written, rows)."""
    _outcomes_of(cfg)
    validate_outcomes(df, cfg, expectations_dir)
    out = pd.DataFrame({"record_id": id_text(df[cfg.id_column]).to_numpy(), "label": df[cfg.target].to_numpy(),
                        "arrived": arrived.isoformat()})
    uri, written = lake.write_parquet_once(layout.outcome_key(cfg.name, arrived, content_hash(out)[:16]), out)
    log.info("%s: %d outcomes arrived %s -> %s%s", cfg.name, len(out), arrived, uri, "" if written else " (already stored)")
    return uri, written, len(out)


def _read_days(lake: Lake, prefix_of, first: dt.date, last: dt.date) -> pd.DataFrame:  # type: ignore[no-untyped-def]
    frames, day = [], first
    while day <= last:
        frames += [lake.get_parquet(k) for k in lake.list(prefix_of(day)) if k.endswith(".parquet")]
        day += dt.timedelta(days=1)
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def read_predictions(lake: Lake, cfg: ProjectConfig, first: dt.date, last: dt.date) -> tuple[pd.DataFrame, int]:
    """The prediction log's rows of days first..last as the join's columns (+ the cost's amount), and
    how many rows had no record id (they cannot be joined; counted, not guessed)."""
    raw = _read_days(lake, lambda d: layout.prediction_prefix(cfg.name, d), first, last)
    cols = ["record_id", "model_version", "arm", "score", "predicted_on"]
    if raw.empty:
        return pd.DataFrame(columns=cols), 0
    keyed = raw["record_id"].notna() & (raw["record_id"].astype(str) != "")
    raw = raw[keyed]
    out = pd.DataFrame({"record_id": raw["record_id"].astype(str), "model_version": raw["model_version"].astype(str),
                        "arm": raw["arm"].astype(str), "score": raw["prediction" if cfg.regression else "probability"].astype(float),
                        "predicted_on": raw["timestamp"].astype(str).str[:10]})
    cost = cfg.threshold.cost
    if cost is not None and cost.amount_column and f"input.{cost.amount_column}" in raw.columns:
        out["amount"] = raw[f"input.{cost.amount_column}"].astype(float)
    return out.reset_index(drop=True), int((~keyed).sum())


def read_outcomes(lake: Lake, cfg: ProjectConfig, first: dt.date, as_of: dt.date) -> pd.DataFrame:
    """Outcomes that arrived first..as_of-1: nothing that arrived on or after the as-of day is read."""
    df = _read_days(lake, lambda d: layout.outcome_prefix(cfg.name, d), first, as_of - dt.timedelta(days=1))
    return df if not df.empty else pd.DataFrame(columns=["record_id", "label", "arrived"])


def estimates(lake: Lake, cfg: ProjectConfig, versions: list[str]) -> dict[str, MetricInterval]:
    """Each version's evaluation-time primary metric (value and interval) from its newest decision
    record's evaluation; a version without a record has no estimate (it was never gated here)."""
    out = {}
    for v in versions:
        rec, _ = latest_record(lake, cfg.name, v)
        if rec is None:
            continue
        ev = Evaluation.from_json(lake.get_json(lake.key_of(rec.evaluation_uri)))
        ci = ev.metric_cis.get(cfg.primary_metric)
        value = ev.models["challenger"].metrics.get(cfg.primary_metric) if "challenger" in ev.models else None
        out[v] = MetricInterval(metric=cfg.primary_metric, value=value, ci_low=ci.ci_low if ci else None, ci_high=ci.ci_high if ci else None)
    return out


def newest_version(preds: pd.DataFrame, arm: str) -> str | None:
    mine = preds[preds["arm"] == arm]
    return str(mine.sort_values("predicted_on", kind="stable")["model_version"].iloc[-1]) if len(mine) else None


def recorded_reports(lake: Lake, cfg: ProjectConfig, as_of: dt.date, days: int) -> list[RealizedReport]:
    """The stored daily reports of the `days` before as_of, newest first."""
    out = []
    for i in range(1, days + 1):
        try:
            out.append(RealizedReport.from_json(lake.get_json(layout.realized_key(cfg.name, as_of - dt.timedelta(days=i), "json"))))
        except LakeKeyNotFound:
            continue
    return out


def realized(res: Resources, cfg: ProjectConfig, as_of: dt.date) -> tuple[RealizedReport, str]:
    """The day's report (computed once: a rerun of the same day returns the stored report) and its URI."""
    delay = _outcomes_of(cfg)
    assert cfg.outcomes is not None
    key = layout.realized_key(cfg.name, as_of, "json")
    try:
        stored = RealizedReport.from_json(res.lake.get_json(key))
        log.info("%s: realized outcomes as of %s already computed: %s", cfg.name, as_of, res.lake.uri(key))
        return stored, res.lake.uri(layout.realized_key(cfg.name, as_of, "md"))
    except LakeKeyNotFound:
        pass
    last = as_of - dt.timedelta(days=1)
    first = last - dt.timedelta(days=cfg.outcomes.window_days - 1)
    preds, unkeyed = read_predictions(res.lake, cfg, first, last)
    # ids predicted in the lookback before the window: their outcomes still arrive in it (not "never predicted")
    earlier, _ = read_predictions(res.lake, cfg, first - dt.timedelta(days=2 * delay + 7), first - dt.timedelta(days=1))
    joined = join_outcomes(cfg, preds, read_outcomes(res.lake, cfg, first, as_of), as_of, delay, set(earlier["record_id"]))
    c = joined.counts
    log.info("%s as of %s: %d predictions %s..%s (%d without an id), %d outcomes arrived; matched %d (%d late), pending %d, "
             "missing %d, duplicate predictions %d, duplicate outcomes %d, conflicting %d, never predicted %d", cfg.name, as_of,
             c.predictions, first, last, unkeyed, c.outcomes, c.matched, c.late, c.pending, c.missing, c.duplicate_predictions,
             c.duplicate_outcomes, c.conflicting_outcomes, c.never_predicted)
    versions = sorted(set(joined.rows["model_version"]), key=lambda v: int(v) if v.isdigit() else 0)
    infos = {v: res.registry.version(cfg.name, v) for v in versions}  # a version the log names must exist: else fail (retried)
    thresholds = {v: info.threshold for v, info in infos.items()}
    found = realized_metrics(cfg, joined.rows, thresholds, estimates(res.lake, cfg, versions))
    rows = joined.rows
    # Who serves now: the newest prediction of each arm, judged or not (a champion promoted last week is
    # the champion even before its first outcome arrives; the rule then waits for its own outcomes)
    champion, challenger = newest_version(preds, ARM_CHAMPION), newest_version(preds, ARM_SHADOW)
    paired = paired_realized(cfg, rows, champion, challenger, thresholds) if champion and challenger and champion != challenger else None
    decayed, signal, reason = False, False, ""
    rule = cfg.outcomes.decay
    if rule is not None:
        mine = next((v for v in found if v.version == champion and v.arm == ARM_CHAMPION), None)
        verdict, reason = window_breached(rule, mine)
        streak = decay_streak(rule, recorded_reports(res.lake, cfg, as_of, 2 * rule.consecutive + 7), verdict, champion)
        decayed = streak >= rule.consecutive
        # once when the streak reaches the rule, then every `consecutive` windows while it lasts: a retrain
        # the gate refused is retried, not started again every day
        signal = decayed and streak % rule.consecutive == 0
        reason = f"{reason}; {streak} breached window(s) in a row (rule: {rule.consecutive})"
    rep = RealizedReport(project=cfg.name, as_of=as_of, window_first=first, window_last=last, primary_metric=cfg.primary_metric,
                         label_delay_days=delay, counts=c, unkeyed_predictions=unkeyed, versions=found, champion=champion,
                         challenger=challenger, paired=paired, decayed=decayed, signal=signal, decay_reason=reason)
    # MLflow first, the report last: the stored report marks the day done, so a retry after a crash logs again
    midnight = int(dt.datetime(as_of.year, as_of.month, as_of.day, tzinfo=dt.timezone.utc).timestamp() * 1000)
    for v in found:  # on the version's own run, dated by the as-of day: MLflow charts the realized trend
        res.registry.log_metrics(infos[v.version].run_id, {f"realized/{v.arm}/{k}": iv.value for k, iv in v.metrics.items()}
                                 | {f"realized/{v.arm}/outcomes": float(v.rows)}, timestamp_ms=midnight, step=as_of.toordinal())
    res.lake.write_once(layout.realized_key(cfg.name, as_of, "md"), realized_markdown(rep).encode())
    uri, _ = res.lake.write_json_once(key, rep.to_json())
    for v in found:
        iv = v.metrics.get(cfg.primary_metric)
        log.info("v%s (%s): %d outcomes, realized %s %s (estimate %s)", v.version, v.arm, v.rows, cfg.primary_metric,
                 "-" if iv is None or iv.value is None else f"{iv.value:.4f} [{iv.ci_low}, {iv.ci_high}]", v.estimate)
    if signal:
        res.alerts.send(cfg.name, "outcomes", f"{cfg.name}: champion v{champion} decayed on realized outcomes as of {as_of}: {reason}",
                        {"report": res.lake.uri(layout.realized_key(cfg.name, as_of, "md"))})
    log.info("%s: decay %s%s (%s); report %s", cfg.name, "YES" if decayed else "no", ", signalled" if signal else "", reason or "no rule",
             uri)
    return rep, res.lake.uri(layout.realized_key(cfg.name, as_of, "md"))
