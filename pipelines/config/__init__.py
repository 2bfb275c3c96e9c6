"""Configuration as data, shared by every layer: one pydantic-validated YAML per ML project (a module
per block of the file) and the deployment's settings, read from the environment in one place
(`settings.py`, the only reader of `os.environ`).

May import: pydantic, yaml and this package only; nothing else of `pipelines`. The public names are
re-exported here, so `from pipelines.config import ProjectConfig` reads the same whichever block
module defines a name.
"""

from __future__ import annotations

from pipelines.config.base import (
    ALL_METRICS,
    CLASSIFICATION_METRICS,
    FEATURE_TRANSFORMERS,
    LOWER_IS_BETTER,
    MAX_TRIALS,
    MODEL_FAMILIES,
    REGRESSION_METRICS,
    Direction,
    MetricName,
    ProjectConfigError,
    Strict,
)
from pipelines.config.dag import DagConfig
from pipelines.config.data import DerivedTarget, FeatureStep, FeedConfig, Maturity, RowFilter, SplitConfig, ValidationConfig
from pipelines.config.evaluation import BacktestConfig, CostModel, NumericBand, SliceConfig, ThresholdRule, ValueThreshold
from pipelines.config.loading import load_project, load_project_file, project_names, with_policy_text, with_proposed_policy
from pipelines.config.monitoring import ColumnDrift, DecayRule, DriftConfig, OutcomesConfig
from pipelines.config.project import ProjectConfig
from pipelines.config.promotion import BaselineRule, BootstrapConfig, ChangeThreshold, FairnessRule, PromotionPolicy
from pipelines.config.search import CategoricalParam, EarlyStopping, FamilyCull, FloatParam, IntParam, SearchConfig, SearchParam

__all__ = [
    "ALL_METRICS", "CLASSIFICATION_METRICS", "FEATURE_TRANSFORMERS", "LOWER_IS_BETTER", "MAX_TRIALS", "MODEL_FAMILIES",
    "REGRESSION_METRICS", "BacktestConfig", "BaselineRule", "BootstrapConfig", "CategoricalParam", "ChangeThreshold", "ColumnDrift",
    "CostModel", "DagConfig", "DecayRule", "DerivedTarget", "Direction", "DriftConfig", "EarlyStopping", "FairnessRule", "FamilyCull",
    "FeatureStep", "FeedConfig", "FloatParam", "IntParam", "Maturity", "MetricName", "NumericBand", "OutcomesConfig", "ProjectConfig",
    "ProjectConfigError", "PromotionPolicy", "RowFilter", "SearchConfig", "SearchParam", "SliceConfig", "SplitConfig", "Strict",
    "ThresholdRule", "ValidationConfig", "ValueThreshold", "load_project", "load_project_file", "project_names", "with_policy_text", "with_proposed_policy",
]
