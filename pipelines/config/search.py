"""The `search:` block: which model families Optuna searches, their spaces, budgets and the rule that
picks the refit trial.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, field_validator, model_validator

from pipelines.config.base import MAX_TRIALS, MODEL_FAMILIES, Strict


class _Range(Strict):
    """A numeric search range: low < high, and low > 0 on a log scale."""

    log: bool = False

    @model_validator(mode="after")
    def _range(self) -> _Range:
        low, high = getattr(self, "low"), getattr(self, "high")
        if not low < high:
            raise ValueError(f"low ({low}) must be < high ({high})")
        if self.log and low <= 0:
            raise ValueError("a log-scale range needs low > 0")
        return self


class FloatParam(_Range):
    type: Literal["float"]
    low: float
    high: float


class IntParam(_Range):
    type: Literal["int"]
    low: int
    high: int


class CategoricalParam(Strict):
    type: Literal["categorical"]
    choices: list[Any] = Field(min_length=1)


SearchParam = Annotated[FloatParam | IntParam | CategoricalParam, Field(discriminator="type")]


class EarlyStopping(Strict):
    """Boosting rounds are found, not searched: each CV fold holds out `validation_fraction` of its
    training rows and stops after `rounds` without improvement (at most `max_rounds`); the refit
    uses the folds' mean best iteration."""

    rounds: int = Field(50, ge=5, le=1000)
    validation_fraction: float = Field(0.15, gt=0.0, lt=0.5)
    max_rounds: int = Field(2000, ge=10, le=100_000)


class FamilyCull(Strict):
    """A family whose best CV score trails the leader by more than `margin` after `after` complete
    trials stops being trained (its further trials are pruned at once)."""

    after: int = Field(4, ge=1)
    margin: float = Field(0.02, gt=0.0)


class SearchConfig(Strict):
    """The Optuna search: which model families and, for each, its hyperparameter space."""

    n_trials: int = Field(20, ge=1, le=MAX_TRIALS)
    timeout_minutes: float = Field(30, gt=0)
    cv_folds: int = Field(3, ge=2, le=10)
    cv_repeats: int = Field(1, ge=1, le=5)
    seed: int = 42
    families: dict[str, dict[str, SearchParam]] = Field(min_length=1)
    # Enqueued as trial 0 (family -> params): the search can never end below a known-good default.
    defaults: dict[str, dict[str, Any]] = {}
    early_stopping: EarlyStopping = EarlyStopping()
    cull: FamilyCull | None = FamilyCull()
    # within_se: among trials within one standard error of the best CV score, the known-good default
    # (trial 0) if it is one of them, else the cheapest.
    select: Literal["best", "within_se"] = "within_se"
    n_jobs: int | None = Field(None, ge=1, le=64)  # threads per fit; default from MLOPS_N_JOBS

    @field_validator("families")
    @classmethod
    def _known_families(cls, v: dict[str, dict[str, SearchParam]]) -> dict[str, dict[str, SearchParam]]:
        unknown = sorted(set(v) - set(MODEL_FAMILIES))
        if unknown:
            raise ValueError(f"unknown model family {unknown}; known: {list(MODEL_FAMILIES)}")
        return v

    @model_validator(mode="after")
    def _defaults_fit(self) -> SearchConfig:
        for family, params in self.defaults.items():
            if family not in self.families:
                raise ValueError(f"defaults names family {family!r}, which is not searched")
            unknown = sorted(set(params) - set(self.families[family]))
            if unknown:
                raise ValueError(f"defaults for {family} name {unknown}, which are not in its search space")
        return self
