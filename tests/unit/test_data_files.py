"""The public datasets in `data/` are the files data/README.md describes (rows, target rate, checksum)."""

from __future__ import annotations

import hashlib
import re

import pandas as pd
import pytest

from tests.conftest import DATA

README = (DATA / "README.md").read_text()


@pytest.mark.parametrize(("name", "rows", "target", "rate", "missing"), [
    ("Churn_Modelling.csv", 10_000, "Exited", 0.2037, {"Tenure": 909}),
    ("users_behavior.csv", 3_214, "is_ultra", 0.3065, {}),
])
def test_dataset_matches_its_readme(name: str, rows: int, target: str, rate: float, missing: dict[str, int]) -> None:
    path = DATA / name
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    row = next(line for line in README.splitlines() if line.startswith(f"| `{name}`"))
    assert re.search(r"`([0-9a-f]{64})`", row).group(1) == digest, f"{name}: checksum differs from data/README.md"  # type: ignore[union-attr]
    assert f"{rows:,}" in row
    df = pd.read_csv(path)
    assert len(df) == rows
    assert df[target].mean() == pytest.approx(rate, abs=5e-4)
    assert {c: int(n) for c, n in df.isna().sum().items() if n} == missing
