"""Drift: Evidently's DataDriftPreset between a reference (the champion's training rows) and current rows.

Per-column method and threshold come from the project config; the dataset counts as drifted when
the share of drifted columns reaches `drift_share`. Returns a small JSON-able summary and the HTML.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from typing import Any

import pandas as pd

from pipelines.config import ProjectConfig

log = logging.getLogger(__name__)


@dataclass
class DriftResult:
    status: str  # "ok" | "drifted" | "skipped"
    reason: str
    reference_rows: int = 0
    current_rows: int = 0
    drift_share: float | None = None
    drifted_columns: int | None = None
    threshold_share: float | None = None
    columns: list[dict[str, Any]] = field(default_factory=list)

    @property
    def drifted(self) -> bool:
        return self.status == "drifted"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def run_drift(cfg: ProjectConfig, reference: pd.DataFrame, current: pd.DataFrame) -> tuple[DriftResult, str | None]:
    """(result, html) -- html is None when skipped."""
    if current.empty:
        return DriftResult("skipped", "no current rows (empty interval)", len(reference), 0), None
    if reference.empty:
        return DriftResult("skipped", "no reference rows", 0, len(current)), None
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    d = cfg.drift
    cols = cfg.features
    dd = DataDefinition(numerical_columns=list(cfg.numeric_features), categorical_columns=list(cfg.categorical_features))
    per_method = {c: v.method for c, v in d.per_column.items() if v.method}
    per_threshold = {c: v.threshold for c, v in d.per_column.items() if v.threshold}
    preset = DataDriftPreset(
        columns=cols, num_method=d.num_method, num_threshold=d.num_threshold, cat_method=d.cat_method,
        cat_threshold=d.cat_threshold, per_column_method=per_method or None,
        per_column_threshold=per_threshold or None, drift_share=d.drift_share,
    )
    snap = Report([preset], include_tests=True).run(
        current_data=Dataset.from_pandas(current[cols].reset_index(drop=True), data_definition=dd),
        reference_data=Dataset.from_pandas(reference[cols].reset_index(drop=True), data_definition=dd),
    )
    body = snap.dict()
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
    if share is None:
        raise RuntimeError("Evidently report has no DriftedColumnsCount metric")
    drifted = share >= d.drift_share
    result = DriftResult(
        status="drifted" if drifted else "ok",
        reason=f"{count} of {len(cols)} columns drifted (share {share:.2f}, threshold {d.drift_share})",
        reference_rows=len(reference), current_rows=len(current), drift_share=share, drifted_columns=count,
        threshold_share=d.drift_share, columns=sorted(columns.values(), key=lambda c: c["column"]),
    )
    return result, _html(snap)


def _html(snap: Any) -> str:
    import os
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "drift.html")
        snap.save_html(path)
        with open(path, encoding="utf-8") as f:
            return f.read()
