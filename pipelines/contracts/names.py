"""Names in the MLflow registry and tracking server: aliases, tags, artifact paths, metric prefixes.

Light on purpose (no imports): the Airflow plugin reads it inside the API server.
"""

from __future__ import annotations

# Aliases (never the deprecated stages).
CHAMPION = "champion"      # the version that serves
CHALLENGER = "challenger"  # the newest registered version that is not champion (removed when it is promoted)
PREVIOUS = "previous"      # the champion before the current one: `pipelines rollback` restores it
ALIASES = (CHAMPION, CHALLENGER, PREVIOUS)

# Run tags.
RUN_KEY = "mlops.run_key"              # <project>/<as-of>
FINGERPRINT = "mlops.fingerprint"      # data hash + settings that determine the model
MODEL_URI = "mlops.model_uri"          # models:/m-... of the run's logged model
PROJECT = "mlops.project"
AS_OF = "as_of"
DATA_HASH = "data_hash"
WINDOW = "window"
FAMILY = "family"
THRESHOLD = "mlops.threshold"          # the decision threshold inside the model (classification)
TRAIN_URI = "mlops.train_uri"          # immutable training snapshot
TEST_URI = "mlops.test_uri"            # immutable test snapshot
EVALUATION_URI = "mlops.evaluation_uri"  # the evaluation the decision was made on
DATA_VALIDATION = "data_validation"    # passed | failed (the GX suite on the run's data)
DRIFT_STATUS = "mlops.drift_status"
CHAMPION_AT_EVALUATE = "mlops.champion_at_evaluate"

# Version tags written by the promotion gate.
DECISION = "decision"                  # promoted | kept_champion | rejected | promoted_manually
DECISION_REASON = "decision_reason"
PROMOTION_CHECKS = "promotion_checks"  # passed | failed: did every judged promotion check pass
CHECKS_SUMMARY = "promotion_checks_summary"  # "12 passed, 1 failed, 3 not judged"
CHAMPION_AT_DECISION = "champion_at_decision"
DECISION_URI = "mlops.decision_uri"
DECISION_STATE = "mlops.decision_state"  # recorded (moves pending) | applied

# Registered-model tag: the write-ahead journal of alias moves in progress (JSON).
PENDING_MOVES = "mlops.pending_moves"
# Registered-model tag: how the prediction service rolls `challenger` out (JSON, `contracts.rollout`).
ROLLOUT = "mlops.rollout"

# Experiment tags: open runs in MLflow's model-training views, not the GenAI ones.
EXPERIMENT_KIND_TAG = "mlflow.experimentKind"
EXPERIMENT_KIND = "custom_model_development"
RUN_NOTE = "mlflow.note.content"       # the run's description in the MLflow UI

# Artifact paths inside a run (the plugin links to them).
ARTIFACT_TRAINING = "training"
ARTIFACT_EVALUATION = "evaluation"
ARTIFACT_DECISION = "decision"
ARTIFACT_DRIFT = "drift"
ARTIFACT_MONITOR = "monitoring"
DATA_DOCS = f"{ARTIFACT_TRAINING}/gx_data_docs.html"
COMPARISON_HTML = f"{ARTIFACT_EVALUATION}/comparison.html"
DECISION_MD = f"{ARTIFACT_DECISION}/decision.md"
DRIFT_HTML = f"{ARTIFACT_DRIFT}/drift_report.html"
MODEL_NAME = "model"

# Metric prefixes: `test_*` is the run's own model on its comparison rows; like-for-like with the
# champion only under `champion/test_*` of the same run.
TEST = "test_"
CHAMPION_TEST = "champion/test_"
BASELINE_TEST = "baseline/test_"
DELTA = "delta_vs_champion/"

# MLflow UI query that lands in the model-training views.
ML_VIEW = "?workflowType=machine_learning"


# Pages of the MLflow UI (hash routes of MLflow 3), in the model-training views. An artifact opens
# selected in its run's Artifacts tab: MLflow serves raw artifacts only as downloads.
def ui_run(ui: str, experiment_id: str, run_id: str) -> str:
    return f"{ui}/#/experiments/{experiment_id}/runs/{run_id}{ML_VIEW}"


def ui_artifact(ui: str, experiment_id: str, run_id: str, path: str) -> str:
    return f"{ui}/#/experiments/{experiment_id}/runs/{run_id}/artifactPath/{path}{ML_VIEW}"


def ui_version(ui: str, project: str, version: str) -> str:
    return f"{ui}/#/models/{project}/versions/{version}{ML_VIEW}"

# Task ids of the training and monitor DAGs (the plugin reads their XComs).
TASK_EXTRACT, TASK_VALIDATE, TASK_PLAN, TASK_TUNE = "extract", "validate", "plan_search", "tune"
TASK_REFIT, TASK_EVALUATE, TASK_REGISTER, TASK_DRIFT = "refit", "evaluate", "register", "drift"
TASK_CHECK_DRIFT, TASK_SIGNAL = "check_drift", "signal_retrain"
