"""Airflow plugin: from a pipeline task to its MLflow run (model-training view), registered model
version, decision, comparison report, GX Data Docs and Evidently drift report; from a drift-monitor
task to the day's drift report on the champion's run; plus MLflow as a plain link under Browse
(MLflow refuses to be framed, so no iframe).

Global operator extra links are evaluated by the API server when the task instance's Details tab
(or GET .../taskInstances/{task}/links) asks; they read the run's XComs through the same typed
contracts the steps return, so a link is empty until the task that produces its target has run.
Artifact links open the file in its run's Artifacts tab (MLflow serves raw artifacts only as downloads).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from airflow.plugins_manager import AirflowPlugin
from airflow.sdk import BaseOperatorLink

from pipelines.config.settings import Settings
from pipelines.contracts import DriftSummary, Extracted, Registered, Trained, names

TRAINING_SUFFIX, MONITOR_SUFFIX = "_training", "_drift_monitor"


def mlflow_ui() -> str:
    return Settings.from_env().mlflow_ui_url


def _xcom(ti_key: Any, task_id: str) -> Any:
    """The return value of `task_id` in the same DAG run (read from the metadata DB)."""
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        row = session.scalars(XComModel.get_many(run_id=ti_key.run_id, key="return_value", task_ids=task_id, dag_ids=ti_key.dag_id)).first()
        return XComModel.deserialize_value(row) if row is not None else None


def run_url(trained: Trained) -> str:
    return names.ui_run(mlflow_ui(), trained.experiment_id, trained.run_id)


def artifact_url(run_id: str, path: str, experiment_id: str | None = None) -> str:
    """The artifact selected in its run's Artifacts tab (model-training view). MLflow serves raw
    artifacts only as downloads (`get-artifact` is always an attachment), so the raw link is the
    fallback when the experiment is not known."""
    if experiment_id:
        return names.ui_artifact(mlflow_ui(), experiment_id, run_id, quote(path))
    return f"{mlflow_ui()}/get-artifact?path={quote(path)}&run_uuid={run_id}"


class _XcomLink(BaseOperatorLink):
    """A link built from one task's typed XCom; empty (disabled) in other DAGs or before that task ran."""

    name = "pipeline link"
    dag_suffix, source_task, contract = TRAINING_SUFFIX, names.TASK_REFIT, Trained

    def get_link(self, operator: Any, *, ti_key: Any) -> str:
        if not ti_key.dag_id.endswith(self.dag_suffix):
            return ""
        raw = _xcom(ti_key, self.source_task)
        return self.url(self.contract.from_json(raw), ti_key) if isinstance(raw, dict) else ""

    def url(self, value: Any, ti_key: Any) -> str:
        raise NotImplementedError


class _TrainingLink(_XcomLink):
    """From a `<project>_training` task to what its run's refit logged."""


class MlflowRunLink(_TrainingLink):
    name = "MLflow run"

    def url(self, trained: Trained, ti_key: Any) -> str:
        return run_url(trained)


class ModelVersionLink(_TrainingLink):
    name = "Model version"

    def url(self, trained: Trained, ti_key: Any) -> str:
        reg, ex = _xcom(ti_key, names.TASK_REGISTER), _xcom(ti_key, names.TASK_EXTRACT)
        if not isinstance(reg, dict) or not isinstance(ex, dict):
            return ""
        return names.ui_version(mlflow_ui(), Extracted.from_json(ex).project, Registered.from_json(reg).version)


class _ArtifactLink(_TrainingLink):
    """An artifact of the run, linked once the task that logs it has run."""

    path: str = ""
    after: str | None = None

    def url(self, trained: Trained, ti_key: Any) -> str:
        done = self.after is None or _xcom(ti_key, self.after) is not None
        return artifact_url(trained.run_id, self.path, trained.experiment_id) if done else ""


class DecisionLink(_ArtifactLink):
    name, path, after = "Promotion decision", names.DECISION_MD, names.TASK_REGISTER


class ComparisonLink(_ArtifactLink):
    name, path, after = "Champion comparison", names.COMPARISON_HTML, names.TASK_EVALUATE


class DataDocsLink(_ArtifactLink):
    name, path = "GX Data Docs", names.DATA_DOCS


class DriftReportLink(_ArtifactLink):
    name, path, after = "Evidently drift report", names.DRIFT_HTML, names.TASK_DRIFT


class MonitorReportLink(_XcomLink):
    """The drift monitor's report of the day, logged on the champion's MLflow run."""

    name = "Drift monitor report"
    dag_suffix, source_task, contract = MONITOR_SUFFIX, names.TASK_CHECK_DRIFT, DriftSummary

    def url(self, s: DriftSummary, ti_key: Any) -> str:
        if not s.mlflow_run_id or not s.report_artifact:
            return ""
        return artifact_url(s.mlflow_run_id, s.report_artifact, s.mlflow_experiment_id)


class MlopsLinksPlugin(AirflowPlugin):
    name = "mlops_links"
    global_operator_extra_links = [MlflowRunLink(), ModelVersionLink(), DecisionLink(), ComparisonLink(), DataDocsLink(),
                                   DriftReportLink(), MonitorReportLink()]
    # No url_route: a plain link that opens MLflow itself (it sends X-Frame-Options, so an iframe would be refused).
    external_views = [{"name": "MLflow", "href": mlflow_ui(), "destination": "nav", "category": "browse"}]
