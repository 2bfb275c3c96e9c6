"""Airflow failure notifications: one alert per failed task, filed under the project the DAG was built
for (given by the factory, not parsed from the DAG id), through the project's alert sink (log line,
lake, webhook)."""

from __future__ import annotations

from typing import Any

from airflow.sdk import BaseNotifier


class TaskFailureAlert(BaseNotifier):
    def __init__(self, project: str):
        super().__init__()
        self.project = project

    def notify(self, context: Any) -> None:
        from pipelines.resources import Resources

        ti = context.get("task_instance") or context.get("ti")
        dag_id, task_id = getattr(ti, "dag_id", "?"), getattr(ti, "task_id", "?")
        err = context.get("exception")
        Resources.from_env().alerts.send(
            self.project, "task_failed",
            f"{dag_id}.{task_id} failed (run {context.get('run_id')}, try {getattr(ti, 'try_number', '?')}): {err}",
            {"dag_id": dag_id, "task_id": task_id, "run_id": context.get("run_id"), "error": str(err)[:2000]})
