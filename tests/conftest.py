"""Test environment: every store under one temp folder, set BEFORE anything imports airflow.

Airflow binds its DB engine at import time (see ../shared/FACTS.md), so the variables are set at
module top. UNIT_TEST_MODE stays off: tests must see the data intervals production sees.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SHARED_DATA = REPO.parent / "shared" / "data"
_HOME = Path(tempfile.mkdtemp(prefix="mlops-tests-"))
os.environ.update(
    {
        "MLOPS_HOME": str(_HOME),
        "AIRFLOW_HOME": str(_HOME / "airflow"),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{_HOME / 'airflow' / 'airflow.db'}",
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
        "MLOPS_N_JOBS": "2",
        "GIT_PYTHON_REFRESH": "quiet",
    }
)
for var in ("MLOPS_LAKE", "MLFLOW_TRACKING_URI", "OPTUNA_STORAGE", "ALERT_WEBHOOK_URL", "MLOPS_PROJECTS_DIR", "MLOPS_EXPECTATIONS_DIR"):
    os.environ.pop(var, None)
(_HOME / "airflow").mkdir(parents=True, exist_ok=True)

import datetime as dt  # noqa: E402

import pytest  # noqa: E402

from pipelines.config import ProjectConfig, load_project  # noqa: E402
from pipelines.storage import LocalLake  # noqa: E402


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh embedded stack (lake folder, MLflow sqlite, Optuna sqlite) for one test."""
    monkeypatch.setenv("MLOPS_HOME", str(tmp_path))
    # mlflow.set_tracking_uri() exports MLFLOW_TRACKING_URI/MLFLOW_REGISTRY_URI; undo that per test.
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("MLFLOW_REGISTRY_URI", raising=False)
    return tmp_path


@pytest.fixture
def lake(home: Path) -> LocalLake:
    return LocalLake(home / "lake")


@pytest.fixture(scope="session")
def cfg() -> ProjectConfig:
    return load_project("bankchurn")


@pytest.fixture
def fed_lake(lake: LocalLake, cfg: ProjectConfig) -> LocalLake:
    """30 days (2026-01-01..01-30) of small synthetic bankchurn partitions."""
    from pipelines.feed import feed_synthetic

    feed_synthetic(lake, cfg, dt.date(2026, 1, 1), dt.date(2026, 1, 30), rows_per_day=60, seed=1)
    return lake


def load_script(name: str):  # type: ignore[no-untyped-def]
    """Import scripts/<name>.py (not a package) as a module."""
    import importlib.util
    import sys

    spec = importlib.util.spec_from_file_location(name, REPO / "scripts" / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    sys.modules[name] = mod  # dataclasses need their module registered
    spec.loader.exec_module(mod)  # type: ignore[union-attr]
    return mod


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "integration: runs whole DAGs or real servers (Postgres, S3)")
