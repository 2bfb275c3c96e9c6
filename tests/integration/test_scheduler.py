"""Through the real scheduler on the server stack (scripts/stack.py: moto S3, MLflow server on Postgres
with basic-auth, Airflow on Postgres with the CeleryExecutor and two workers on Redis, task logs in
the bucket): REST trigger with conf; the search fanned out over two workers; every task log readable
through the API from the bucket; the extra links; a backfill whose runs each train only on their
own window."""

from __future__ import annotations

import json
import os
import shlex
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from pathlib import Path

import pytest

from pipelines.resources.databases import drop_databases
from tests.conftest import REPO, load_script, require_pg

pytestmark = pytest.mark.integration
BIN = Path(sys.executable).parent
DAG = "bankchurn_training"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Api(load_script("demo").Airflow):  # type: ignore[misc]
    """The demo's REST client, logged in with a known password, plus what these tests read."""

    def __init__(self, base: str, password: str):
        super().__init__(base, Path())
        self.token = self.call("POST", "/auth/token", {"username": "admin", "password": password}, auth=False)["access_token"]

    def get(self, path: str):
        return self.call("GET", path)

    def post(self, path: str, body: dict):
        return self.call("POST", path, body)

    def patch(self, path: str, body: dict):
        return self.call("PATCH", path, body)

    def wait_runs(self, run_ids: list[str], timeout: float = 900) -> dict[str, str]:
        deadline = time.monotonic() + timeout
        while True:
            states = {r: self.state(DAG, r) for r in run_ids}
            if all(s in ("success", "failed") for s in states.values()) or time.monotonic() > deadline:
                return states
            time.sleep(5)

    def log(self, run_id: str, task: str, try_number: int = 1, map_index: int = -1) -> str:
        q = f"?full_content=true&map_index={map_index}"
        out = self.get(f"/api/v2/dags/{DAG}/dagRuns/{urllib.parse.quote(run_id)}/taskInstances/{task}/logs/{try_number}{q}")
        return "\n".join(c.get("event", "") if isinstance(c, dict) else str(c) for c in out["content"])


def start_stack(tmp_path_factory, executor: str, workers: int = 2):  # type: ignore[no-untyped-def]
    require_pg()
    mod = load_script("stack")
    st = mod.Stack(home=tmp_path_factory.mktemp("stack"), db_prefix=f"mlops_s{uuid.uuid4().hex[:8]}", s3_port=free_port(),
                   mlflow_port=free_port(), airflow_port=free_port(), redis_url=f"redis://127.0.0.1:6379/{(os.getpid() % 14) + 1}",
                   executor=executor, workers=workers)
    try:
        mod.up(st)
    except BaseException:
        mod.down(st)
        drop_databases(st.pg_admin, [f"{st.db_prefix}_{s}" for s in ("airflow", "mlflow", "optuna")])
        raise
    env = dict(os.environ)
    for line in (st.dir / "stack.env").read_text().splitlines():
        k, _, v = line.removeprefix("export ").partition("=")
        env[k] = shlex.split(v)[0] if v else ""
    password = next(iter(json.loads((st.dir / "airflow" / "simple_auth_manager_passwords.json.generated").read_text()).values()))
    return mod, st, env, Api(st.airflow_url, password)


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    mod, st, env, api = start_stack(tmp_path_factory, "celery", 2)
    yield {"st": st, "env": env, "api": api}
    mod.down(st)
    drop_databases(st.pg_admin, [f"{st.db_prefix}_{s}" for s in ("airflow", "mlflow", "optuna")])


def lake_json(env: dict, prefix: str, suffix: str = ".json"):
    import boto3

    s3 = boto3.client("s3", endpoint_url=env["AWS_ENDPOINT_URL"], aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
                      aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"], region_name="us-east-1")
    keys = [o["Key"] for p in s3.get_paginator("list_objects_v2").paginate(Bucket="lake", Prefix=f"mlops/{prefix}")
            for o in p.get("Contents", []) if o["Key"].endswith(suffix)]
    return [json.loads(s3.get_object(Bucket="lake", Key=k)["Body"].read()) for k in keys]


def test_celery_search_over_two_workers_logs_links_and_backfill(stack):
    api, env = stack["api"], stack["env"]
    subprocess.run([str(BIN / "python"), "-m", "pipelines", "feed", "bankchurn", "--start", "2026-01-01", "--end", "2026-01-30",
                    "--rows-per-day", "250"], env=env, check=True, cwd=REPO, capture_output=True)
    for _ in range(90):  # the dag-processor parses the folder on start
        try:
            api.get(f"/api/v2/dags/{DAG}")
            break
        except urllib.error.HTTPError:
            time.sleep(2)
    api.patch(f"/api/v2/dags/{DAG}", {"is_paused": False})
    plugins = {p["name"]: p for p in api.get("/api/v2/plugins")["plugins"]}
    view = plugins["mlops_links"]["external_views"][0]
    assert view["href"] == env["MLFLOW_UI_URL"] and not view.get("url_route")  # a plain link: MLflow refuses frames

    with pytest.raises(urllib.error.HTTPError) as e:  # a bad Param is refused at trigger time, naming the param
        api.post(f"/api/v2/dags/{DAG}/dagRuns", {"logical_date": "2026-01-19T00:00:00Z", "conf": {"n_trials": 0}})
    assert e.value.code == 400 and "n_trials" in e.value.read().decode()

    run = api.post(f"/api/v2/dags/{DAG}/dagRuns", {"logical_date": "2026-01-21T00:00:00Z", "conf": {"n_trials": 4, "optuna_workers": 2}})
    assert (run["data_interval_start"], run["data_interval_end"]) == ("2026-01-19T00:00:00Z", "2026-01-21T00:00:00Z")
    rid = run["dag_run_id"]
    assert api.wait_runs([rid]) == {rid: "success"}

    tis = api.get(f"/api/v2/dags/{DAG}/dagRuns/{urllib.parse.quote(rid)}/taskInstances?limit=100")["task_instances"]
    tune = [t for t in tis if t["task_id"] == "tune"]
    assert len(tune) == 2 and {t["hostname"] for t in tune} == {"worker1", "worker2"}, [(t["map_index"], t["hostname"]) for t in tune]
    import optuna

    [summary] = [s for s in optuna.get_all_study_summaries(storage=env["OPTUNA_STORAGE"]) if s.study_name.startswith("bankchurn-2026-01-21-")]
    study = optuna.load_study(study_name=summary.study_name, storage=env["OPTUNA_STORAGE"])
    done = [t for t in study.trials if t.state in (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)]
    assert len(done) == 4 and {t.user_attrs["worker"] for t in done} == {0, 1}
    for t in tune:  # written on worker 1 or 2, read by the api-server from the bucket
        text = api.log(rid, "tune", map_index=t["map_index"])
        assert "s3://lake/airflow-logs/" in text and f"worker {t['map_index']}: 2 trials" in text, text[-2000:]
    assert "== register: bankchurn v1: PROMOTED" in api.log(rid, "register")

    links = api.get(f"/api/v2/dags/{DAG}/dagRuns/{urllib.parse.quote(rid)}/taskInstances/register/links")
    links = links.get("extra_links", links)
    [trained] = [r for r in lake_json(env, "decisions/bankchurn/v1/decision-1.json")]
    assert links["MLflow run"].startswith(env["MLFLOW_UI_URL"]) and trained["run_id"] in links["MLflow run"]
    assert links["MLflow run"].endswith("?workflowType=machine_learning")
    assert links["Model version"].endswith("/#/models/bankchurn/versions/1?workflowType=machine_learning")
    assert f"/runs/{trained['run_id']}/artifactPath/decision/decision.md?workflowType=machine_learning" in links["Promotion decision"]
    assert "/artifactPath/drift/drift_report.html" in links["Evidently drift report"]

    # a backfill over 2026-01-23..24 (one 2-day interval): its run trains only up to its own interval's end
    bf = api.post("/api/v2/backfills", {"dag_id": DAG, "from_date": "2026-01-23T00:00:00Z", "to_date": "2026-01-24T00:00:00Z",
                                        "max_active_runs": 1, "reprocess_behavior": "none", "dag_run_conf": {"n_trials": 2}})
    deadline = time.monotonic() + 60
    while True:
        runs = api.get(f"/api/v2/dags/{DAG}/dagRuns?run_type=backfill&limit=50")["dag_runs"]
        if runs or time.monotonic() > deadline:
            break
        time.sleep(2)
    assert len(runs) == 1, runs
    assert set(api.wait_runs([r["dag_run_id"] for r in runs]).values()) == {"success"}
    as_of = runs[0]["data_interval_end"][:10]
    [ext] = lake_json(env, f"runs/bankchurn/{as_of}/", "/extract.json")
    assert ext["window_end"] < as_of and ext["window_end"] != "2026-01-20"  # its own window; nothing from the as-of day or later
    deadline = time.monotonic() + 120  # the scheduler closes the backfill shortly after its last run
    while api.get(f"/api/v2/backfills/{bf['id']}")["completed_at"] is None and time.monotonic() < deadline:
        time.sleep(3)
    assert api.get(f"/api/v2/backfills/{bf['id']}")["completed_at"] is not None
