"""The whole DAG over real connections: lake on an S3 API server (moto, HTTP), MLflow server on
Postgres with artifacts in the bucket, Optuna on Postgres (2 workers), Airflow metadata on Postgres.

Each test run creates and drops its own databases and buckets. Without a reachable Postgres the
tests skip (saying how to enable them); under CI (CI=true) they fail instead.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

import pytest

from pipelines.resources.databases import DatabaseSetupError, create_databases, drop_databases
from tests.conftest import REPO

pytestmark = pytest.mark.integration
BIN = Path(sys.executable).parent
PG_ADMIN = os.environ.get("MLOPS_TEST_PG_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def stores():
    prefix = f"mlops_t{uuid.uuid4().hex[:8]}"
    try:
        dbs = create_databases(PG_ADMIN, prefix)
    except DatabaseSetupError as e:
        msg = (f"Postgres not reachable ({e}). Start it (pg_ctlcluster ... main start) or point MLOPS_TEST_PG_DSN "
               "at a server where you may create databases.")
        if os.environ.get("CI"):
            pytest.fail("CI must run the real-store tests: " + msg)
        pytest.skip(msg)
    yield dbs
    drop_databases(PG_ADMIN, dbs.names)


@pytest.fixture(scope="module")
def s3():
    import boto3
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=_free_port())
    server.start()
    host, port = server.get_host_and_port()
    env = {"AWS_ENDPOINT_URL": f"http://{host}:{port}", "AWS_ACCESS_KEY_ID": "it", "AWS_SECRET_ACCESS_KEY": "it-secret",
           "AWS_DEFAULT_REGION": "us-east-1"}
    client = boto3.client("s3", endpoint_url=env["AWS_ENDPOINT_URL"], aws_access_key_id="it", aws_secret_access_key="it-secret",
                          region_name="us-east-1")
    suffix = uuid.uuid4().hex[:8]
    buckets = {"lake": f"lake-{suffix}", "mlflow": f"mlflow-{suffix}"}
    for b in buckets.values():
        client.create_bucket(Bucket=b)
    yield {"env": env, "client": client, **buckets}
    server.stop()


@pytest.fixture(scope="module")
def mlflow_server(stores, s3, tmp_path_factory):
    port = _free_port()
    log = open(tmp_path_factory.mktemp("mlflow") / "server.log", "w+b")
    env = {**os.environ, **s3["env"], "MLFLOW_S3_ENDPOINT_URL": s3["env"]["AWS_ENDPOINT_URL"],
           "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
    env.pop("MLFLOW_TRACKING_URI", None)
    proc = subprocess.Popen([str(BIN / "mlflow"), "server", "--backend-store-uri", stores.mlflow, "--artifacts-destination",
                             f"s3://{s3['mlflow']}/artifacts", "--host", "127.0.0.1", "--port", str(port), "--workers", "1"],
                            env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 180
    while True:
        try:
            with urllib.request.urlopen(url + "/api/2.0/mlflow/experiments/search?max_results=1", timeout=3) as r:
                if r.status == 200:
                    break
        except OSError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            log.seek(0)
            pytest.fail(f"mlflow server did not start: {log.read()[-3000:].decode(errors='replace')}")
        time.sleep(1)
    yield url
    proc.terminate()
    try:
        proc.wait(20)
    except subprocess.TimeoutExpired:
        proc.kill()


def test_dag_on_s3_postgres_and_mlflow_server(stores, s3, mlflow_server, tmp_path, monkeypatch):
    af_home = tmp_path / "airflow"
    af_home.mkdir()
    env = {
        **os.environ, **s3["env"],
        "MLOPS_HOME": str(tmp_path), "MLOPS_LAKE": f"s3://{s3['lake']}/mlops", "MLFLOW_TRACKING_URI": mlflow_server,
        "OPTUNA_STORAGE": stores.optuna, "AIRFLOW_HOME": str(af_home), "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": stores.airflow,
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"), "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "PYTHONPATH": str(REPO), "PATH": f"{BIN}:{os.environ['PATH']}", "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",
    }

    def run(*argv: str, timeout: int = 600) -> str:
        p = subprocess.run(list(argv), env=env, capture_output=True, text=True, timeout=timeout, cwd=REPO)
        assert p.returncode == 0, f"{argv} failed:\n{p.stdout[-4000:]}\n{p.stderr[-4000:]}"
        return p.stdout + p.stderr

    run(str(BIN / "python"), "-m", "pipelines", "feed", "bankchurn", "--start", "2026-01-01", "--end", "2026-01-30",
        "--rows-per-day", "250")
    run(str(BIN / "airflow"), "db", "migrate")
    out = run(str(BIN / "airflow"), "dags", "test", "bankchurn_training", "2026-01-21", "-c",
              json.dumps({"n_trials": 4, "optuna_workers": 2}))
    assert "== register: bankchurn v1: PROMOTED" in out

    # --- lake objects in the bucket, keyed by as-of date AND data hash
    keys = {o["Key"] for p in s3["client"].get_paginator("list_objects_v2").paginate(Bucket=s3["lake"]) for o in p.get("Contents", [])}
    assert "mlops/raw/bankchurn/dt=2026-01-01/part-0000.parquet" in keys
    [prefix] = {k.rsplit("/", 1)[0] for k in keys if k.startswith("mlops/runs/bankchurn/2026-01-21/") and k.endswith("/extract.json")}
    for name in ("window.parquet", "train.parquet", "test.parquet", "new.parquet", "validation/validation.json", "validation/data_docs.html"):
        assert f"{prefix}/{name}" in keys, name
    assert any(k.startswith(f"{prefix}/evaluations/") and k.endswith("vs-none.json") for k in keys)
    assert any(k.startswith(f"{prefix}/drift/") and k.endswith(".html") for k in keys)
    assert {"mlops/decisions/bankchurn/v1/decision-1.json", "mlops/decisions/bankchurn/v1/decision.md"} <= keys
    # --- MLflow artifacts in the bucket, proxied by the server
    art = {o["Key"] for p in s3["client"].get_paginator("list_objects_v2").paginate(Bucket=s3["mlflow"]) for o in p.get("Contents", [])}
    assert any(k.endswith("model.skops") for k in art) and any(k.endswith("evaluation/slices.csv") for k in art)

    # --- MLflow rows in Postgres
    import psycopg2

    with psycopg2.connect(stores.mlflow.replace("postgresql+psycopg2", "postgresql")) as c, c.cursor() as cur:
        cur.execute("SELECT count(*) FROM runs WHERE status = 'FINISHED'")
        assert cur.fetchone()[0] == 1
        cur.execute("SELECT alias, version FROM registered_model_aliases WHERE name = 'bankchurn' ORDER BY alias")
        assert cur.fetchall() == [("champion", 1)]
    with psycopg2.connect(stores.airflow.replace("postgresql+psycopg2", "postgresql")) as c, c.cursor() as cur:
        cur.execute("SELECT state FROM dag_run WHERE dag_id = 'bankchurn_training'")
        assert [r[0] for r in cur.fetchall()] == ["success"]

    # --- the champion loads back through the server (no S3 credentials needed: proxied artifacts), safely
    import datetime as dt

    import numpy as np

    from pipelines.config import load_project
    from pipelines.domain.synthetic import generate_bankchurn
    from pipelines.resources.model_types import ALLOWED_TYPES
    from pipelines.resources.registry import Registry

    for k in s3["env"]:
        monkeypatch.delenv(k, raising=False)
    model = Registry(mlflow_server).load_model("models:/bankchurn/1", ALLOWED_TYPES)
    cfg = load_project("bankchurn")
    proba = model.predict_proba(generate_bankchurn(dt.date(2026, 2, 1), 20, np.random.default_rng(0), False)[cfg.input_columns])
    assert proba.shape == (20, 2)

    # --- the Optuna study on Postgres holds exactly n_trials, split between the two mapped tune tasks
    import optuna

    [summary] = [s for s in optuna.get_all_study_summaries(storage=stores.optuna) if s.study_name.startswith("bankchurn-2026-01-21-")]
    study = optuna.load_study(study_name=summary.study_name, storage=stores.optuna)
    assert len(study.trials) == 4 and {t.user_attrs.get("worker") for t in study.trials} == {0, 1}
