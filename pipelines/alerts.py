"""Alerts: always a structured log line and a JSON line in the lake; a Slack-compatible webhook when
`ALERT_WEBHOOK_URL` is set. Sending an alert never fails the pipeline.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import urllib.request
import uuid
from typing import Any

from pipelines.settings import get_settings
from pipelines.storage import Lake, open_lake

log = logging.getLogger("pipelines.alerts")


def send_alert(project: str, kind: str, message: str, details: dict[str, Any] | None = None, lake: Lake | None = None) -> dict[str, Any]:
    now = dt.datetime.now(dt.timezone.utc)
    record = {"ts": now.isoformat(), "project": project, "kind": kind, "message": message, "details": details or {}}
    log.warning("ALERT %s", json.dumps(record, default=str, sort_keys=True))
    try:
        lk = lake or open_lake()
        key = f"alerts/{project}/dt={now.date().isoformat()}/{now.strftime('%H%M%S')}-{kind}-{uuid.uuid4().hex[:8]}.jsonl"
        record["lake_uri"] = lk.put_text(key, json.dumps(record, default=str, sort_keys=True) + "\n")
    except Exception as e:
        log.error("could not write alert to the lake: %s", e)
    url = get_settings().alert_webhook_url
    if url:
        payload = {"text": f":rotating_light: [{project}] {kind}: {message}",
                   "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": f"*{project}* `{kind}`\n{message}"}}]}
        try:
            req = urllib.request.Request(url, data=json.dumps(payload).encode(), headers={"Content-Type": "application/json"})
            with urllib.request.urlopen(req, timeout=5) as resp:
                record["webhook_status"] = resp.status
        except Exception as e:
            log.error("alert webhook %s failed: %s", url, e)
            record["webhook_status"] = f"error: {e}"
    return record


def task_failure_callback(context: dict[str, Any]) -> None:
    """Airflow `on_failure_callback`: one alert naming the DAG, task, run and the exception."""
    ti = context.get("task_instance") or context.get("ti")
    dag_id = getattr(ti, "dag_id", "?")
    project = dag_id.rsplit("_", 1)[0] if "_" in dag_id else dag_id
    err = context.get("exception")
    send_alert(
        project,
        "task_failed",
        f"{dag_id}.{getattr(ti, 'task_id', '?')} failed (run {context.get('run_id')}, try {getattr(ti, 'try_number', '?')}): {err}",
        {"dag_id": dag_id, "task_id": getattr(ti, "task_id", None), "run_id": context.get("run_id"), "error": str(err)[:2000]},
    )
