"""Static checks of docker-compose.airflow.yml and docker/ (no Docker engine runs here)."""

from __future__ import annotations

import re

import pytest
import yaml

from pipelines.config.settings import ENV_VARS
from tests.conftest import REPO

COMPOSE = REPO / "docker-compose.airflow.yml"
AIRFLOW_SERVICES = ("airflow-init", "airflow-apiserver", "airflow-scheduler", "airflow-dag-processor", "airflow-triggerer", "airflow-worker")


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


@pytest.fixture(scope="module")
def services(compose) -> dict:
    return compose["services"]


def _one_shots(services: dict) -> set[str]:
    return {dep for s in services.values() for dep, c in (s.get("depends_on") or {}).items()
            if c.get("condition") == "service_completed_successfully"}


def test_parses_with_expected_services(services):
    assert {"postgres", "minio", "minio-init", "mlflow", "redis", "serving", *AIRFLOW_SERVICES} <= set(services)


def test_depends_on_targets_exist_with_valid_conditions(services):
    one_shots = _one_shots(services)
    for name, svc in services.items():
        deps = svc.get("depends_on") or {}
        assert isinstance(deps, dict), f"{name}: depends_on must use conditions"
        for dep, cond in deps.items():
            assert dep in services, f"{name} depends on unknown service {dep}"
            assert cond["condition"] in ("service_healthy", "service_completed_successfully"), (name, dep)
            if cond["condition"] == "service_healthy":
                assert "healthcheck" in services[dep], f"{name} waits for {dep} to be healthy but it has no healthcheck"
            else:
                assert dep in one_shots and services[dep].get("restart") == "no", (name, dep)


def test_every_service_has_a_healthcheck(services):
    for name, svc in services.items():
        assert svc.get("healthcheck", {}).get("test"), f"{name} has no healthcheck"


def test_images_pinned_and_airflow_from_official_3x(services):
    for name, svc in services.items():
        image = svc.get("image")
        assert image, f"{name} has no image tag"
        tag = image.rsplit(":", 1)[-1] if ":" in image else ""
        assert tag and tag != "latest" and re.search(r"\d", tag), f"{name}: image {image!r} is not pinned"
    dockerfile = (REPO / "docker" / "airflow.Dockerfile").read_text()
    assert re.search(r"^FROM apache/airflow:3\.\d+\.\d+-python3\.11$", dockerfile, re.M)
    assert "requirements.txt" in dockerfile


def test_ports_bound_to_loopback(services):
    for name, svc in services.items():
        for p in svc.get("ports", []):
            assert str(p).startswith("127.0.0.1:"), f"{name} publishes {p} on all interfaces"


def test_volumes_point_at_existing_folders(compose, services):
    named = set(compose.get("volumes", {}))
    for name, svc in services.items():
        for v in svc.get("volumes", []):
            src = v.split(":")[0]
            if src.startswith("."):
                assert (REPO / src).exists(), f"{name}: {src} does not exist"
            else:
                assert src in named, f"{name}: volume {src} is not declared"


def test_pipeline_env_matches_what_pipelines_reads(services):
    for name in AIRFLOW_SERVICES:
        env = services[name]["environment"]
        for must in ("MLOPS_LAKE", "MLFLOW_TRACKING_URI", "OPTUNA_STORAGE", "AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID",
                     "AWS_SECRET_ACCESS_KEY", "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", "MLOPS_LOCK_URL"):
            assert must in env, f"{name} lacks {must}"
        mlflow_own = {"MLFLOW_ALLOW_PICKLE_DESERIALIZATION", "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"}  # read by MLflow itself
        ours = {k for k in env if k.startswith(("MLOPS_", "MLFLOW_", "OPTUNA_", "ALERT_"))} - mlflow_own
        assert ours <= set(ENV_VARS), f"{name} sets variables pipelines never reads: {ours - set(ENV_VARS)}"
    source = "".join(p.read_text() for p in (REPO / "pipelines").rglob("*.py"))
    for var in ENV_VARS:
        assert f'"{var}"' in source.replace("ENV_VARS", ""), f"{var} is listed but not read"


VAR = re.compile(r"(?<!\$)\$\{([A-Z_][A-Z0-9_]*)(:?[-?][^}]*)?\}")


def test_variables_are_documented_and_generated():
    from pipelines.resources.secrets import generate

    example = (REPO / ".env.example").read_text()
    defined = set(re.findall(r"^([A-Z_][A-Z0-9_]*)=", example, re.M))
    used = {m.group(1) for m in VAR.finditer(COMPOSE.read_text())}
    assert used <= defined, f"undocumented in .env.example: {used - defined}"
    assert used <= set(generate()), f"`make secrets` does not generate: {used - set(generate())}"
    for line in example.splitlines():  # no secret values at all in the example
        name, _, value = line.partition("=")
        if re.search(r"PASSWORD|SECRET|TOKEN|FERNET|JWT", name):
            assert value == "", f"{name} has a value in .env.example"


def test_no_credential_has_a_default():
    """Every password, key, secret and token is `${VAR:?...}`: compose refuses to start without .env."""
    for m in VAR.finditer(COMPOSE.read_text()):
        name, default = m.group(1), m.group(2) or ""
        if re.search(r"PASSWORD|SECRET|KEY|TOKEN|USERNAME", name):
            assert default.startswith(":?"), f"${{{name}{default}}} has a default (or none required)"
    assert "admin/admin" not in COMPOSE.read_text() and "dev-only" not in COMPOSE.read_text()


def test_mlflow_runs_with_basic_auth_and_clients_authenticate(services):
    assert services["mlflow"]["command"][:2] == ["--app-name", "basic-auth"]
    assert services["mlflow"]["environment"]["MLFLOW_AUTH_ADMIN_PASSWORD"].startswith("${MLFLOW_ADMIN_PASSWORD:?")
    ini = (REPO / "docker" / "mlflow" / "basic_auth.ini").read_text()
    assert "default_permission = READ" in ini and "admin_password" not in ini
    assert "mlflow[auth]" in (REPO / "docker" / "mlflow.Dockerfile").read_text()
    for name in ("serving", *AIRFLOW_SERVICES):
        env = services[name]["environment"]
        assert {"MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD"} <= set(env), name
        assert env.get("AWS_ACCESS_KEY_ID", "").startswith("${MLOPS_S3_ACCESS_KEY"), f"{name} must not hold the MinIO root key"


def test_locks_hold_across_containers(compose, services):
    env = services["airflow-scheduler"]["environment"]
    assert env["MLOPS_LOCK_URL"].startswith("postgresql://")  # a Postgres advisory lock, not a file on one node
    for svc in services.values():
        for v in svc.get("volumes", []):
            assert "lock" not in v.split(":")[-1], f"node-local lock volume: {v}"


def test_celery_profile_and_the_server_stack_share_their_settings(services):
    from tests.conftest import load_script

    shared = load_script("stack").SHARED_AIRFLOW
    for name in ("airflow-worker", "airflow-scheduler", "airflow-apiserver"):
        env = services[name]["environment"]
        for k, v in shared.items():
            assert str(env.get(k)) == v, f"{name}: {k}={env.get(k)!r} but the server stack uses {v!r}"
        assert env["AIRFLOW__LOGGING__REMOTE_BASE_LOG_FOLDER"].startswith("s3://") and "mlops_s3" in env["AIRFLOW__LOGGING__REMOTE_LOG_CONN_ID"]
    assert "--skip-serve-logs" in services["airflow-worker"]["command"]


def test_mlflow_allows_service_name_and_localhost(services):
    cmd = services["mlflow"]["command"]
    hosts = cmd[cmd.index("--allowed-hosts") + 1].split(",")
    assert {"mlflow", "mlflow:5000", "localhost", "127.0.0.1"} <= set(hosts)
    assert "--artifacts-destination" in cmd and any(str(c).startswith("postgresql") for c in cmd)


def test_postgres_init_creates_one_database_per_store_with_quoted_sql():
    script = (REPO / "docker" / "postgres" / "init-databases.sh").read_text()
    for store in ("airflow", "mlflow", "optuna"):
        assert re.search(rf"^create {store} ", script, re.M)
    assert "format('CREATE ROLE %I LOGIN PASSWORD %L', :'name', :'password')" in script
    assert "'${" not in script and "PASSWORD '$" not in script  # no shell text pasted into SQL literals


def test_celery_profile_scales_out(services):
    assert services["airflow-worker"]["profiles"] == ["celery"] and services["redis"]["profiles"] == ["celery"]
    assert services["airflow-worker"]["command"].startswith("celery worker")


def test_serving_image_and_service():
    dockerfile = (REPO / "docker" / "serving.Dockerfile").read_text()
    assert dockerfile.count("FROM ") >= 2 and "USER serving" in dockerfile and "HEALTHCHECK" in dockerfile
    assert "-c /tmp/requirements.txt" in dockerfile  # same pins as everything else
    svc = yaml.safe_load(COMPOSE.read_text())["services"]["serving"]
    assert svc["environment"]["MLFLOW_TRACKING_URI"] == "http://mlflow:5000"
    assert svc["environment"]["API_TOKEN"].startswith("${API_TOKEN:?")  # serving refuses to start open
    assert svc["depends_on"]["mlflow-init"]["condition"] == "service_completed_successfully"
