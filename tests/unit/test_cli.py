from __future__ import annotations

import pytest

from pipelines.cli import main
from pipelines.tracking import metric_key
from tests.conftest import SHARED_DATA


def test_feed_then_refuse_then_validate(home, capsys, tmp_path):
    assert main(["feed", "bankchurn", "--start", "2026-01-01", "--end", "2026-01-03", "--rows-per-day", "300"]) == 0
    assert "wrote 3 partitions" in capsys.readouterr().out
    assert main(["feed", "bankchurn", "--start", "2026-01-03", "--end", "2026-01-04"]) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert main(["validate", "bankchurn", "--input", str(SHARED_DATA / "Churn_Modelling.csv")]) == 0
    assert "OK: 43 expectations passed on 10000 rows" in capsys.readouterr().out
    import pandas as pd

    bad = pd.read_csv(SHARED_DATA / "Churn_Modelling.csv").head(800)
    bad.loc[0, "Geography"] = "Narnia"
    bad.to_csv(tmp_path / "bad.csv", index=False)
    assert main(["validate", "bankchurn", "--input", str(tmp_path / "bad.csv")]) == 1
    out = capsys.readouterr().out
    assert "FAILED" in out and "expect_column_values_to_be_in_set[Geography]" in out and "Narnia" in out


def test_unknown_project_and_bad_dates(home, capsys):
    assert main(["status", "nope"]) == 2
    assert "unknown project 'nope'" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["feed", "bankchurn", "--start", "2026-13-01", "--end", "2026-01-02"])
    assert "not a date" in capsys.readouterr().err


def test_run_on_empty_lake_says_feed_first(home, capsys):
    assert main(["run", "bankchurn", "--date", "2026-01-31", "--n-trials", "1"]) == 2
    assert "feed data first" in capsys.readouterr().err


def test_status_with_no_model(home, capsys):
    assert main(["status", "bankchurn"]) == 0
    assert "champion   (not set)" in capsys.readouterr().out


def test_metric_keys_are_mlflow_safe():
    assert metric_key("slice/Age=[18,30)/roc_auc") == "slice/Age_18-30/roc_auc"
    assert metric_key("slice/Geography=France/f1") == "slice/Geography_France/f1"


def test_create_databases_is_idempotent_and_bad_server_is_named(capsys):
    import uuid

    from pipelines.databases import drop_databases

    prefix = f"mlops_cli{uuid.uuid4().hex[:6]}"
    admin = "postgresql://postgres@127.0.0.1:5432/postgres"
    try:
        for _ in range(2):
            assert main(["create-databases", "--admin-dsn", admin, "--prefix", prefix, "--roles"]) == 0
        assert f"{prefix}_optuna" in capsys.readouterr().out
    finally:
        drop_databases(admin, [f"{prefix}_{s}" for s in ("airflow", "mlflow", "optuna")], roles=True)
    assert main(["create-databases", "--admin-dsn", "postgresql://postgres@127.0.0.1:9/postgres"]) == 2
    assert "cannot connect to Postgres at 127.0.0.1" in capsys.readouterr().err
