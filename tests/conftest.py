"""Test environment: every store under one temp folder, set BEFORE anything imports airflow.

Airflow binds its DB engine at import time, so the variables are set at module top.
UNIT_TEST_MODE stays off: tests must see the data intervals production sees. The public datasets
are read from the repo's own `data/` folder only, so a clone in any folder passes.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DATA = REPO / "data"
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
        "MLFLOW_ALLOW_PICKLE_DESERIALIZATION": "false",
        "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",
        "GIT_PYTHON_REFRESH": "quiet",
    }
)
for var in ("MLOPS_LAKE", "MLFLOW_TRACKING_URI", "OPTUNA_STORAGE", "ALERT_WEBHOOK_URL", "MLOPS_PROJECTS_DIR", "MLOPS_EXPECTATIONS_DIR",
            "MLOPS_LOCK_URL", "API_TOKEN", "MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD"):
    os.environ.pop(var, None)
(_HOME / "airflow").mkdir(parents=True, exist_ok=True)

import datetime as dt  # noqa: E402

import pytest  # noqa: E402

from pipelines.config import ProjectConfig, load_project  # noqa: E402
from pipelines.config.settings import Settings
from pipelines.resources.lake import LocalLake

PG_ADMIN = os.environ.get("MLOPS_TEST_PG_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh embedded stack (lake folder, MLflow sqlite, Optuna sqlite) for one test."""
    monkeypatch.setenv("MLOPS_HOME", str(tmp_path))
    return tmp_path


@pytest.fixture
def settings(home: Path) -> Settings:
    return Settings.from_env()


@pytest.fixture
def res(settings: Settings):  # type: ignore[no-untyped-def]
    """The stores of one test, built once as the edges build them."""
    from pipelines.resources import Resources

    return Resources.from_settings(settings)


@pytest.fixture
def lake(home: Path) -> LocalLake:
    return LocalLake(home / "lake")


@pytest.fixture(scope="session")
def cfg() -> ProjectConfig:
    return load_project("bankchurn", Settings.from_env())


def small(cfg: ProjectConfig, n_trials: int = 3, folds: int = 3, resamples: int = 200) -> ProjectConfig:
    """The project with a tiny search and bootstrap budget (tests only)."""
    search = cfg.search.model_copy(update={"n_trials": n_trials, "cv_folds": folds, "cv_repeats": 1})
    promotion = cfg.promotion.model_copy(update={"bootstrap": cfg.promotion.bootstrap.model_copy(update={"resamples": resamples})})
    return cfg.model_copy(update={"search": search, "promotion": promotion})


@pytest.fixture
def fed_lake(lake: LocalLake, cfg: ProjectConfig) -> LocalLake:
    """30 days (2026-01-01..01-30) of small synthetic bankchurn partitions."""
    from pipelines.steps.feed import feed_synthetic

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


def pg_available() -> bool:
    import psycopg2

    try:
        psycopg2.connect(PG_ADMIN, connect_timeout=3).close()
        return True
    except psycopg2.OperationalError:
        return False


def require_pg() -> None:
    """Postgres-backed tests: skip with instructions locally, fail under CI (CI=true)."""
    if pg_available():
        return
    msg = f"PostgreSQL not reachable at {PG_ADMIN.split('@')[-1]}"
    if os.environ.get("CI"):
        pytest.fail(f"CI must run the Postgres tests: {msg}")
    pytest.skip(f"{msg}; start it: pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "integration: runs whole DAGs or real servers (Postgres, S3)")
    config.addinivalue_line("markers", "faults: injects faults into the real server stack")
    config.addinivalue_line("markers", "browser: drives the UIs in headless Chromium")
