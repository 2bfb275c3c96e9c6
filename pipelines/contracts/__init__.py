"""What every layer agrees on, shared by all of them: the typed hand-offs between steps (pydantic
models that become JSON only at the edges), the lake's layout (`layout.py`: every key the pipeline
reads or writes) and the names in MLflow (`names.py`: aliases, tags, artifact paths, UI links).

May import: pydantic and this package only (`names` and `layout` import nothing at all, so the
Airflow plugin can read them inside the API server). The typed models are re-exported here.
"""

from __future__ import annotations

from pipelines.contracts.base import OVERALL, Contract, Metrics, Outcome, clean_metrics, finite_or_none
from pipelines.contracts.decision import AliasMove, Check, Decision, DecisionRecord, Registered
from pipelines.contracts.drift import DriftColumn, DriftResult, DriftSummary
from pipelines.contracts.evaluation import (
    Backtest,
    ChampionRef,
    DeltaInterval,
    Evaluated,
    Evaluation,
    FairnessResult,
    FreshRows,
    MetricInterval,
    ModelScores,
    SliceScore,
)
from pipelines.contracts.realized import JoinCounts, RealizedMetrics, RealizedReport, ScoredArm, ScoredPartition
from pipelines.contracts.run import Extracted, RunSpec, SearchPlan, Trained, Tuned, Validated

__all__ = [
    "OVERALL", "AliasMove", "Backtest", "ChampionRef", "Check", "Contract", "Decision", "DecisionRecord", "DeltaInterval", "DriftColumn",
    "DriftResult", "DriftSummary", "Evaluated", "Evaluation", "Extracted", "FairnessResult", "FreshRows", "JoinCounts", "MetricInterval", "Metrics",
    "ModelScores", "Outcome", "RealizedMetrics", "RealizedReport", "Registered", "ScoredArm", "ScoredPartition", "RunSpec", "SearchPlan", "SliceScore", "Trained", "Tuned", "Validated", "clean_metrics",
    "finite_or_none",
]
