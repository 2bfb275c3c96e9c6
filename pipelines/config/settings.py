"""Where the stores are and how the services behave: the ONE module that reads the environment.

Nothing here connects to anything. `Settings.from_env()` is called at the edges (a DAG task, the CLI,
the serving app, a test) and handed to `pipelines.resources.Resources`, which builds the stores once.
The same code runs on the embedded default (a folder, sqlite files) and on servers (S3/MinIO,
Postgres, an MLflow server) by changing environment variables only.

| variable                  | embedded default                      | server example / meaning                 |
|---------------------------|---------------------------------------|------------------------------------------|
| MLOPS_HOME                | <repo>/.local                         | /opt/airflow/state                       |
| MLOPS_LAKE                | $MLOPS_HOME/lake                      | s3://lake/mlops                          |
| MLFLOW_TRACKING_URI       | sqlite:///$MLOPS_HOME/mlflow.db       | http://mlflow:5000                       |
| MLFLOW_TRACKING_USERNAME / _PASSWORD | (none)                     | MLflow basic-auth credentials            |
| MLOPS_ARTIFACTS_ROOT      | $MLOPS_HOME/mlartifacts (sqlite only) | (the server's --artifacts-destination)   |
| OPTUNA_STORAGE            | sqlite:///$MLOPS_HOME/optuna.db       | postgresql+psycopg2://.../optuna         |
| MLOPS_LOCK_URL            | OPTUNA_STORAGE if Postgres, else a file lock under $MLOPS_HOME/locks | postgresql://.../optuna |
| MLOPS_PROJECTS_DIR        | <repo>/pipelines/projects             |                                          |
| MLOPS_EXPECTATIONS_DIR    | <repo>/expectations                   |                                          |
| ALERT_WEBHOOK_URL         | (none)                                | https://hooks.slack.com/...              |
| MLFLOW_UI_URL             | http://127.0.0.1:5000                 | what a browser opens (links, cards)      |
| MLOPS_N_JOBS              | 2                                     | threads for LightGBM / random forests    |
| MLOPS_S3_MAX_ATTEMPTS     | 5                                     | botocore standard-mode attempts          |
| AWS_ENDPOINT_URL(_S3), AWS_DEFAULT_REGION / AWS_REGION | AWS defaults | MinIO endpoint, region       |
| AWS_SECRET_ACCESS_KEY     | (boto3 reads it; listed for redaction) |                                         |
| MLOPS_DB_PASSWORD         | (none: `create-databases --roles` generates one) | role password for create-databases |
| MLOPS_USER                | the login name                        | who runs manual promote / rollback       |
| MLOPS_WORKER_NAME         | the host name                         | an Airflow worker's name (orchestration.worker_identity)|
| API_TOKEN                 | (none: serving refuses to start without it unless --insecure) | bearer token  |
| SERVING_PROJECTS, SERVING_POLL_SECONDS, SERVING_FLUSH_SECONDS, SERVING_LOG_BUFFER, SERVING_MAX_BODY_BYTES, SERVING_CORS_ORIGINS, SERVING_RISK_BANDS | see `ServingSettings` | |
"""

from __future__ import annotations

import getpass
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]

# Every variable this package reads (compose, stack and the env-reading test check against it).
ENV_VARS = (
    "MLOPS_HOME", "MLOPS_LAKE", "MLFLOW_TRACKING_URI", "MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD",
    "MLOPS_ARTIFACTS_ROOT", "OPTUNA_STORAGE", "MLOPS_LOCK_URL", "MLOPS_PROJECTS_DIR", "MLOPS_EXPECTATIONS_DIR",
    "ALERT_WEBHOOK_URL", "MLFLOW_UI_URL", "MLOPS_N_JOBS", "MLOPS_S3_MAX_ATTEMPTS", "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_S3", "AWS_DEFAULT_REGION", "AWS_REGION", "AWS_SECRET_ACCESS_KEY", "MLOPS_DB_PASSWORD",
    "MLOPS_USER", "API_TOKEN", "SERVING_PROJECTS", "SERVING_POLL_SECONDS", "SERVING_FLUSH_SECONDS",
    "SERVING_LOG_BUFFER", "SERVING_MAX_BODY_BYTES", "SERVING_CORS_ORIGINS", "SERVING_RISK_BANDS", "MLOPS_WORKER_NAME",
)


class SettingsError(ValueError):
    """An environment variable holds a value that cannot be used; the message names it."""


def _int(env: Mapping[str, str], name: str, default: int, low: int = 1) -> int:
    raw = env.get(name) or str(default)
    try:
        v = int(raw)
    except ValueError as e:
        raise SettingsError(f"{name}={raw!r} is not an integer") from e
    if v < low:
        raise SettingsError(f"{name}={v} must be >= {low}")
    return v


def _float(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name) or str(default)
    try:
        v = float(raw)
    except ValueError as e:
        raise SettingsError(f"{name}={raw!r} is not a number") from e
    if not v > 0:
        raise SettingsError(f"{name}={v} must be > 0")
    return v


def _csv(env: Mapping[str, str], name: str) -> list[str]:
    return [x.strip() for x in (env.get(name) or "").split(",") if x.strip()]


@dataclass(frozen=True)
class ServingSettings:
    """The prediction service (see pipelines/serving/)."""

    projects: list[str] = field(default_factory=list)  # empty: every project
    poll_seconds: float = 30.0
    flush_seconds: float = 10.0
    log_buffer: int = 10_000
    max_body_bytes: int = 2 * 1024 * 1024
    cors_origins: list[str] = field(default_factory=list)
    api_token: str | None = None
    risk_bands: tuple[float, float] = (0.3, 0.7)

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> ServingSettings:
        raw = env.get("SERVING_RISK_BANDS") or "0.3,0.7"
        try:
            bands = tuple(float(x) for x in raw.split(","))
        except ValueError as e:
            raise SettingsError(f"SERVING_RISK_BANDS={raw!r} must be 'low,high'") from e
        if len(bands) != 2 or not 0 < bands[0] < bands[1] < 1:
            raise SettingsError(f"SERVING_RISK_BANDS must be 'low,high' with 0 < low < high < 1, got {raw!r}")
        return cls(
            projects=_csv(env, "SERVING_PROJECTS"),
            poll_seconds=_float(env, "SERVING_POLL_SECONDS", 30.0),
            flush_seconds=_float(env, "SERVING_FLUSH_SECONDS", 10.0),
            log_buffer=_int(env, "SERVING_LOG_BUFFER", 10_000),
            max_body_bytes=_int(env, "SERVING_MAX_BODY_BYTES", 2 * 1024 * 1024, low=1024),
            cors_origins=_csv(env, "SERVING_CORS_ORIGINS"),
            api_token=env.get("API_TOKEN") or None,
            risk_bands=(bands[0], bands[1]),
        )


@dataclass(frozen=True)
class Settings:
    home: Path
    lake: str
    mlflow_tracking_uri: str
    artifacts_root: str | None
    optuna_storage: str
    lock_url: str | None  # Postgres DSN for advisory locks; None = file locks under home/locks
    projects_dir: Path
    expectations_dir: Path
    alert_webhook_url: str | None
    mlflow_ui_url: str
    n_jobs: int = 2
    s3_max_attempts: int = 5
    aws_endpoint_url: str | None = None
    aws_region: str = "us-east-1"
    db_password: str | None = None
    user: str = "unknown"
    worker_name: str | None = None  # the Airflow worker's name in task instances (several workers on one host)
    serving: ServingSettings = field(default_factory=ServingSettings)
    # Values that must never appear in a log line (pipelines.resources.redaction masks them).
    secrets: tuple[str, ...] = ()

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Read the environment now (not cached: tests and CLI flags change it)."""
        env = os.environ if env is None else env
        home = Path(env.get("MLOPS_HOME") or REPO_ROOT / ".local").resolve()
        tracking = env.get("MLFLOW_TRACKING_URI") or f"sqlite:///{home / 'mlflow.db'}"
        artifacts = env.get("MLOPS_ARTIFACTS_ROOT")
        if artifacts is None and tracking.startswith("sqlite:"):
            artifacts = (home / "mlartifacts").as_uri()
        optuna = env.get("OPTUNA_STORAGE") or f"sqlite:///{home / 'optuna.db'}"
        lock_url = env.get("MLOPS_LOCK_URL") or (optuna if optuna.startswith("postgresql") else None)
        secret_vars = ("MLFLOW_TRACKING_PASSWORD", "AWS_SECRET_ACCESS_KEY", "MLOPS_DB_PASSWORD", "API_TOKEN", "ALERT_WEBHOOK_URL")
        return cls(
            home=home,
            lake=env.get("MLOPS_LAKE") or str(home / "lake"),
            mlflow_tracking_uri=tracking,
            artifacts_root=artifacts,
            optuna_storage=optuna,
            lock_url=lock_url,
            projects_dir=Path(env.get("MLOPS_PROJECTS_DIR") or REPO_ROOT / "pipelines" / "projects"),
            expectations_dir=Path(env.get("MLOPS_EXPECTATIONS_DIR") or REPO_ROOT / "expectations"),
            alert_webhook_url=env.get("ALERT_WEBHOOK_URL") or None,
            mlflow_ui_url=(env.get("MLFLOW_UI_URL") or "http://127.0.0.1:5000").rstrip("/"),
            n_jobs=_int(env, "MLOPS_N_JOBS", 2),
            s3_max_attempts=_int(env, "MLOPS_S3_MAX_ATTEMPTS", 5),
            aws_endpoint_url=env.get("AWS_ENDPOINT_URL_S3") or env.get("AWS_ENDPOINT_URL") or None,
            aws_region=env.get("AWS_DEFAULT_REGION") or env.get("AWS_REGION") or "us-east-1",
            db_password=env.get("MLOPS_DB_PASSWORD") or None,
            user=env.get("MLOPS_USER") or _login(),
            worker_name=env.get("MLOPS_WORKER_NAME") or None,
            serving=ServingSettings.from_env(env),
            secrets=tuple(v for v in (env.get(k) for k in secret_vars) if v and len(v) >= 4),
        )


def _login() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (containers with an arbitrary UID)
        return "unknown"


def get_settings() -> Settings:
    """Shorthand for the edges: `Settings.from_env()`."""
    return Settings.from_env()
