"""The drift step and the one path that records a drift check (lake report and JSON, the MLflow
run's metric and artifacts, an alert on drift), shared by the per-run `drift` task and the daily
monitor (`pipelines.steps.monitor`). The statistics are `pipelines.domain.drift` (Evidently).
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

from pipelines.config import ProjectConfig
from pipelines.contracts import DriftResult, DriftSummary, Evaluated, Evaluation, Extracted, RunSpec, Trained, layout, names
from pipelines.domain.drift import summary_html
from pipelines.resources import Resources
from pipelines.steps.summary import summarize

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DriftTarget:
    """Where one drift check is recorded: lake keys, the MLflow run and how its metric is logged."""

    json_key: str
    html_key: str
    mlflow_run_id: str | None
    metric: str
    artifact_dir: str
    timestamp_ms: int | None = None
    mlflow_experiment_id: str | None = None


def record_drift(res: Resources, cfg: ProjectConfig, result: DriftResult, report: str | None, *, day: dt.date, reference: str,
                 target: DriftTarget, champion_version: str | None = None, label: str = "") -> DriftSummary:
    """Write the report and JSON to the lake, log share + reports to MLflow, alert on drift."""
    drifted_cols = [c.column for c in result.columns if c.drifted]
    report_uri = res.lake.write_once(target.html_key, report.encode())[0] if report else None
    summary = DriftSummary(project=cfg.name, day=day, status=result.status, reason=result.reason, drift_share=result.drift_share,
                           drifted_columns=drifted_cols, reference=reference, champion_version=champion_version, report_uri=report_uri,
                           json_uri=res.lake.uri(target.json_key), mlflow_run_id=target.mlflow_run_id,
                           mlflow_experiment_id=target.mlflow_experiment_id if target.mlflow_run_id else None,
                           report_artifact=f"{target.artifact_dir}/drift_report.html" if report and target.mlflow_run_id else None)
    res.lake.write_json_once(target.json_key, {**summary.to_json(), "result": result.to_json()})
    if target.mlflow_run_id is not None and result.drift_share is not None:
        res.registry.log_metrics(target.mlflow_run_id, {target.metric: result.drift_share}, timestamp_ms=target.timestamp_ms)
        res.registry.log_artifacts(target.mlflow_run_id, {"drift_summary.html": summary_html(cfg.name, label, result),
                                                          **({"drift_report.html": report} if report else {})}, target.artifact_dir)
    if result.drifted:
        log.warning("DRIFT in %s %s vs %s: %s; drifted columns %s", cfg.name, label, reference, result.reason, drifted_cols)
        res.alerts.send(cfg.name, "drift", f"data drift {label}: {result.reason}; columns {drifted_cols}",
                        {"report_uri": report_uri, "share": result.drift_share, "day": day.isoformat()})
    elif result.status == "skipped":
        log.info("drift check for %s %s skipped: %s", cfg.name, label, result.reason)
    else:
        log.info("no dataset drift in %s %s vs %s: %s", cfg.name, label, reference, result.reason)
    return summary


# ----------------------------------------------------------------------------------------- drift
def step_drift(res: Resources, cfg: ProjectConfig, run: RunSpec, ex: Extracted, tr: Trained, evd: Evaluated) -> DriftSummary:
    """Drift of this interval's new rows against the training rows of the champion that served it."""
    from pipelines.domain.drift import check_drift
    from pipelines.steps.extract import load_snapshot

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
