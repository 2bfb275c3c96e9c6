"""Project configuration: one pydantic-validated YAML per ML project.

A project is data, not code: the DAG factory, every step and the CLI read this model. A bad YAML
fails at load with the dotted field path and the reason, before any task runs.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from pipelines.settings import Settings, get_settings

MODEL_FAMILIES = ("logistic_regression", "ridge", "random_forest", "gradient_boosting", "lightgbm")
# Names of `pipelines.features.TRANSFORMERS`, kept here so a config checks without importing sklearn
# at DAG parse time (a unit test keeps the two in step).
FEATURE_TRANSFORMERS = ("ratio", "is_zero", "vehicle_age", "brand")
CLASSIFICATION_METRICS = (
    "roc_auc",
    "pr_auc",
    "f1",
    "precision",
    "recall",
    "accuracy",
    "brier",
    "log_loss",
)
REGRESSION_METRICS = ("rmse", "mae", "r2", "mape", "smape")
ALL_METRICS = CLASSIFICATION_METRICS + REGRESSION_METRICS + ("net_benefit", "roi")
# Metrics where a smaller value is better; every other metric is "higher is better".
LOWER_IS_BETTER = frozenset({"brier", "log_loss", "rmse", "mae", "mape", "smape"})
# One ceiling for trials: the YAML and the DAG Param agree.
MAX_TRIALS = 2000


class ProjectConfigError(ValueError):
    """A project file is missing, unreadable or invalid; the message names the field and why."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _Range(_Strict):
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


class CategoricalParam(_Strict):
    type: Literal["categorical"]
    choices: list[Any] = Field(min_length=1)


SearchParam = Annotated[FloatParam | IntParam | CategoricalParam, Field(discriminator="type")]


class SplitConfig(_Strict):
    """`hash`: a row goes to the test side when a stable hash of its key (the project's `id_column`,
    else its raw values and partition date) falls under `test_fraction`: the same row lands on the
    same side in every run, so a challenger and a champion never share a training row with the rows
    they are compared on. `time`: the newest `test_fraction` of the window by `time_column` is the
    test set, so no future row reaches training. `seed` salts the hash (changing it re-deals rows)."""

    strategy: Literal["hash", "time"] = "hash"
    test_fraction: float = Field(0.2, gt=0.0, lt=0.9)
    seed: int = 42
    time_column: str | None = None

    @model_validator(mode="after")
    def _time_needs_column(self) -> SplitConfig:
        if self.strategy == "time" and not self.time_column:
            raise ValueError("strategy 'time' needs time_column")
        return self


class Maturity(_Strict):
    """Rows whose `time_column` is within `days` of the as-of date have no final outcome yet (a loan
    that may still default): excluded from training and testing, counted, so they cannot bias the
    newest rows towards the negative class."""

    time_column: str
    days: int = Field(ge=1, le=3650)


class RowFilter(_Strict):
    """Keep rows whose `column` is within [min, max] (exclusive with `exclusive: true`) and/or in
    `values`. Missing values are kept unless `keep_missing: false`. Dropped rows are counted."""

    column: str
    min: float | None = None
    max: float | None = None
    exclusive: bool = False
    values: list[Any] | None = None
    keep_missing: bool = True

    @model_validator(mode="after")
    def _some_rule(self) -> RowFilter:
        if self.min is None and self.max is None and self.values is None:
            raise ValueError(f"filter on {self.column} needs min, max or values")
        return self


class DerivedTarget(_Strict):
    """Target computed from a source column: `positive` values -> 1, `negative` -> 0, others excluded."""

    source: str
    positive: list[Any] = Field(min_length=1)
    negative: list[Any] = Field(min_length=1)


class CostModel(_Strict):
    """Business value of flagging a row: a flagged positive saves amount * loss_rate (the loss a missed
    one would cause); a flagged negative forgoes amount * profit_rate (the margin of good business
    turned away); every flag costs review_cost. The amount is the row's own `amount_column` (e.g. the
    loan amount) or a fixed `amount`."""

    amount: float | None = Field(None, gt=0)
    amount_column: str | None = None
    loss_rate: float = Field(gt=0, le=1)
    profit_rate: float = Field(0.0, ge=0)
    review_cost: float = Field(ge=0)

    @model_validator(mode="after")
    def _one_amount(self) -> CostModel:
        if (self.amount is None) == (self.amount_column is None):
            raise ValueError("a cost model needs exactly one of amount (fixed) or amount_column (per row)")
        return self


class EarlyStopping(_Strict):
    """Boosting rounds are found, not searched: each CV fold holds out `validation_fraction` of its
    training rows and stops after `rounds` without improvement (at most `max_rounds`); the refit
    uses the folds' mean best iteration."""

    rounds: int = Field(50, ge=5, le=1000)
    validation_fraction: float = Field(0.15, gt=0.0, lt=0.5)
    max_rounds: int = Field(2000, ge=10, le=100_000)


class FamilyCull(_Strict):
    """A family whose best CV score trails the leader by more than `margin` after `after` complete
    trials stops being trained (its further trials are pruned at once)."""

    after: int = Field(4, ge=1)
    margin: float = Field(0.02, gt=0.0)


class SearchConfig(_Strict):
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


class ThresholdRule(_Strict):
    """How the decision threshold is chosen on out-of-fold predictions of the refit trial:
    maximise a metric, a fixed value, or `cost`: maximise expected net benefit under `cost`."""

    strategy: Literal["maximize", "fixed", "cost"] = "maximize"
    metric: Literal["f1", "accuracy", "balanced_accuracy", "precision", "recall"] = "f1"
    value: float | None = Field(None, gt=0.0, lt=1.0)
    cost: CostModel | None = None

    @model_validator(mode="after")
    def _fixed_needs_value(self) -> ThresholdRule:
        if self.strategy == "fixed" and self.value is None:
            raise ValueError("strategy 'fixed' needs a value in (0, 1)")
        if self.strategy == "cost" and self.cost is None:
            raise ValueError("strategy 'cost' needs a cost model (amount, loss_rate, review_cost)")
        return self


class NumericBand(_Strict):
    column: str
    edges: list[float] = Field(min_length=2)

    @field_validator("edges")
    @classmethod
    def _increasing(cls, v: list[float]) -> list[float]:
        if any(b <= a for a, b in zip(v, v[1:])):
            raise ValueError(f"edges must be strictly increasing, got {v}")
        return v


class SliceConfig(_Strict):
    """Slices under `min_size` rows, or with fewer than `min_positives` of either class, are reported
    but not judged: ranking metrics on a handful of positives are noise."""

    min_size: int = Field(50, ge=1)
    min_positives: int = Field(10, ge=0)
    categorical: list[str] = []
    numeric_bands: list[NumericBand] = []
    # Slices (names, or `column=*`) that may vanish or fall under min_size without failing the gate;
    # any other slice judged for the champion or the challenger but not judgeable now is a failure.
    optional: list[str] = []

    def is_optional(self, name: str) -> bool:
        return name in self.optional or any(o.endswith("=*") and name.startswith(o[:-1]) for o in self.optional)


def _known_metric(v: str) -> str:
    if v not in ALL_METRICS:
        raise ValueError(f"unknown metric {v!r}; known: {list(ALL_METRICS)}")
    return v


MetricName = Annotated[str, AfterValidator(_known_metric)]


Direction = Literal["higher_is_better", "lower_is_better"]


class ValueThreshold(_Strict):
    """TFMA-style value threshold: `lower <= metric <= upper` on one slice, or every judged slice ("*")."""

    metric: MetricName
    lower: float | None = None
    upper: float | None = None
    slice: str = "overall"


    @model_validator(mode="after")
    def _bounds(self) -> ValueThreshold:
        if self.lower is None and self.upper is None:
            raise ValueError(f"value threshold on {self.metric} needs lower and/or upper")
        if self.lower is not None and self.upper is not None and self.lower > self.upper:
            raise ValueError(f"value threshold on {self.metric}: lower {self.lower} > upper {self.upper}")
        return self


class BacktestConfig(_Strict):
    """Refit on the oldest (1 - fraction) of the window by `time_column`, score the newest `fraction`;
    `thresholds` make it a gate (checked like value thresholds, on the backtest's metrics)."""

    time_column: str
    fraction: float = Field(0.2, gt=0.0, lt=0.9)
    thresholds: list[ValueThreshold] = []


class ChangeThreshold(_Strict):
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


class BootstrapConfig(_Strict):
    """Paired bootstrap of challenger - champion on the comparison rows (scipy.stats.bootstrap)."""

    confidence: float = Field(0.95, gt=0.5, lt=1.0)
    resamples: int = Field(1000, ge=100, le=100_000)
    seed: int = 42


class FairnessRule(_Strict):
    """Per sensitive feature: disparate impact (min/max selection rate over judged groups) >= floor,
    and the largest gap of `gap_metric` between judged groups <= max_gap."""

    min_disparate_impact: float = Field(0.8, ge=0.0, le=1.0)
    gap_metric: MetricName = "recall"
    max_gap: float | None = Field(0.2, ge=0.0)



class BaselineRule(_Strict):
    metric: MetricName | None = None
    margin: float = Field(0.05, ge=0.0)



class PromotionPolicy(_Strict):
    """The fail-closed gate that decides whether `champion` moves (see pipelines/policy.py)."""

    value_thresholds: list[ValueThreshold] = Field(min_length=1)
    change_thresholds: list[ChangeThreshold] = []
    bootstrap: BootstrapConfig = BootstrapConfig()
    fairness: FairnessRule | None = FairnessRule()
    baseline: BaselineRule = BaselineRule()


class ColumnDrift(_Strict):
    method: str | None = None
    threshold: float | None = Field(None, gt=0.0)


class DriftConfig(_Strict):
    num_method: str = "psi"
    num_threshold: float = Field(0.2, gt=0.0)
    cat_method: str = "jensenshannon"
    cat_threshold: float = Field(0.1, gt=0.0)
    per_column: dict[str, ColumnDrift] = {}
    drift_share: float = Field(0.3, gt=0.0, le=1.0)


class FeatureStep(_Strict):
    """A registered feature-engineering transformer (see `pipelines.features.TRANSFORMERS`)."""

    transformer: str
    params: dict[str, Any] = {}

    @field_validator("transformer")
    @classmethod
    def _registered(cls, v: str) -> str:
        if v not in FEATURE_TRANSFORMERS:
            raise ValueError(f"unknown transformer {v!r}; registered: {list(FEATURE_TRANSFORMERS)}")
        return v


class FeedConfig(_Strict):
    """`generator`: a registered synthetic feed (pipelines.feed.GENERATORS), or none: CSV import only."""

    generator: str | None = None
    rows_per_day: int = Field(170, ge=1, le=1_000_000)


class DagConfig(_Strict):
    start_date: dt.date
    schedule_days: int = Field(2, ge=1, le=365)
    retries: int = Field(2, ge=0, le=10)
    retry_delay_minutes: float = Field(1.0, gt=0)
    tags: list[str] = []
    owner: str = "mlops"
    # Time limits: every task (train: the search budget plus `train_margin_minutes`), the whole run,
    # and waiting for the project's registry lock.
    task_timeout_minutes: float = Field(30, gt=0, le=1440)
    train_margin_minutes: float = Field(15, gt=0, le=1440)
    dagrun_timeout_minutes: float = Field(240, gt=0, le=10080)
    lock_timeout_minutes: float = Field(5, gt=0, le=120)


class ValidationConfig(_Strict):
    suite: str


class ProjectConfig(_Strict):
    name: str = Field(pattern=r"^[a-z][a-z0-9_]{1,40}$")
    description: str = ""
    task: Literal["binary_classification", "regression"]
    target: str
    derive_target: DerivedTarget | None = None
    filters: list[RowFilter] = []
    categorical_encoding: Literal["onehot", "native"] = "onehot"
    backtest: BacktestConfig | None = None
    # The target's positive class as it appears in the data ("1", "Yes", ...): every other value is 0.
    positive_label: str = "1"
    negative_label: str | None = None  # shown by serving; default: "not <positive_label>"
    id_column: str | None = None
    maturity: Maturity | None = None
    # Probabilities that feed a cost or a Brier/log-loss gate should be calibrated (out-of-fold).
    calibration: Literal["none", "sigmoid", "isotonic"] = "none"
    target_transform: Literal["none", "log1p"] = "none"  # regression: fit log(1 + y), predict in y's units
    drop_columns: list[str] = []
    numeric_features: list[str] = []
    categorical_features: list[str] = []
    feature_engineering: list[FeatureStep] = []
    split: SplitConfig = SplitConfig()
    training_window_days: int = Field(60, ge=1, le=3650)
    search: SearchConfig
    primary_metric: Literal[CLASSIFICATION_METRICS + REGRESSION_METRICS] = "roc_auc"  # type: ignore[valid-type]
    threshold: ThresholdRule = ThresholdRule()
    slices: SliceConfig = SliceConfig()
    sensitive_features: list[str] = []
    promotion: PromotionPolicy
    drift: DriftConfig = DriftConfig()
    validation: ValidationConfig
    feed: FeedConfig = FeedConfig()
    dag: DagConfig

    @model_validator(mode="after")
    def _columns_consistent(self) -> ProjectConfig:
        features = self.numeric_features + self.categorical_features
        if not features:
            raise ValueError("numeric_features and categorical_features are both empty")
        dupes = sorted({c for c in features if features.count(c) > 1})
        if dupes:
            raise ValueError(f"columns listed twice among the features: {dupes}")
        for role, col in (("target", self.target), ("id_column", self.id_column)):
            if col is not None and col in features:
                raise ValueError(f"{role} {col!r} is also listed as a feature (leakage)")
        leaked = sorted(set(self.drop_columns) & set(features))
        if leaked:
            raise ValueError(f"drop_columns {leaked} are also listed as features")
        for name, cols in (
            ("slices.categorical", self.slices.categorical),
            ("sensitive_features", self.sensitive_features),
            ("slices.numeric_bands", [b.column for b in self.slices.numeric_bands]),
        ):
            missing = sorted(set(cols) - set(features))
            if missing:
                raise ValueError(f"{name} names {missing}, which are not features")
        drift_unknown = sorted(set(self.drift.per_column) - set(features))
        if drift_unknown:
            raise ValueError(f"drift.per_column names {drift_unknown}, which are not features")
        # Leakage guard: nothing computed from the target may be an input.
        tgt = self.target.lower()
        leaky = [c for c in features if tgt in c.lower().replace("-", "_").split("_") or c.lower().startswith(tgt)]
        leaky += [f"{s.transformer}({v})" for s in self.feature_engineering for v in s.params.values()
                  if isinstance(v, str) and (v == self.target or v.lower().startswith(tgt))]
        if self.derive_target is not None and self.derive_target.source in features:
            leaky.append(self.derive_target.source)
        if leaky:
            raise ValueError(f"features derived from the target {self.target!r} are refused (leakage): {leaky}")
        regression = self.task == "regression"
        if regression != (self.primary_metric in REGRESSION_METRICS):
            raise ValueError(f"primary_metric {self.primary_metric!r} does not fit task {self.task!r}")
        if regression and (self.sensitive_features or self.threshold.strategy != "maximize" or self.calibration != "none"):
            raise ValueError("regression takes no sensitive_features, threshold or calibration")
        if not regression and self.target_transform != "none":
            raise ValueError("target_transform applies to regression only")
        cost = self.threshold.cost
        if cost is not None and cost.amount_column and cost.amount_column not in self.input_columns:
            raise ValueError(f"threshold.cost.amount_column {cost.amount_column!r} is not an input column")
        return self

    @property
    def features(self) -> list[str]:
        """Raw feature columns of the model, in a stable order."""
        return [*self.numeric_features, *self.categorical_features]

    @property
    def input_columns(self) -> list[str]:
        """What the saved Pipeline takes: the features plus raw columns only feature engineering reads
        (e.g. `date_posted` for vehicle_age)."""
        extra = []
        for step in self.feature_engineering:
            for k, v in step.params.items():
                if k != "name" and isinstance(v, str) and v not in self.features and v not in extra:
                    extra.append(v)
        return [*self.features, *extra]

    @property
    def regression(self) -> bool:
        return self.task == "regression"

    @property
    def dag_id(self) -> str:
        return f"{self.name}_training"

    @property
    def registered_model(self) -> str:
        return self.name

    def window(self, as_of: dt.date, days: int | None = None) -> tuple[dt.date, dt.date]:
        """First and last partition date (inclusive) a run with data interval end `as_of` trains on.

        The interval end is exclusive, as in Airflow: the as-of day's own partition is not complete
        at the as-of instant, so the window ends the day before.
        """
        n = days if days is not None else self.training_window_days
        last = as_of - dt.timedelta(days=1)
        return last - dt.timedelta(days=n - 1), last


def _format_errors(path: Path, err: ValidationError) -> str:
    lines = [f"invalid project file {path}:"]
    for e in err.errors():
        loc = ".".join(str(p) for p in e["loc"]) or "(top level)"
        lines.append(f"  - {loc}: {e['msg']}")
    return "\n".join(lines)


def load_project_file(path: Path) -> ProjectConfig:
    try:
        raw = yaml.safe_load(path.read_text())
    except FileNotFoundError as e:
        raise ProjectConfigError(f"project file not found: {path}") from e
    except yaml.YAMLError as e:
        raise ProjectConfigError(f"project file {path} is not valid YAML: {e}") from e
    if not isinstance(raw, dict):
        raise ProjectConfigError(f"project file {path} must hold a mapping, got {type(raw).__name__}")
    try:
        cfg = ProjectConfig.model_validate(raw)
    except ValidationError as e:
        raise ProjectConfigError(_format_errors(path, e)) from e
    if cfg.name != path.stem:
        raise ProjectConfigError(f"project file {path}: name {cfg.name!r} must match the file name {path.stem!r}")
    return cfg


def project_names(settings: Settings | None = None) -> list[str]:
    s = settings or get_settings()
    return sorted(p.stem for p in s.projects_dir.glob("*.yaml"))


def load_project(name: str, settings: Settings | None = None) -> ProjectConfig:
    s = settings or get_settings()
    path = s.projects_dir / f"{name}.yaml"
    if not path.exists():
        known = project_names(s)
        raise ProjectConfigError(f"unknown project {name!r}; known projects in {s.projects_dir}: {known}")
    return load_project_file(path)
