"""The monitoring blocks: input drift (Evidently methods and thresholds per column).
"""

from __future__ import annotations

from pydantic import Field

from pipelines.config.base import Strict


class ColumnDrift(Strict):
    method: str | None = None
    threshold: float | None = Field(None, gt=0.0)


class DriftConfig(Strict):
    num_method: str = "psi"
    num_threshold: float = Field(0.2, gt=0.0)
    cat_method: str = "jensenshannon"
    cat_threshold: float = Field(0.1, gt=0.0)
    per_column: dict[str, ColumnDrift] = {}
    drift_share: float = Field(0.3, gt=0.0, le=1.0)
