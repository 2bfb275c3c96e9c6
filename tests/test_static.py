"""Type hints are checked (mypy, pydantic plugin) and the code has no undefined names or unused
imports (ruff F) -- part of `make test`, so CI keeps them true."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import REPO


def test_mypy_pipelines():
    out = subprocess.run([sys.executable, "-m", "mypy", "pipelines"], cwd=REPO, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stdout[-4000:]


def test_ruff_pyflakes():
    out = subprocess.run([sys.executable, "-m", "ruff", "check", "--select", "F,E9", "pipelines", "dags", "plugins", "scripts",
                          "tests", "benchmarks"], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout[-4000:]
