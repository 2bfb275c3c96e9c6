"""Configuration comes from the environment through ONE module: settings."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from pipelines.config.settings import ENV_VARS, Settings, SettingsError
from tests.conftest import REPO


def _env_reads(path: Path) -> list[str]:
    """`os.environ` / `os.getenv` / `environ.get` uses in a file (by the syntax tree, not text)."""
    tree = ast.parse(path.read_text())
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr in ("environ", "getenv", "putenv") and getattr(node.value, "id", "") == "os":
            found.append(f"{path.name}:{node.lineno}")
        if isinstance(node, ast.ImportFrom) and node.module == "os" and any(a.name in ("environ", "getenv") for a in node.names):
            found.append(f"{path.name}:{node.lineno}")
    return found


def test_only_settings_reads_the_environment():
    files = [p for d in ("pipelines", "dags", "plugins") for p in (REPO / d).rglob("*.py")]
    offenders = [hit for p in files if p != REPO / "pipelines" / "config" / "settings.py" for hit in _env_reads(p)]
    assert offenders == [], f"modules other than pipelines/config/settings.py read the environment: {offenders}"


def test_the_check_would_catch_a_reader(tmp_path):
    bad = tmp_path / "reader.py"
    bad.write_text("import os\nfrom os import getenv\nX = os.environ.get('MLOPS_HOME')\nY = os.getenv('A')\n")
    assert _env_reads(bad) == ["reader.py:3", "reader.py:2", "reader.py:4"] or len(_env_reads(bad)) == 3


def test_every_read_variable_is_listed():
    import re

    text = (REPO / "pipelines" / "config" / "settings.py").read_text()
    read = set(re.findall(r'env(?:\.get)?\(\s*"([A-Z0-9_]+)"', text)) | set(re.findall(r'_(?:int|float|csv)\(env, "([A-Z0-9_]+)"', text))
    read |= set(re.findall(r'"(MLFLOW_TRACKING_PASSWORD|AWS_SECRET_ACCESS_KEY|MLOPS_DB_PASSWORD|API_TOKEN|ALERT_WEBHOOK_URL)"', text))
    assert read - set(ENV_VARS) == set()


def test_defaults_are_embedded_and_lock_follows_postgres(tmp_path):
    s = Settings.from_env({"MLOPS_HOME": str(tmp_path)})
    assert s.lake == str(tmp_path / "lake") and s.mlflow_tracking_uri.startswith("sqlite:///") and s.lock_url is None
    pg = Settings.from_env({"MLOPS_HOME": str(tmp_path), "OPTUNA_STORAGE": "postgresql+psycopg2://u:p@h/optuna"})
    assert pg.lock_url == "postgresql+psycopg2://u:p@h/optuna"
    assert "p" not in pg.secrets  # too short to be a secret worth masking; real ones are kept
    assert Settings.from_env({"MLOPS_HOME": str(tmp_path), "API_TOKEN": "s3cret-token"}).secrets == ("s3cret-token",)


@pytest.mark.parametrize(("env", "needle"), [({"MLOPS_N_JOBS": "two"}, "MLOPS_N_JOBS='two' is not an integer"),
                                               ({"SERVING_RISK_BANDS": "0.8,0.2"}, "SERVING_RISK_BANDS"),
                                               ({"SERVING_POLL_SECONDS": "0"}, "SERVING_POLL_SECONDS=0.0 must be > 0")])
def test_bad_values_are_named(tmp_path, env, needle):
    with pytest.raises(SettingsError, match=needle):
        Settings.from_env({"MLOPS_HOME": str(tmp_path), **env})
