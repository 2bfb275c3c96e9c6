"""Where the stores are: read from the environment, with embedded defaults under one local folder.

Nothing here connects to anything; the storage and MLflow boundaries take these values. The same
code runs on the embedded default (a folder, sqlite files) and on servers (S3/MinIO, Postgres, an
MLflow server) by changing environment variables only.

| variable               | embedded default                       | server example                      |
|------------------------|----------------------------------------|-------------------------------------|
| MLOPS_HOME             | <repo>/.local                          | /opt/airflow/state                  |
| MLOPS_LAKE             | $MLOPS_HOME/lake                       | s3://lake/mlops                     |
| MLFLOW_TRACKING_URI    | sqlite:///$MLOPS_HOME/mlflow.db        | http://mlflow:5000                  |
| MLOPS_ARTIFACTS_ROOT   | $MLOPS_HOME/mlartifacts (sqlite only)  | (the server's --artifacts-destination) |
| OPTUNA_STORAGE         | sqlite:///$MLOPS_HOME/optuna.db        | postgresql+psycopg2://.../optuna    |
| MLOPS_PROJECTS_DIR     | <repo>/pipelines/projects              |                                     |
| MLOPS_EXPECTATIONS_DIR | <repo>/expectations                    |                                     |
| ALERT_WEBHOOK_URL      | (none)                                 | https://hooks.slack.com/...         |
| MLFLOW_UI_URL          | http://127.0.0.1:5000                  |                                     |
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent

# Every variable this package reads (compose and stack tests check their env against this list).
ENV_VARS = (
    "MLOPS_HOME", "MLOPS_LAKE", "MLFLOW_TRACKING_URI", "MLOPS_ARTIFACTS_ROOT", "OPTUNA_STORAGE",
    "MLOPS_PROJECTS_DIR", "MLOPS_EXPECTATIONS_DIR", "ALERT_WEBHOOK_URL", "MLFLOW_UI_URL", "MLOPS_N_JOBS",
    "MLOPS_S3_MAX_ATTEMPTS", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_DEFAULT_REGION", "AWS_REGION",
    "MLOPS_DB_PASSWORD",
)


@dataclass(frozen=True)
class Settings:
    home: Path
    lake: str
    mlflow_tracking_uri: str
    artifacts_root: str | None
    optuna_storage: str
    projects_dir: Path
    expectations_dir: Path
    alert_webhook_url: str | None
    mlflow_ui_url: str


def get_settings() -> Settings:
    """Read the environment now (not cached: tests and CLI flags change it)."""
    env = os.environ
    home = Path(env.get("MLOPS_HOME") or REPO_ROOT / ".local").resolve()
    tracking = env.get("MLFLOW_TRACKING_URI") or f"sqlite:///{home / 'mlflow.db'}"
    artifacts = env.get("MLOPS_ARTIFACTS_ROOT")
    if artifacts is None and tracking.startswith("sqlite:"):
        artifacts = (home / "mlartifacts").as_uri()
    return Settings(
        home=home,
        lake=env.get("MLOPS_LAKE") or str(home / "lake"),
        mlflow_tracking_uri=tracking,
        artifacts_root=artifacts,
        optuna_storage=env.get("OPTUNA_STORAGE") or f"sqlite:///{home / 'optuna.db'}",
        projects_dir=Path(env.get("MLOPS_PROJECTS_DIR") or REPO_ROOT / "pipelines" / "projects"),
        expectations_dir=Path(env.get("MLOPS_EXPECTATIONS_DIR") or REPO_ROOT / "expectations"),
        alert_webhook_url=env.get("ALERT_WEBHOOK_URL") or None,
        mlflow_ui_url=(env.get("MLFLOW_UI_URL") or "http://127.0.0.1:5000").rstrip("/"),
    )
