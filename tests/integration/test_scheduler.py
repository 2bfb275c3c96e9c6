"""Through the real scheduler on the server stack (scripts/stack.py: moto S3, MLflow server on
Postgres, airflow standalone on Postgres): trigger over REST API v2 with conf, a backfill over 6 days
(3 runs, distinct training windows, no future rows), and the task's extra links."""

from __future__ import annotations

import json
import os
import shlex
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import pytest

from pipelines.databases import DatabaseSetupError, drop_databases
from tests.conftest import REPO, load_script

pytestmark = pytest.mark.integration
BIN = Path(sys.executable).parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Api:
    def __init__(self, base: str, password: str):
        self.base = base
        self.token = self._call("POST", "/auth/token", {"username": "admin", "password": password}, auth=False)["access_token"]

    def _call(self, method: str, path: str, body: dict | None = None, auth: bool = True):
        req = urllib.request.Request(self.base + path, method=method, data=json.dumps(body).encode() if body is not None else None,
                                     headers={"Content-Type": "application/json", "Accept": "application/json",
                                              **({"Authorization": f"Bearer {self.token}"} if auth else {})})
        with urllib.request.urlopen(req, timeout=30) as r:
            return json.loads(r.read() or b"null")

    def get(self, path: str):
        return self._call("GET", path)

    def post(self, path: str, body: dict):
        return self._call("POST", path, body)

    def patch(self, path: str, body: dict):
        return self._call("PATCH", path, body)


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    mod = load_script("stack")
    home = tmp_path_factory.mktemp("stack")
    st = mod.Stack(home=home, db_prefix=f"mlops_s{uuid.uuid4().hex[:8]}", s3_port=_free_port(), mlflow_port=_free_port(),
                   airflow_port=_free_port())
    try:
        mod.up(st)
    except DatabaseSetupError as e:
        if os.environ.get("CI"):
            pytest.fail(f"CI must run the scheduler tests: {e}")
        pytest.skip(f"Postgres not reachable ({e}); start it to run the scheduler tests")
    except BaseException:
        mod.down(st)
        raise
    env = dict(os.environ)
    for line in (st.dir / "stack.env").read_text().splitlines():
        k, _, v = line.removeprefix("export ").partition("=")
        env[k] = shlex.split(v)[0] if v else ""
    password = next(iter(json.loads((st.dir / "airflow" / "simple_auth_manager_passwords.json.generated").read_text()).values()))
    yield {"st": st, "env": env, "api": Api(st.airflow_url, password)}
    mod.down(st)
    drop_databases(st.pg_admin, [f"{st.db_prefix}_{s}" for s in ("airflow", "mlflow", "optuna")])


def _wait_runs(api: Api, dag_id: str, run_ids: list[str], timeout: float = 900) -> dict[str, str]:
    deadline = time.monotonic() + timeout
    while True:
        states = {r: api.get(f"/api/v2/dags/{dag_id}/dagRuns/{r}")["state"] for r in run_ids}
        if all(s in ("success", "failed") for s in states.values()) or time.monotonic() > deadline:
            return states
        time.sleep(5)


def _lake_json(stack, key: str):
    import boto3

    s3 = boto3.client("s3", endpoint_url=stack["env"]["AWS_ENDPOINT_URL"], aws_access_key_id="stack",
                      aws_secret_access_key="stack-secret", region_name="us-east-1")
    return json.loads(s3.get_object(Bucket="lake", Key=f"mlops/{key}")["Body"].read())


def test_rest_trigger_backfill_and_links(stack):
    api, env = stack["api"], stack["env"]
    subprocess.run([str(BIN / "python"), "-m", "pipelines", "feed", "bankchurn", "--start", "2026-01-01", "--end", "2026-01-30",
                    "--rows-per-day", "80"], env=env, check=True, cwd=REPO, capture_output=True)
    dag = "bankchurn_training"
    for _ in range(60):  # the dag-processor parses the folder on start
        try:
            api.get(f"/api/v2/dags/{dag}")
            break
        except urllib.error.HTTPError:
            time.sleep(2)
    api.patch(f"/api/v2/dags/{dag}", {"is_paused": False})

    plugins = {p["name"]: p for p in api.get("/api/v2/plugins")["plugins"]}
    assert {v["href"] for v in plugins["mlops_links"]["external_views"]} == {env["MLFLOW_UI_URL"]}

    # a bad Param is refused at trigger time, naming the param
    with pytest.raises(urllib.error.HTTPError) as e:
        api.post(f"/api/v2/dags/{dag}/dagRuns", {"logical_date": "2026-01-19T00:00:00Z", "conf": {"n_trials": 0}})
    assert e.value.code == 400 and "n_trials" in e.value.read().decode()

    run = api.post(f"/api/v2/dags/{dag}/dagRuns", {"logical_date": "2026-01-21T00:00:00Z", "conf": {"n_trials": 3}})
    assert (run["data_interval_start"], run["data_interval_end"]) == ("2026-01-19T00:00:00Z", "2026-01-21T00:00:00Z")
    assert _wait_runs(api, dag, [run["dag_run_id"]]) == {run["dag_run_id"]: "success"}

    links = api.get(f"/api/v2/dags/{dag}/dagRuns/{run['dag_run_id']}/taskInstances/train/links")
    links = links.get("extra_links", links)
    trained = _lake_json(stack, "runs/bankchurn/2026-01-21/decision.json")
    assert links["MLflow run"].startswith(env["MLFLOW_UI_URL"]) and trained["run_id"] in links["MLflow run"]
    assert links["Model version"].endswith("/#/models/bankchurn/versions/1")
    assert links["GX Data Docs"].endswith("/artifacts/training/gx_data_docs.html")
    assert links["Evidently drift report"].endswith("/artifacts/drift/drift_report.html")

    # backfill 6 days at a 2-day schedule: 3 runs, each trains only up to its own interval's end
    bf = api.post("/api/v2/backfills", {"dag_id": dag, "from_date": "2026-01-23T00:00:00Z", "to_date": "2026-01-28T00:00:00Z",
                                        "max_active_runs": 1, "reprocess_behavior": "none", "dag_run_conf": {"n_trials": 2}})
    deadline = time.monotonic() + 60
    while True:
        runs = [r for r in api.get(f"/api/v2/dags/{dag}/dagRuns?run_type=backfill&limit=50")["dag_runs"]]
        if len(runs) >= 3 or time.monotonic() > deadline:
            break
        time.sleep(2)
    assert len(runs) == 3, runs
    states = _wait_runs(api, dag, [r["dag_run_id"] for r in runs])
    assert set(states.values()) == {"success"}, states
    windows = []
    for r in runs:
        as_of = r["data_interval_end"][:10]
        ext = _lake_json(stack, f"runs/bankchurn/{as_of}/extract.json")
        assert ext["window_end"] < as_of  # nothing from the as-of day or later
        windows.append((ext["window_start"], ext["window_end"]))
    assert len(set(windows)) == 3, windows
    deadline = time.monotonic() + 120  # the scheduler closes the backfill shortly after its last run
    while api.get(f"/api/v2/backfills/{bf['id']}")["completed_at"] is None and time.monotonic() < deadline:
        time.sleep(3)
    assert api.get(f"/api/v2/backfills/{bf['id']}")["completed_at"] is not None
