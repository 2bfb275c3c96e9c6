"""Airflow plugin: from a pipeline task to its MLflow run, registered model version, GX Data Docs and
Evidently drift report (all served by the MLflow UI, whose URL comes from MLFLOW_UI_URL), plus the
MLflow UI as an external view under Browse.

Global operator extra links are evaluated by the API server when the task instance's Details tab
(or GET .../taskInstances/{task}/links) asks; they read the run's XComs (run id, experiment id,
model version), so a link is empty until the task that produces its target has run.
"""

from __future__ import annotations

import os
from typing import Any

from airflow.plugins_manager import AirflowPlugin
from airflow.sdk import BaseOperatorLink

PIPELINE_SUFFIX = "_training"


def mlflow_ui() -> str:
    return (os.environ.get("MLFLOW_UI_URL") or "http://127.0.0.1:5000").rstrip("/")


def _xcom(ti_key: Any, task_id: str) -> dict[str, Any] | None:
    """The return value of `task_id` in the same DAG run (read from the metadata DB)."""
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        row = session.scalars(
            XComModel.get_many(run_id=ti_key.run_id, key="return_value", task_ids=task_id, dag_ids=ti_key.dag_id)
        ).first()
        value = XComModel.deserialize_value(row) if row is not None else None
    return value if isinstance(value, dict) else None


class _PipelineLink(BaseOperatorLink):
    """Empty (disabled) outside `<project>_training` DAGs or before the target exists."""

    name = "pipeline link"

    def get_link(self, operator: Any, *, ti_key: Any) -> str:
        if not ti_key.dag_id.endswith(PIPELINE_SUFFIX):
            return ""
        trained = _xcom(ti_key, "train")
        if not trained or "run_id" not in trained:
            return ""
        return self.url(ti_key.dag_id[: -len(PIPELINE_SUFFIX)], trained, ti_key)

    def url(self, project: str, trained: dict[str, Any], ti_key: Any) -> str:
        raise NotImplementedError


def _run_url(trained: dict[str, Any]) -> str:
    return f"{mlflow_ui()}/#/experiments/{trained.get('experiment_id', '0')}/runs/{trained['run_id']}"


class MlflowRunLink(_PipelineLink):
    name = "MLflow run"

    def url(self, project: str, trained: dict[str, Any], ti_key: Any) -> str:
        return _run_url(trained)


class ModelVersionLink(_PipelineLink):
    name = "Model version"

    def url(self, project: str, trained: dict[str, Any], ti_key: Any) -> str:
        registered = _xcom(ti_key, "register")
        if not registered or not registered.get("version"):
            return ""
        return f"{mlflow_ui()}/#/models/{project}/versions/{registered['version']}"


class DataDocsLink(_PipelineLink):
    name = "GX Data Docs"

    def url(self, project: str, trained: dict[str, Any], ti_key: Any) -> str:
        return f"{_run_url(trained)}/artifacts/training/gx_data_docs.html"


class DriftReportLink(_PipelineLink):
    name = "Evidently drift report"

    def url(self, project: str, trained: dict[str, Any], ti_key: Any) -> str:
        return "" if _xcom(ti_key, "drift") is None else f"{_run_url(trained)}/artifacts/drift/drift_report.html"


class MlopsLinksPlugin(AirflowPlugin):
    name = "mlops_links"
    global_operator_extra_links = [MlflowRunLink(), ModelVersionLink(), DataDocsLink(), DriftReportLink()]
    external_views = [
        {"name": "MLflow", "href": mlflow_ui(), "destination": "nav", "category": "browse", "url_route": "mlflow"},
    ]
