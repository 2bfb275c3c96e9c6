"""A clone in a folder of its own passes: nothing in the repo reads outside it. The tracked files are
copied into an empty temp folder (no sibling folders) and the tests that read data files run there."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO

OUTSIDE = re.compile(r"\.\./(shared|\.library)|/work/")


def _tracked() -> list[str]:
    out = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=REPO, capture_output=True, text=True, check=True)
    return [f for f in out.stdout.splitlines() if (REPO / f).is_file()]


def test_no_file_points_outside_the_repo() -> None:
    hits = []
    for f in _tracked():
        if f.endswith((".py", ".md", ".yaml", ".yml", ".json", ".toml", ".in", ".txt", ".cfg", ".ini", ".sh")) or f in ("Makefile",):
            text = (REPO / f).read_text(errors="replace")
            hits += [f"{f}:{n}: {line.strip()}" for n, line in enumerate(text.splitlines(), 1) if OUTSIDE.search(line)]
    hits = [h for h in hits if not h.startswith("tests/test_self_contained.py")]
    assert not hits, "paths outside the repo:\n" + "\n".join(hits)


def test_a_copy_in_an_empty_folder_passes_its_data_tests(tmp_path: Path) -> None:
    clone = tmp_path / "lonely" / "checkout"
    for f in _tracked():
        (clone / f).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / f, clone / f)
    assert sorted(p.name for p in (tmp_path / "lonely").iterdir()) == ["checkout"]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLOPS_", "AIRFLOW", "PYTEST"))}
    tests = ["tests/unit/test_data_files.py", "tests/unit/steps/test_feed.py", "tests/unit/steps/test_validate.py", "tests/unit/cli/test_cli.py"]
    out = subprocess.run([sys.executable, "-m", "pytest", "-q", "-x", *tests], cwd=clone, env={**env, "PYTHONPATH": str(clone)},
                         capture_output=True, text=True, timeout=900)
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-2000:]
    assert " passed" in out.stdout
