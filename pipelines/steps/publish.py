"""Where evaluations and decisions become visible: MLflow metrics, artifacts and descriptions, and the
lake's decision reports. Idempotent: a retry rewrites the same content (MLflow) or keeps the first
(lake), so publishing after a crash is always safe.

Metric names (like for like across runs only where the rows are the same):
`test_<m>` the run's model on its comparison rows; `champion/test_<m>` and `baseline/test_<m>` the
other models on the SAME rows; `delta_vs_champion/{delta,ci_low,ci_high}` the paired interval of the
primary metric; `slice/<slice>/<m>`; `ci/test_<m>/{low,high}`; `fresh/*`; `backtest/test_<m>`.
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path
from typing import Any

from pipelines.config import ProjectConfig
from pipelines.contracts import DecisionRecord, Evaluation, Extracted, Trained, layout, names
from pipelines.domain.reports import (
    comparison_html,
    decision_markdown,
    decision_summary,
    evaluation_plots,
    model_card,
    render_links,
    slice_delta_plot,
    slice_table_csv,
)
from pipelines.resources import Resources

log = logging.getLogger(__name__)
_SLICE_METRICS = ("roc_auc", "pr_auc", "f1", "accuracy", "recall", "rmse", "mae", "mape", "net_benefit")


def evaluation_metrics(ev: Evaluation) -> dict[str, float | None]:
    out: dict[str, float | None] = {"comparison_rows": ev.comparison_rows, "excluded_seen_by_champion": ev.excluded_seen_by_champion}
    prefix = {"challenger": names.TEST, "champion": names.CHAMPION_TEST, "baseline": names.BASELINE_TEST}
    for model, body in ev.models.items():
        out.update({prefix[model] + k: v for k, v in body.metrics.items()})
    for s in ev.challenger.slices:
        out[f"slice/{s.name}/n"] = s.n
        out.update({f"slice/{s.name}/{k}": v for k, v in s.metrics.items() if k in _SLICE_METRICS})
    for k, c in ev.metric_cis.items():
        out[f"ci/test_{k}/low"], out[f"ci/test_{k}/high"] = c.ci_low, c.ci_high
    for f in ev.fairness:
        out[f"fairness/{f.feature}/disparate_impact"] = f.disparate_impact
    iv = ev.interval(ev.primary_metric)
    if iv is not None:
        out.update({f"{names.DELTA}delta": iv.delta, f"{names.DELTA}ci_low": iv.ci_low, f"{names.DELTA}ci_high": iv.ci_high})
    if ev.fresh is not None:
        out["fresh/rows"] = ev.fresh.n
        if ev.fresh.delta is not None:
            out.update({"fresh/delta": ev.fresh.delta.delta, "fresh/ci_low": ev.fresh.delta.ci_low, "fresh/ci_high": ev.fresh.delta.ci_high})
    if ev.backtest is not None:
        out.update({f"backtest/test_{k}": v for k, v in ev.backtest.metrics.items()})
    return out


def log_evaluation(res: Resources, cfg: ProjectConfig, tr: Trained, ev: Evaluation, scores: dict[str, Any] | None) -> None:
    res.registry.log_metrics(tr.run_id, evaluation_metrics(ev))
    res.registry.set_tags(tr.run_id, {names.CHAMPION_AT_EVALUATE: ev.champion_version or "none"})
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        files: dict[str, Any] = {"evaluation.json": ev.model_dump_json(indent=2), "comparison.html": comparison_html(ev),
                                 "slices.csv": slice_table_csv(ev), "slice_deltas.png": slice_delta_plot(ev, out / "slice_deltas.png")}
        if scores is not None:
            thresholds = {k: m.threshold for k, m in ev.models.items()}
            files.update({p.name: p for p in evaluation_plots(scores, thresholds, out, cfg.regression)})
        res.registry.log_artifacts(tr.run_id, files, names.ARTIFACT_EVALUATION)


def publish_decision(res: Resources, cfg: ProjectConfig, rec: DecisionRecord, ev: Evaluation, ex: Extracted, tr: Trained) -> None:
    """decision.md + model card in the lake (next to the record) and in MLflow; the short summary as
    the run's and the version's description, followed there by the model card."""
    md, card = decision_markdown(cfg, rec, ev), model_card(cfg, rec, ev, ex, tr)
    prefix = layout.decision_prefix(cfg.name, rec.version)
    res.lake.write_once(prefix + "decision.md", md.encode())
    res.lake.write_once(prefix + "model_card.md", card.encode())
    links = render_links(res.settings.mlflow_ui_url, tr.experiment_id, tr.run_id, cfg.name, rec.version)
    summary = decision_summary(cfg, rec, ev, links)
    reg = res.registry
    reg.log_artifacts(tr.run_id, {"decision.json": rec.model_dump_json(indent=2), "decision.md": md, "model_card.md": card},
                      names.ARTIFACT_DECISION)
    reg.set_tags(tr.run_id, {"mlops.decision": rec.decision.decision, names.PROMOTION_CHECKS: rec.decision.promotion_checks,
                             "mlops.model_version": rec.version})
    reg.set_run_description(tr.run_id, summary)
    reg.set_version_description(cfg.name, rec.version, summary + "\n---\n\n" + card)
