"""A server stack without Docker, on loopback: an S3 API server (moto), the MLflow server (Postgres
backend, artifacts proxied to the bucket, basic-auth), and Airflow 3 on Postgres -- api-server,
scheduler, dag-processor, triggerer, and either the LocalExecutor or the CeleryExecutor with N
`airflow celery worker` processes on Redis. Task logs go to the S3 bucket (remote logging), so a
log written by one worker is read by the api-server from anywhere.

    python scripts/stack.py up [--executor local|celery] [--workers N]   # make up-stack [EXECUTOR=celery WORKERS=2]
    python scripts/stack.py down                                          # make down-stack: stops exactly what up started
    python scripts/stack.py env                                           # the client environment (also in stack.env)

Secrets (MLflow admin and pipelines passwords, S3 keys, JWT secret, Fernet key, serving token) are
generated into `$MLOPS_HOME/stack/secrets.env` (mode 600) on the first start; nothing is a default.
The Airflow settings shared with docker-compose's `celery` profile are `SHARED_AIRFLOW` below (a
static test keeps the two in step). Ports and names come from STACK_* variables.
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

from pipelines.resources.databases import create_databases  # noqa: E402
from pipelines.resources.secrets import make  # noqa: E402

BIN = Path(sys.executable).parent

# Airflow settings the stack and docker-compose.airflow.yml share (tests/deploy keeps them in step).
SHARED_AIRFLOW = {
    "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
    "AIRFLOW__CORE__PARALLELISM": "4",
    "AIRFLOW__CORE__HOSTNAME_CALLABLE": "pipelines.orchestration.worker_identity.hostname",
    "AIRFLOW__CELERY__WORKER_CONCURRENCY": "1",
    "AIRFLOW__CELERY__WORKER_PREFETCH_MULTIPLIER": "1",
    "AIRFLOW__LOGGING__REMOTE_LOGGING": "True",
    "AIRFLOW__LOGGING__REMOTE_LOG_CONN_ID": "mlops_s3",
    "AIRFLOW__LOGGING__DELETE_LOCAL_LOGS": "False",
    "AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK": "True",
    "MLFLOW_ALLOW_PICKLE_DESERIALIZATION": "false",
    "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",
}
SECRETS = ("MLFLOW_ADMIN_PASSWORD", "MLFLOW_TRACKING_PASSWORD", "MLFLOW_FLASK_SECRET_KEY", "MLOPS_S3_SECRET_KEY", "AIRFLOW_JWT_SECRET",
           "AIRFLOW_FERNET_KEY", "API_TOKEN")
KINDS = {"AIRFLOW_FERNET_KEY": "fernet", "AIRFLOW_JWT_SECRET": "hex", "MLFLOW_FLASK_SECRET_KEY": "hex", "API_TOKEN": "hex"}


@dataclass
class Stack:
    home: Path = field(default_factory=lambda: Path(os.environ.get("MLOPS_HOME") or ROOT / ".local").resolve())
    pg_admin: str = os.environ.get("STACK_PG_ADMIN_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")
    db_prefix: str = os.environ.get("STACK_DB_PREFIX", "mlops_stack")
    s3_port: int = int(os.environ.get("STACK_S3_PORT", "9000"))
    mlflow_port: int = int(os.environ.get("STACK_MLFLOW_PORT", "5000"))
    airflow_port: int = int(os.environ.get("STACK_AIRFLOW_PORT", "8080"))
    redis_url: str = os.environ.get("STACK_REDIS_URL", "redis://127.0.0.1:6379/0")
    lake_bucket: str = os.environ.get("STACK_LAKE_BUCKET", "lake")
    mlflow_bucket: str = os.environ.get("STACK_MLFLOW_BUCKET", "mlflow")
    executor: str = "local"
    workers: int = 2

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

    def secrets(self) -> dict[str, str]:
        """Generated once per stack folder, kept readable by the owner only."""
        path = self.dir / "secrets.env"
        if path.exists():
            return dict(line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)
        values = {k: make(KINDS.get(k, "password")) for k in SECRETS}
        self.dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write("".join(f"{k}={v}\n" for k, v in values.items()))
        return values

    def aws_env(self) -> dict[str, str]:
        return {"AWS_ENDPOINT_URL": self.s3_url, "AWS_ACCESS_KEY_ID": "mlops-pipelines", "AWS_SECRET_ACCESS_KEY": self.secrets()["MLOPS_S3_SECRET_KEY"],
                "AWS_DEFAULT_REGION": "us-east-1"}

    def client_env(self, optuna_url: str) -> dict[str, str]:
        """What a pipeline process (Airflow task, CLI, serving) needs to use the stack."""
        s = self.secrets()
        return {**self.aws_env(), "MLOPS_HOME": str(self.home), "MLOPS_LAKE": f"s3://{self.lake_bucket}/mlops",
                "MLFLOW_TRACKING_URI": self.mlflow_url, "MLFLOW_UI_URL": self.mlflow_url, "OPTUNA_STORAGE": optuna_url,
                "MLFLOW_TRACKING_USERNAME": "pipelines", "MLFLOW_TRACKING_PASSWORD": s["MLFLOW_TRACKING_PASSWORD"],
                "API_TOKEN": s["API_TOKEN"], "MLFLOW_ALLOW_PICKLE_DESERIALIZATION": "false", "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false"}

    def airflow_env(self, dbs: object, base: dict[str, str]) -> dict[str, str]:
        s, af_home = self.secrets(), self.dir / "airflow"
        conn = {"conn_type": "aws", "login": "mlops-pipelines", "password": s["MLOPS_S3_SECRET_KEY"],
                "extra": {"endpoint_url": self.s3_url, "region_name": "us-east-1"}}
        return {
            **base, **self.client_env(dbs.optuna), **SHARED_AIRFLOW,  # type: ignore[attr-defined]
            "AIRFLOW_HOME": str(af_home), "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": dbs.airflow,  # type: ignore[attr-defined]
            "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"), "AIRFLOW__CORE__PLUGINS_FOLDER": str(ROOT / "plugins"),
            "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor" if self.executor == "celery" else "LocalExecutor",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "admin:admin",
            "AIRFLOW__CORE__FERNET_KEY": s["AIRFLOW_FERNET_KEY"], "AIRFLOW__API_AUTH__JWT_SECRET": s["AIRFLOW_JWT_SECRET"],
            "AIRFLOW__API__HOST": "127.0.0.1", "AIRFLOW__API__PORT": str(self.airflow_port), "AIRFLOW__API__BASE_URL": self.airflow_url,
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.airflow_url}/execution/",
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "30", "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(af_home / "logs" / "api"),
            "AIRFLOW__LOGGING__REMOTE_BASE_LOG_FOLDER": f"s3://{self.lake_bucket}/airflow-logs",
            "AIRFLOW_CONN_MLOPS_S3": json.dumps(conn),
            "AIRFLOW__CELERY__BROKER_URL": self.redis_url,
            "AIRFLOW__CELERY__RESULT_BACKEND": "db+" + dbs.airflow.replace("postgresql+psycopg2", "postgresql"),  # type: ignore[attr-defined]
            "PYTHONPATH": str(ROOT),
        }


def _free(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) != 0


def _answers(url: str, ok: tuple[int, ...] = (200,)) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=3) as r:  # nosec B310
            return r.status in ok
    except urllib.error.HTTPError as e:
        return e.code in ok
    except OSError:
        return False


def _start(st: Stack, name: str, argv: list[str], env: dict[str, str]) -> int:
    (st.dir / "logs").mkdir(parents=True, exist_ok=True)
    (st.dir / "pids").mkdir(parents=True, exist_ok=True)
    log = open(st.dir / "logs" / f"{name}.log", "ab")
    # Own session: `down` signals the whole process group (airflow components have children).
    p = subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True, cwd=ROOT)
    import psutil

    # The start time identifies the process even after it renames itself (celery does) or its pid is reused.
    (st.dir / "pids" / f"{name}.pid").write_text(json.dumps({"pid": p.pid, "argv": argv, "started": psutil.Process(p.pid).create_time()}))
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
    import psutil

    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _start_s3(st: Stack, base_env: dict[str, str]) -> None:
    _start(st, "s3", [str(BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(st.s3_port)], base_env)
    _wait("s3", lambda: _answers(st.s3_url + "/"), 60, st)
    import boto3

    a = st.aws_env()
    s3 = boto3.client("s3", endpoint_url=a["AWS_ENDPOINT_URL"], aws_access_key_id=a["AWS_ACCESS_KEY_ID"],
                      aws_secret_access_key=a["AWS_SECRET_ACCESS_KEY"], region_name=a["AWS_DEFAULT_REGION"])
    for b in (st.lake_bucket, st.mlflow_bucket):
        s3.create_bucket(Bucket=b)


def _mlflow_user(st: Stack) -> None:
    """The pipelines' own MLflow user (default permission READ; it owns what it creates)."""
    import base64

    s = st.secrets()
    auth = base64.b64encode(f"admin:{s['MLFLOW_ADMIN_PASSWORD']}".encode()).decode()
    body = json.dumps({"username": "pipelines", "password": s["MLFLOW_TRACKING_PASSWORD"]}).encode()
    req = urllib.request.Request(st.mlflow_url + "/api/2.0/mlflow/users/create", data=body, method="POST",
                                 headers={"Authorization": f"Basic {auth}", "Content-Type": "application/json"})
    try:
        urllib.request.urlopen(req, timeout=10).close()  # nosec B310
    except urllib.error.HTTPError as e:
        if e.code not in (400, 409):  # exists already (a restart of the same stack)
            raise


def _start_mlflow(st: Stack, dbs: object, base_env: dict[str, str]) -> None:
    s = st.secrets()
    ini = st.dir / "mlflow_auth.ini"
    ini.write_text("[mlflow]\ndefault_permission = READ\n"
                   f"database_uri = sqlite:///{st.dir / 'mlflow_auth.db'}\n"
                   "admin_username = admin\nauthorization_function = mlflow.server.auth:authenticate_request_basic_auth\n")
    env = {**base_env, **st.aws_env(), "MLFLOW_S3_ENDPOINT_URL": st.s3_url, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
           "MLFLOW_AUTH_CONFIG_PATH": str(ini), "MLFLOW_AUTH_ADMIN_PASSWORD": s["MLFLOW_ADMIN_PASSWORD"],
           "MLFLOW_FLASK_SERVER_SECRET_KEY": s["MLFLOW_FLASK_SECRET_KEY"]}
    _start(st, "mlflow", [str(BIN / "mlflow"), "server", "--app-name", "basic-auth", "--backend-store-uri", dbs.mlflow,  # type: ignore[attr-defined]
                          "--artifacts-destination", f"s3://{st.mlflow_bucket}/artifacts", "--host", "127.0.0.1", "--port",
                          str(st.mlflow_port), "--workers", "1", "--x-frame-options", "NONE"], env)
    _wait("mlflow", lambda: _answers(st.mlflow_url + "/health"), 180, st)
    _mlflow_user(st)


def _start_airflow(st: Stack, af_env: dict[str, str]) -> None:
    (Path(af_env["AIRFLOW_HOME"])).mkdir(parents=True, exist_ok=True)
    subprocess.run([str(BIN / "airflow"), "db", "migrate"], env=af_env, check=True, cwd=ROOT, capture_output=True)
    _start(st, "airflow-api", [str(BIN / "airflow"), "api-server"], af_env)
    for comp in ("scheduler", "dag-processor", "triggerer"):
        _start(st, f"airflow-{comp}", [str(BIN / "airflow"), comp], af_env)
    if st.executor == "celery":
        for i in range(1, st.workers + 1):
            name = f"worker{i}"
            env = {**af_env, "MLOPS_WORKER_NAME": name, "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(st.dir / "airflow" / "logs" / name)}
            _start(st, f"airflow-{name}", [str(BIN / "airflow"), "celery", "worker", "--celery-hostname", f"{name}@%h",
                                           "--concurrency", "1", "--skip-serve-logs", "--without-gossip", "--without-mingle"], env)
    _wait("airflow-api", lambda: _answers(st.airflow_url + "/api/v2/monitor/health"), 300, st)
    subprocess.run([str(BIN / "python"), str(ROOT / "scripts" / "create_pools.py")], env=af_env, check=True, cwd=ROOT)


def up(st: Stack) -> None:
    if (st.dir / "pids").exists() and any((st.dir / "pids").iterdir()):
        raise SystemExit(f"a stack is already recorded in {st.dir / 'pids'}: run `make down-stack` first")
    for name, port in (("S3", st.s3_port), ("MLflow", st.mlflow_port), ("Airflow", st.airflow_port)):
        if not _free(port):
            raise SystemExit(f"port {port} for {name} is in use on 127.0.0.1; stop it or set STACK_*_PORT")
    dbs = create_databases(st.pg_admin, st.db_prefix)
    print(f"databases ready: {', '.join(dbs.names)}")
    base_env = {**os.environ, "PATH": f"{BIN}:{os.environ.get('PATH', '')}"}
    _start_s3(st, base_env)
    _start_mlflow(st, dbs, base_env)
    af_env = st.airflow_env(dbs, base_env)
    _start_airflow(st, af_env)
    env_file = st.dir / "stack.env"
    fd = os.open(env_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write("".join(f"export {k}={shlex.quote(v)}\n" for k, v in sorted(st.client_env(dbs.optuna).items())))
    workers = f", {st.workers} Celery workers on {st.redis_url.rsplit('@', 1)[-1]}" if st.executor == "celery" else ", LocalExecutor"
    print(f"""
stack is up (state in {st.dir}):
  S3 API (moto)   {st.s3_url}       buckets: {st.lake_bucket} (lake, task logs under airflow-logs/), {st.mlflow_bucket} (MLflow)
  MLflow          {st.mlflow_url}       basic auth: admin / see {st.dir / 'secrets.env'}; backend {dbs.names[1]}
  Airflow         {st.airflow_url}       user admin, password in {st.dir / 'airflow' / 'simple_auth_manager_passwords.json.generated'}{workers}
  Postgres        {', '.join(dbs.names)}
  client env      source {env_file}   (then: python -m pipelines feed bankchurn ...)
  stop            make down-stack""")


def down(st: Stack, grace: float = 15.0) -> None:
    """SIGTERM every recorded process group at once, wait up to `grace` seconds, SIGKILL what is left.
    A pid counts as ours only if its start time matches the record (celery renames its processes)."""
    import psutil

    pids = st.dir / "pids"
    files = sorted(pids.glob("*.pid")) if pids.exists() else []
    if not files:
        print("no stack recorded: nothing to stop")
        return
    ours: dict[str, int] = {}
    for f in files:
        rec = json.loads(f.read_text())
        try:
            if abs(psutil.Process(rec["pid"]).create_time() - rec.get("started", -1)) < 0.01:
                ours[f.stem] = rec["pid"]
                os.killpg(rec["pid"], signal.SIGTERM)
        except (psutil.NoSuchProcess, ProcessLookupError):
            pass
    deadline = time.monotonic() + grace
    while any(_alive(p) for p in ours.values()) and time.monotonic() < deadline:
        time.sleep(0.3)
    for name, pid in ours.items():
        try:
            os.killpg(pid, signal.SIGKILL)  # anything left in its group (children we started through it)
        except ProcessLookupError:
            pass
        print(f"  stopped {name} (pid {pid})")
    for f in files:
        if f.stem not in ours:
            print(f"  {f.stem} was not running")
        f.unlink()
    print("stack stopped")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("command", choices=["up", "down", "env"])
    p.add_argument("--executor", choices=["local", "celery"], default=os.environ.get("EXECUTOR", "local") or "local")
    p.add_argument("--workers", type=int, default=int(os.environ.get("WORKERS", "2") or 2))
    a = p.parse_args()
    st = Stack(executor=a.executor, workers=a.workers)
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
