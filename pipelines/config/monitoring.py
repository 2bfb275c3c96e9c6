"""The monitoring blocks: input drift (Evidently methods and thresholds per column), and outcomes that
arrive late (the realized-metrics loop and its decay rule).
"""

from __future__ import annotations

from pydantic import Field, model_validator

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


class DecayRule(Strict):
    """When the champion's realized metric counts as decayed: below its evaluation-time estimate by
    more than `max_drop` (or below `floor`, for value metrics such as net benefit) in `consecutive`
    rolling windows in a row. Judged only on windows with at least `min_rows` outcomes."""

    metric: str
    max_drop: float | None = Field(None, gt=0.0)
    floor: float | None = None
    consecutive: int = Field(2, ge=1, le=365)
    min_rows: int = Field(200, ge=10)

    @model_validator(mode="after")
    def _one_bound(self) -> DecayRule:
        if self.max_drop is None and self.floor is None:
            raise ValueError("outcomes.decay needs max_drop (below the estimate) or floor (an absolute bound)")
        return self


class OutcomesConfig(Strict):
    """Outcomes that arrive late: each is keyed by the project's `id_column` and stored under the day
    it ARRIVED (`outcomes/<project>/dt=<arrival>/`); `label_delay_days` is how long after a prediction
    its outcome is due (a prediction without one after that is counted missing, not read as negative)."""

    label_delay_days: int = Field(ge=0, le=3650)
    window_days: int = Field(28, ge=1, le=3650)  # realized metrics over predictions of this many days
    decay: DecayRule | None = None
