from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

from pipelines.alerts import send_alert, task_failure_callback


def test_alert_goes_to_lake_and_webhook(lake, monkeypatch):
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
    monkeypatch.setenv("ALERT_WEBHOOK_URL", f"http://127.0.0.1:{srv.server_port}/hook")
    rec = send_alert("bankchurn", "drift", "share 0.5", {"x": 1}, lake=lake)
    srv.server_close()
    assert rec["webhook_status"] == 200 and "bankchurn" in got[0]["text"] and "drift" in got[0]["text"]
    [key] = lake.list("alerts/bankchurn/")
    assert json.loads(lake.get_bytes(key))["message"] == "share 0.5"


def test_webhook_down_never_raises(lake, monkeypatch):
    monkeypatch.setenv("ALERT_WEBHOOK_URL", "http://127.0.0.1:9/down")
    rec = send_alert("bankchurn", "drift", "x", lake=lake)
    assert str(rec["webhook_status"]).startswith("error")
    assert lake.list("alerts/bankchurn/")


def test_failure_callback_writes_an_alert(home, lake):
    class TI:
        dag_id, task_id, try_number = "bankchurn_training", "validate", 1

    task_failure_callback({"task_instance": TI(), "run_id": "r1", "exception": ValueError("boom")})
    [key] = lake.list("alerts/bankchurn/")
    rec = json.loads(lake.get_bytes(key))
    assert rec["kind"] == "task_failed" and "validate" in rec["message"] and "boom" in rec["message"]
