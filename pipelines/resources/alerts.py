"""Alerts: always a structured log line and a JSON line in the lake; a Slack-compatible webhook when
`ALERT_WEBHOOK_URL` is set. Sending an alert never fails the pipeline, and the webhook URL (a
secret) never appears in a log line.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import urllib.error
import urllib.request
import uuid
from typing import Any

from pipelines.contracts import layout
from pipelines.resources.lake import Lake, LakeError
from pipelines.resources.redaction import Redactor

log = logging.getLogger("pipelines.alerts")


class AlertSink:
    def __init__(self, lake: Lake, webhook_url: str | None, redactor: Redactor):
        self.lake = lake
        self.webhook_url = webhook_url
        self.redact = redactor

    def send(self, project: str, kind: str, message: str, details: dict[str, Any] | None = None) -> dict[str, Any]:
        now = dt.datetime.now(dt.timezone.utc)
        record = {"ts": now.isoformat(), "project": project, "kind": kind, "message": self.redact(message),
                  "details": json.loads(self.redact(json.dumps(details or {}, default=str)))}
        log.warning("ALERT %s", json.dumps(record, default=str, sort_keys=True))
        try:
            key = layout.alert_key(project, now, kind, uuid.uuid4().hex[:8])
            record["lake_uri"] = self.lake.put_text(key, json.dumps(record, default=str, sort_keys=True) + "\n")
        except LakeError as e:  # the alert is already in the log: a lake outage must not hide it
            log.error("could not write the alert to the lake: %s", self.redact(str(e)))
        if self.webhook_url:
            record["webhook_status"] = self._post(project, kind, record["message"])
        return record

    def _post(self, project: str, kind: str, message: str) -> int | str:
        payload = {"text": f":rotating_light: [{project}] {kind}: {message}",
                   "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": f"*{project}* `{kind}`\n{message}"}}]}
        assert self.webhook_url is not None
        req = urllib.request.Request(self.webhook_url, data=json.dumps(payload).encode(), headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=5) as resp:  # nosec B310
                return int(resp.status)
        except (urllib.error.URLError, OSError, ValueError) as e:
            # The URL is a secret (Slack embeds the token in it): log the failure, never the URL.
            msg = self.redact(str(e)).replace(self.webhook_url, "***")
            log.error("alert webhook failed (%s): %s", type(e).__name__, msg)
            return f"error: {type(e).__name__}"
