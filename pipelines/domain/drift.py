"""Drift: Evidently's DataDriftPreset between a reference (the champion's training rows) and current
rows, and ONE path that records it -- used by the per-run `drift` step and the daily monitor alike.

Per-column method and threshold come from the project config; the dataset counts as drifted when
the share of drifted columns reaches `drift_share`. A large reference is sampled (seeded) so the
cost does not grow with the window.

Pure: the step that records a result (lake, MLflow, alerts) is `pipelines.steps.drift`.
"""

from __future__ import annotations

import html as html_lib
import logging
import os
import tempfile
from typing import Any

import pandas as pd

from pipelines.config import ProjectConfig
from pipelines.contracts import DriftColumn, DriftResult

log = logging.getLogger(__name__)
MAX_REFERENCE_ROWS = 50_000


def check_drift(cfg: ProjectConfig, reference: pd.DataFrame, current: pd.DataFrame, seed: int = 0) -> tuple[DriftResult, str | None]:
    """(result, html) -- html is None when skipped."""
    if current.empty:
        return DriftResult(status="skipped", reason="no current rows (empty interval)", reference_rows=len(reference)), None
    if reference.empty:
        return DriftResult(status="skipped", reason="no reference rows", current_rows=len(current)), None
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    if len(reference) > MAX_REFERENCE_ROWS:
        reference = reference.sample(MAX_REFERENCE_ROWS, random_state=seed)
    d, cols = cfg.drift, cfg.features
    dd = DataDefinition(numerical_columns=list(cfg.numeric_features), categorical_columns=list(cfg.categorical_features))
    preset = DataDriftPreset(
        columns=cols, num_method=d.num_method, num_threshold=d.num_threshold, cat_method=d.cat_method, cat_threshold=d.cat_threshold,
        per_column_method={c: v.method for c, v in d.per_column.items() if v.method} or None,
        per_column_threshold={c: v.threshold for c, v in d.per_column.items() if v.threshold} or None, drift_share=d.drift_share)
    snap = Report([preset], include_tests=True).run(
        current_data=Dataset.from_pandas(current[cols].reset_index(drop=True), data_definition=dd),
        reference_data=Dataset.from_pandas(reference[cols].reset_index(drop=True), data_definition=dd))
    share, count, columns = _parse(snap.dict())
    drifted = share >= d.drift_share
    result = DriftResult(status="drifted" if drifted else "ok",
                         reason=f"{count} of {len(cols)} columns drifted (share {share:.2f}, threshold {d.drift_share})",
                         reference_rows=len(reference), current_rows=len(current), drift_share=share, drifted_columns=count,
                         threshold_share=d.drift_share, columns=columns)
    return result, _html(snap)


def _parse(body: dict[str, Any]) -> tuple[float, int, list[DriftColumn]]:
    share = count = None
    columns: dict[str, dict[str, Any]] = {}
    for m in body["metrics"]:
        mtype = m["config"]["type"]
        if mtype.endswith("DriftedColumnsCount"):
            share, count = float(m["value"]["share"]), int(m["value"]["count"])
        elif mtype.endswith("ValueDrift"):
            col = m["config"]["column"]
            columns[col] = {"column": col, "method": m["config"].get("method"), "threshold": m["config"].get("threshold"),
                            "score": float(m["value"]), "drifted": False}
    for t in body.get("tests", []):
        col = (t.get("metric_config") or {}).get("params", {}).get("column")
        if col in columns and t.get("status") == "FAIL":
            columns[col]["drifted"] = True
    if share is None or count is None:
        raise RuntimeError("Evidently report has no DriftedColumnsCount metric")
    return share, count, [DriftColumn(**c) for c in sorted(columns.values(), key=lambda c: c["column"])]


def _html(snap: Any) -> str:
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "drift.html")
        snap.save_html(path)
        with open(path, encoding="utf-8") as f:
            return f.read()


def summary_html(project: str, label: str, result: DriftResult) -> str:
    """A small page that previews well in MLflow (the Evidently report is a 4 MB app)."""
    rows = "".join(f"<tr><td>{html_lib.escape(c.column)}</td><td>{c.method}</td><td>{'' if c.score is None else f'{c.score:.4f}'}</td>"
                   f"<td>{c.threshold}</td><td style='color:{'#b00020' if c.drifted else '#1b7f3b'}'>{'DRIFT' if c.drifted else 'ok'}"
                   "</td></tr>" for c in result.columns)
    return (f"<!doctype html><html><head><meta charset='utf-8'><style>body{{font-family:sans-serif;margin:1rem}}td,th{{border:1px solid #ddd;"
            f"padding:.25rem .5rem}}table{{border-collapse:collapse}}</style></head><body><h2>{html_lib.escape(project)}: drift {label}</h2>"
            f"<p><b>{result.status.upper()}</b>: {html_lib.escape(result.reason)}; {result.reference_rows} reference rows vs "
            f"{result.current_rows} current rows.</p><table><tr><th>column</th><th>method</th><th>score</th><th>threshold</th>"
            f"<th>result</th></tr>{rows}</table></body></html>")
