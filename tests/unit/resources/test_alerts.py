from __future__ import annotations

import json
import logging
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

from pipelines.orchestration.notifications import TaskFailureAlert
from pipelines.resources.alerts import AlertSink
from pipelines.resources.redaction import Redactor, install


def _sink(lake, url=None):
    return AlertSink(lake, url, Redactor([url] if url else []))


def test_alert_goes_to_lake_and_webhook(lake):
    got = []

    class H(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802
            got.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *a):
            pass

    srv = HTTPServer(("127.0.0.1", 0), H)
    threading.Thread(target=srv.handle_request, daemon=True).start()
    rec = _sink(lake, f"http://127.0.0.1:{srv.server_port}/hook").send("bankchurn", "drift", "share 0.5", {"x": 1})
    srv.server_close()
    assert rec["webhook_status"] == 200 and "bankchurn" in got[0]["text"] and "drift" in got[0]["text"]
    [key] = lake.list("alerts/bankchurn/")
    assert json.loads(lake.get_bytes(key))["message"] == "share 0.5"


def test_webhook_down_never_raises_and_never_logs_the_url(lake, caplog):
    url = "http://127.0.0.1:9/services/T000/B000/XXXXsecretXXXX"
    with caplog.at_level(logging.INFO):
        rec = _sink(lake, url).send("bankchurn", "drift", "x")
    assert str(rec["webhook_status"]).startswith("error") and lake.list("alerts/bankchurn/")
    assert "XXXXsecretXXXX" not in caplog.text and "alert webhook failed" in caplog.text


def test_failure_notifier_names_the_project_it_was_built_for(home, lake):
    class TI:
        dag_id, task_id, try_number = "bankchurn_drift_monitor", "check_drift", 1  # the id alone would say "bankchurn_drift"

    TaskFailureAlert("bankchurn").notify({"task_instance": TI(), "run_id": "r1", "exception": ValueError("boom")})
    [key] = lake.list("alerts/bankchurn/")
    rec = json.loads(lake.get_bytes(key))
    assert rec["kind"] == "task_failed" and "check_drift" in rec["message"] and "boom" in rec["message"]


def test_secrets_are_masked_in_every_log_line(caplog):
    red = Redactor(["hunter2-long-password"])
    handler = logging.StreamHandler()
    logger = logging.getLogger("redaction-test")
    logger.addHandler(handler)
    install(red, logger)
    record = logging.LogRecord("x", logging.INFO, "f", 1, "connecting to %s with %s", (
        "postgresql+psycopg2://optuna:hunter2-long-password@db:5432/optuna", "https://hooks.slack.com/services/T1/B2/abcdef"), None)
    handler.filters[0].filter(record)
    msg = record.getMessage()
    assert "hunter2" not in msg and "abcdef" not in msg and "optuna:***@db" in msg and "hooks.slack.com/services/***" in msg
    assert red("Authorization: Bearer abcdefghijklmnop") == "Authorization: Bearer ***"
    assert red("token=s3cr3t&x=1") == "token=***&x=1"
    logger.removeHandler(handler)
