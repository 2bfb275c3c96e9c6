"""The `promotion:` block: change thresholds against the champion, the bootstrap behind their
intervals, fairness and the baseline rule -- the fail-closed gate's settings (pipelines/domain/policy.py).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from pipelines.config.base import LOWER_IS_BETTER, Direction, MetricName, Strict
from pipelines.config.evaluation import ValueThreshold


class ChangeThreshold(Strict):
    """A check against the champion on the SAME comparison rows. With improvement = (new - old) for
    higher_is_better and (old - new) for lower_is_better:

    * `mode: non_inferiority` (default for new configs): promote only when the lower bound of the
      paired bootstrap CI of the improvement is above `-margin` ("not worse by more than margin,
      beyond the noise"); `superiority`: the lower bound must be above `+margin`;
    * `mode: point`: the point improvement >= `absolute` and improvement / |old| >= `relative`
      (no interval: within-noise differences decide, so prefer the interval modes)."""

    metric: MetricName
    direction: Direction | None = None
    mode: Literal["point", "non_inferiority", "superiority"] = "point"
    margin: float | None = Field(None, ge=0.0)
    absolute: float | None = None
    relative: float | None = None
    slice: str = "overall"

    @model_validator(mode="after")
    def _some_bound(self) -> ChangeThreshold:
        if self.mode == "point" and self.absolute is None and self.relative is None:
            raise ValueError(f"change threshold on {self.metric} needs absolute and/or relative")
        if self.mode != "point" and self.margin is None:
            raise ValueError(f"change threshold on {self.metric}: mode {self.mode} needs a margin")
        if self.mode != "point" and (self.absolute is not None or self.relative is not None):
            raise ValueError(f"change threshold on {self.metric}: mode {self.mode} takes a margin, not absolute/relative")
        return self

    @property
    def higher_is_better(self) -> bool:
        if self.direction is not None:
            return self.direction == "higher_is_better"
        return self.metric not in LOWER_IS_BETTER

    @property
    def needs_interval(self) -> bool:
        return self.mode != "point"


class BootstrapConfig(Strict):
    """Paired bootstrap of challenger - champion on the comparison rows (scipy.stats.bootstrap)."""

    confidence: float = Field(0.95, gt=0.5, lt=1.0)
    resamples: int = Field(1000, ge=100, le=100_000)
    seed: int = 42


class FairnessRule(Strict):
    """Per sensitive feature: disparate impact (min/max selection rate over judged groups) >= floor,
    and the largest gap of `gap_metric` between judged groups <= max_gap."""

    min_disparate_impact: float = Field(0.8, ge=0.0, le=1.0)
    gap_metric: MetricName = "recall"
    max_gap: float | None = Field(0.2, ge=0.0)


class BaselineRule(Strict):
    metric: MetricName | None = None
    margin: float = Field(0.05, ge=0.0)


class PromotionPolicy(Strict):
    """The fail-closed gate that decides whether `champion` moves (see pipelines/domain/policy.py)."""

    value_thresholds: list[ValueThreshold] = Field(min_length=1)
    change_thresholds: list[ChangeThreshold] = []
    bootstrap: BootstrapConfig = BootstrapConfig()
    fairness: FairnessRule | None = FairnessRule()
    baseline: BaselineRule = BaselineRule()
