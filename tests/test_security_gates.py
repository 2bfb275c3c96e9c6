"""Security gates that can fail: bandit (no unreviewed medium/high finding), a secret scan of the tree
against its reviewed baseline (detect-secrets), and pip-audit on the pinned requirements where the
vulnerability service is reachable. Each is shown failing on a planted example."""

from __future__ import annotations

import shutil
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import REPO

BIN = Path(sys.executable).parent


def bandit(*paths: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(BIN / "bandit"), "-q", "-c", str(REPO / "pyproject.toml"), "-ll", "-r", *map(str, paths)],
                          capture_output=True, text=True, timeout=300, cwd=REPO)


def test_bandit_finds_nothing_unreviewed_in_the_tree():
    out = bandit(REPO / "pipelines", REPO / "dags", REPO / "plugins", REPO / "scripts")
    assert out.returncode == 0, out.stdout[-3000:]


def test_bandit_fails_on_a_planted_shell_injection(tmp_path):
    bad = tmp_path / "planted.py"
    bad.write_text("import subprocess\n\ndef run(user_input):\n    return subprocess.call('ls ' + user_input, shell=True)\n")
    out = bandit(bad)
    assert out.returncode == 1 and "B602" in out.stdout


def scan(files: list[str], baseline: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(BIN / "detect-secrets-hook"), "--baseline", str(baseline), *files], capture_output=True, text=True,
                          timeout=300, cwd=REPO)


def test_no_secret_in_the_tree_beyond_the_reviewed_baseline(tmp_path):
    files = [f for f in subprocess.run(["git", "ls-files"], capture_output=True, text=True, cwd=REPO, check=True).stdout.split()
             if f != ".secrets.baseline" and (REPO / f).is_file()]
    baseline = tmp_path / "baseline"  # the hook may rewrite line numbers: scan against a copy
    shutil.copy(REPO / ".secrets.baseline", baseline)
    out = scan(files, baseline)
    if out.returncode == 3:  # the copy was rewritten because reviewed findings moved lines: scan again against it
        out = scan(files, baseline)
    assert out.returncode == 0, out.stdout[-3000:]


def test_secret_scan_fails_on_a_planted_key(tmp_path):
    planted = REPO / "pipelines" / "_planted_secret_probe.py"
    baseline = tmp_path / "baseline"
    shutil.copy(REPO / ".secrets.baseline", baseline)
    try:
        key = "AKIA" + "Z7QWERTYUIOPASDF"  # assembled here so this file itself holds no key-shaped literal
        hook = "https://hooks.slack" + ".com/services/T0A1B2C3D/B0A1B2C3D/" + "abcdefghijklmnopqrstuvwx"
        planted.write_text(f'AWS_ACCESS_KEY_ID = "{key}"\nSLACK = "{hook}"\n')
        out = scan([str(planted.relative_to(REPO))], baseline)
    finally:
        planted.unlink()
    assert out.returncode == 1 and "AWS Access Key" in out.stdout


def _vulnerability_service_reachable() -> bool:
    try:
        with urllib.request.urlopen("https://pypi.org/pypi/jinja2/2.10/json", timeout=10) as r:
            return r.status == 200
    except (urllib.error.URLError, OSError):
        return False


def pip_audit(requirements: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(BIN / "pip-audit"), "-r", str(requirements), "--no-deps", "--disable-pip", "--strict",
                           "--progress-spinner", "off"], capture_output=True, text=True, timeout=600, cwd=REPO)


def test_pip_audit_on_the_pins_and_on_a_planted_vulnerable_pin(tmp_path):
    if not _vulnerability_service_reachable():
        pytest.skip("pip-audit needs PyPI's per-release JSON API (vulnerability data); https://pypi.org/pypi/<name>/<version>/json "
                    "is not reachable from this machine: run `make audit-deps` where it is")
    planted = tmp_path / "requirements.txt"
    planted.write_text("jinja2==2.10\n")  # CVE-2019-10906 and others
    bad = pip_audit(planted)
    assert bad.returncode == 1 and "jinja2" in bad.stdout
    assert pip_audit(REPO / "requirements.txt").returncode == 0
