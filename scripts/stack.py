"""A server stack without Docker, on loopback: S3 API server (moto), MLflow server (Postgres backend,
artifacts proxied to the S3 bucket), Airflow 3 (`standalone`: api-server, scheduler, dag-processor,
triggerer; Postgres metadata DB; LocalExecutor, parallelism 4).

    python scripts/stack.py up      # start, wait until each answers, print URLs (make up-stack)
    python scripts/stack.py down    # stop exactly what `up` started, by PID file (make down-stack)
    python scripts/stack.py env     # the client environment (also in $MLOPS_HOME/stack/stack.env)

Ports and names come from STACK_* variables (see `Stack`); the Postgres server must already run.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pipelines.databases import create_databases  # noqa: E402

BIN = Path(sys.executable).parent


@dataclass
class Stack:
    home: Path = field(default_factory=lambda: Path(os.environ.get("MLOPS_HOME") or ROOT / ".local").resolve())
    pg_admin: str = os.environ.get("STACK_PG_ADMIN_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")
    db_prefix: str = os.environ.get("STACK_DB_PREFIX", "mlops_stack")
    s3_port: int = int(os.environ.get("STACK_S3_PORT", "9000"))
    mlflow_port: int = int(os.environ.get("STACK_MLFLOW_PORT", "5000"))
    airflow_port: int = int(os.environ.get("STACK_AIRFLOW_PORT", "8080"))
    lake_bucket: str = os.environ.get("STACK_LAKE_BUCKET", "lake")
    mlflow_bucket: str = os.environ.get("STACK_MLFLOW_BUCKET", "mlflow")

    @property
    def dir(self) -> Path:
        return self.home / "stack"

    @property
    def s3_url(self) -> str:
        return f"http://127.0.0.1:{self.s3_port}"

    @property
    def mlflow_url(self) -> str:
        return f"http://127.0.0.1:{self.mlflow_port}"

    @property
    def airflow_url(self) -> str:
        return f"http://127.0.0.1:{self.airflow_port}"

    def aws_env(self) -> dict[str, str]:
        return {"AWS_ENDPOINT_URL": self.s3_url, "AWS_ACCESS_KEY_ID": "stack", "AWS_SECRET_ACCESS_KEY": "stack-secret",
                "AWS_DEFAULT_REGION": "us-east-1"}

    def client_env(self, optuna_url: str) -> dict[str, str]:
        """What a pipeline process (Airflow task or CLI) needs to use the stack."""
        return {**self.aws_env(), "MLOPS_HOME": str(self.home), "MLOPS_LAKE": f"s3://{self.lake_bucket}/mlops",
                "MLFLOW_TRACKING_URI": self.mlflow_url, "MLFLOW_UI_URL": self.mlflow_url, "OPTUNA_STORAGE": optuna_url}


def _free(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) != 0


def _answers(url: str, ok: tuple[int, ...] = (200,)) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=3) as r:
            return r.status in ok
    except urllib.error.HTTPError as e:
        return e.code in ok
    except OSError:
        return False


def _start(st: Stack, name: str, argv: list[str], env: dict[str, str]) -> int:
    (st.dir / "logs").mkdir(parents=True, exist_ok=True)
    (st.dir / "pids").mkdir(parents=True, exist_ok=True)
    log = open(st.dir / "logs" / f"{name}.log", "ab")
    # Own session: `down` signals the whole process group (standalone has children).
    p = subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                         start_new_session=True, cwd=ROOT)
    (st.dir / "pids" / f"{name}.pid").write_text(json.dumps({"pid": p.pid, "argv": argv}))
    print(f"  started {name} (pid {p.pid}): {shlex.join(argv)[:140]}")
    return p.pid


def _wait(name: str, check, timeout: float, st: Stack) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            print(f"  {name} answers")
            return
        pid = json.loads((st.dir / "pids" / f"{name}.pid").read_text())["pid"]
        if not _alive(pid):
            tail = (st.dir / "logs" / f"{name}.log").read_text(errors="replace")[-2000:]
            raise SystemExit(f"{name} exited during start-up; log tail:\n{tail}")
        time.sleep(1)
    raise SystemExit(f"{name} did not answer within {timeout:.0f}s; see {st.dir / 'logs' / (name + '.log')}")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True


def up(st: Stack) -> None:
    if (st.dir / "pids").exists() and any((st.dir / "pids").iterdir()):
        raise SystemExit(f"a stack is already recorded in {st.dir / 'pids'}: run `make down-stack` first")
    for name, port in (("S3", st.s3_port), ("MLflow", st.mlflow_port), ("Airflow", st.airflow_port)):
        if not _free(port):
            raise SystemExit(f"port {port} for {name} is in use on 127.0.0.1; stop it or set STACK_*_PORT")
    dbs = create_databases(st.pg_admin, st.db_prefix)
    print(f"databases ready: {', '.join(dbs.names)}")
    base_env = {**os.environ, "PATH": f"{BIN}:{os.environ.get('PATH', '')}"}

    _start(st, "s3", [str(BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(st.s3_port)], base_env)
    _wait("s3", lambda: _answers(st.s3_url + "/"), 60, st)
    import boto3

    s3 = boto3.client("s3", endpoint_url=st.s3_url, aws_access_key_id="stack", aws_secret_access_key="stack-secret",
                      region_name="us-east-1")
    for b in (st.lake_bucket, st.mlflow_bucket):
        s3.create_bucket(Bucket=b)

    mlflow_env = {**base_env, **st.aws_env(), "MLFLOW_S3_ENDPOINT_URL": st.s3_url, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
    _start(st, "mlflow", [str(BIN / "mlflow"), "server", "--backend-store-uri", dbs.mlflow,
                          "--artifacts-destination", f"s3://{st.mlflow_bucket}/artifacts", "--host", "127.0.0.1",
                          "--port", str(st.mlflow_port), "--workers", "1"], mlflow_env)
    _wait("mlflow", lambda: _answers(st.mlflow_url + "/api/2.0/mlflow/experiments/search?max_results=1"), 180, st)

    af_home = st.dir / "airflow"
    af_home.mkdir(parents=True, exist_ok=True)
    af_env = {
        **base_env, **st.client_env(dbs.optuna),
        "AIRFLOW_HOME": str(af_home),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": dbs.airflow,
        "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(ROOT / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__PARALLELISM": "4",
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__API__PORT": str(st.airflow_port),
        "AIRFLOW__API__BASE_URL": st.airflow_url,
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{st.airflow_url}/execution/",
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "30",
        "AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK": "True",
        "PYTHONPATH": str(ROOT),
    }
    _start(st, "airflow", [str(BIN / "airflow"), "standalone"], af_env)
    _wait("airflow", lambda: _answers(st.airflow_url + "/api/v2/monitor/health"), 300, st)
    subprocess.run([str(BIN / "python"), str(ROOT / "scripts" / "create_pools.py")], env=af_env, check=True, cwd=ROOT)

    env_file = st.dir / "stack.env"
    env_file.write_text("".join(f"export {k}={shlex.quote(v)}\n" for k, v in sorted(st.client_env(dbs.optuna).items())))
    print(f"""
stack is up (state in {st.dir}):
  S3 API (moto)   {st.s3_url}       buckets: {st.lake_bucket} (lake), {st.mlflow_bucket} (MLflow artifacts)
  MLflow          {st.mlflow_url}       backend: {dbs.mlflow.split('@')[-1]}
  Airflow         {st.airflow_url}       user admin, password in {af_home / 'simple_auth_manager_passwords.json.generated'}
  Postgres        {', '.join(dbs.names)}
  client env      source {env_file}   (then: python -m pipelines feed bankchurn ...)
  stop            make down-stack""")


def down(st: Stack) -> None:
    pids = st.dir / "pids"
    files = sorted(pids.glob("*.pid"), reverse=True) if pids.exists() else []
    if not files:
        print("no stack recorded: nothing to stop")
        return
    for f in files:
        rec = json.loads(f.read_text())
        pid, argv0 = rec["pid"], rec["argv"][0]
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
        except OSError:
            cmd = ""
        if _alive(pid) and Path(argv0).name in cmd:
            os.killpg(pid, signal.SIGTERM)
            deadline = time.monotonic() + 30
            while _alive(pid) and time.monotonic() < deadline:
                time.sleep(0.5)
            if _alive(pid):
                os.killpg(pid, signal.SIGKILL)
            # Children that left the group (none expected) are not touched: we stop what we started.
            try:
                os.killpg(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            print(f"  stopped {f.stem} (pid {pid})")
        else:
            print(f"  {f.stem} (pid {pid}) was not running")
        f.unlink()
    print("stack stopped")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("command", choices=["up", "down", "env"])
    a = p.parse_args()
    st = Stack()
    if a.command == "up":
        try:
            up(st)
        except BaseException:
            down(st)
            raise
    elif a.command == "down":
        down(st)
    else:
        env_file = st.dir / "stack.env"
        print(env_file.read_text() if env_file.exists() else "no stack.env: run `make up-stack` first")


if __name__ == "__main__":
    main()
