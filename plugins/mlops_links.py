"""Airflow plugin: from a pipeline task to its MLflow run (model-training view), registered model
version, decision, comparison report, GX Data Docs and Evidently drift report; from a drift-monitor
task to the day's drift report on the champion's run; plus MLflow as a plain link under Browse
(MLflow refuses to be framed, so no iframe).

Global operator extra links are evaluated by the API server when the task instance's Details tab
(or GET .../taskInstances/{task}/links) asks; they read the run's XComs through the same typed
contracts the steps return, so a link is empty until the task that produces its target has run.
Artifact links open the raw file (`get-artifact`), which the browser renders at full size.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from airflow.plugins_manager import AirflowPlugin
from airflow.sdk import BaseOperatorLink

from pipelines import names
from pipelines.contracts import DriftSummary, Extracted, Registered, Trained
from pipelines.settings import Settings

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
    return f"{mlflow_ui()}/#/experiments/{trained.experiment_id}/runs/{trained.run_id}{names.ML_VIEW}"


def artifact_url(run_id: str, path: str) -> str:
    """The raw artifact, opened full-page by the browser (MLflow's preview pane crops big reports)."""
    return f"{mlflow_ui()}/get-artifact?path={quote(path)}&run_uuid={run_id}"


class _TrainingLink(BaseOperatorLink):
    """Empty (disabled) outside `<project>_training` DAGs or before the refit task has run."""

    name = "pipeline link"

    def get_link(self, operator: Any, *, ti_key: Any) -> str:
        if not ti_key.dag_id.endswith(TRAINING_SUFFIX):
            return ""
        raw = _xcom(ti_key, names.TASK_REFIT)
        if not isinstance(raw, dict):
            return ""
        return self.url(Trained.from_json(raw), ti_key)

    def url(self, trained: Trained, ti_key: Any) -> str:
        raise NotImplementedError


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
        return f"{mlflow_ui()}/#/models/{Extracted.from_json(ex).project}/versions/{Registered.from_json(reg).version}"


class DecisionLink(_TrainingLink):
    name = "Promotion decision"

    def url(self, trained: Trained, ti_key: Any) -> str:
        return artifact_url(trained.run_id, names.DECISION_MD) if _xcom(ti_key, names.TASK_REGISTER) is not None else ""


class ComparisonLink(_TrainingLink):
    name = "Champion comparison"

    def url(self, trained: Trained, ti_key: Any) -> str:
        return artifact_url(trained.run_id, names.COMPARISON_HTML) if _xcom(ti_key, names.TASK_EVALUATE) is not None else ""


class DataDocsLink(_TrainingLink):
    name = "GX Data Docs"

    def url(self, trained: Trained, ti_key: Any) -> str:
        return artifact_url(trained.run_id, names.DATA_DOCS)


class DriftReportLink(_TrainingLink):
    name = "Evidently drift report"

    def url(self, trained: Trained, ti_key: Any) -> str:
        return artifact_url(trained.run_id, names.DRIFT_HTML) if _xcom(ti_key, names.TASK_DRIFT) is not None else ""


class MonitorReportLink(BaseOperatorLink):
    """The drift monitor's report of the day, logged on the champion's MLflow run."""

    name = "Drift monitor report"

    def get_link(self, operator: Any, *, ti_key: Any) -> str:
        if not ti_key.dag_id.endswith(MONITOR_SUFFIX):
            return ""
        raw = _xcom(ti_key, names.TASK_CHECK_DRIFT)
        if not isinstance(raw, dict):
            return ""
        s = DriftSummary.from_json(raw)
        if not s.mlflow_run_id or not s.report_artifact:
            return ""
        return artifact_url(s.mlflow_run_id, s.report_artifact)


class MlopsLinksPlugin(AirflowPlugin):
    name = "mlops_links"
    global_operator_extra_links = [MlflowRunLink(), ModelVersionLink(), DecisionLink(), ComparisonLink(), DataDocsLink(),
                                   DriftReportLink(), MonitorReportLink()]
    # No url_route: a plain link that opens MLflow itself (it sends X-Frame-Options, so an iframe would be refused).
    external_views = [{"name": "MLflow", "href": mlflow_ui(), "destination": "nav", "category": "browse"}]
