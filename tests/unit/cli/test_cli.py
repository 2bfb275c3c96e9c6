from __future__ import annotations

import json
import uuid

import pandas as pd
import pytest

from pipelines.cli import main
from tests.conftest import DATA, PG_ADMIN, REPO, require_pg


def test_feed_then_refuse_then_validate(home, capsys, tmp_path):
    assert main(["feed", "bankchurn", "--start", "2026-01-01", "--end", "2026-01-03", "--rows-per-day", "300"]) == 0
    assert "wrote 3 partitions" in capsys.readouterr().out
    assert main(["feed", "bankchurn", "--start", "2026-01-03", "--end", "2026-01-04"]) == 2
    assert "--overwrite" in capsys.readouterr().err
    bad = pd.read_csv(DATA / "Churn_Modelling.csv").head(800)
    bad.loc[0, "Geography"] = "Narnia"
    bad.to_csv(tmp_path / "bad.csv", index=False)
    assert main(["validate", "bankchurn", "--input", str(DATA / "Churn_Modelling.csv"), str(tmp_path / "bad.csv")]) == 1
    out = capsys.readouterr().out
    n = len(json.loads((REPO / "expectations" / "bankchurn.json").read_text())["expectations"])
    assert "OK " in out and f"{n} expectations passed on 10000 rows" in out
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


def test_serve_refuses_to_start_open(home, capsys, monkeypatch):
    monkeypatch.delenv("API_TOKEN", raising=False)
    assert main(["serve", "--port", "0"]) == 2
    assert "API_TOKEN is not set" in capsys.readouterr().err
    assert main(["serve", "--insecure", "--host", "0.0.0.0", "--port", "0"]) == 2
    assert "refused on the non-loopback host" in capsys.readouterr().err


def test_create_databases_is_idempotent_quotes_and_never_prints_passwords(capsys, tmp_path, monkeypatch):
    require_pg()
    from pipelines.resources.databases import drop_databases

    prefix = f"mlops_cli{uuid.uuid4().hex[:6]}"
    monkeypatch.setenv("MLOPS_DB_PASSWORD", "it's-a 'quoted' p@ss/word")  # a quote must not break (or inject into) the SQL
    try:
        for _ in range(2):
            assert main(["create-databases", "--admin-dsn", PG_ADMIN, "--prefix", prefix, "--roles", "--env-file", str(tmp_path / "db.env")]) == 0
        out = capsys.readouterr().out
        assert f"{prefix}_optuna" in out and "p@ss" not in out and "quoted" not in out
        env = (tmp_path / "db.env").read_text()
        assert (tmp_path / "db.env").stat().st_mode & 0o777 == 0o600
        url = next(line.split("=", 1)[1] for line in env.splitlines() if line.startswith("OPTUNA_STORAGE="))
        assert "it%27s-a%20%27quoted%27%20p%40ss%2Fword" in url  # URL-encoded
        import psycopg2

        psycopg2.connect(url.replace("postgresql+psycopg2", "postgresql"), connect_timeout=5).close()  # the role logs in with it
    finally:
        drop_databases(PG_ADMIN, [f"{prefix}_{s}" for s in ("airflow", "mlflow", "optuna")], roles=True)
    assert main(["create-databases", "--admin-dsn", "postgresql://postgres:topsecret@127.0.0.1:9/postgres"]) == 2
    err = capsys.readouterr().err
    assert "cannot connect to Postgres at 127.0.0.1:9" in err and "topsecret" not in err


def test_gen_env_writes_random_secrets_once(tmp_path, capsys):
    out = tmp_path / ".env"
    assert main(["gen-env", "--output", str(out)]) == 0
    first = dict(line.split("=", 1) for line in out.read_text().splitlines() if "=" in line and not line.startswith("#"))
    assert out.stat().st_mode & 0o777 == 0o600 and len(first["AIRFLOW_ADMIN_PASSWORD"]) >= 24 and first["AIRFLOW_FERNET_KEY"]
    assert main(["gen-env", "--output", str(out)]) == 2  # never replaces live secrets silently
    assert main(["gen-env", "--output", str(out), "--overwrite"]) == 0
    second = dict(line.split("=", 1) for line in out.read_text().splitlines() if "=" in line and not line.startswith("#"))
    assert first["POSTGRES_PASSWORD"] != second["POSTGRES_PASSWORD"]


def test_outcomes_import_and_report(home, capsys, tmp_path):
    """A bad outcome file ends with exit 2 naming the expectation and stores nothing; a good one is
    stored once; the report of a day with no served predictions says so and counts zero."""
    bad, good = tmp_path / "bad.csv", tmp_path / "good.csv"
    pd.DataFrame({"CustomerId": [1, 1], "Exited": [0, 1]}).to_csv(bad, index=False)
    pd.DataFrame({"CustomerId": [1, 2], "Exited": [0, 1]}).to_csv(good, index=False)
    assert main(["outcomes", "import", "bankchurn", "--input", str(bad), "--arrived", "2026-02-01"]) == 2
    assert "expect_column_values_to_be_unique[CustomerId]" in capsys.readouterr().err
    assert main(["outcomes", "import", "bankchurn", "--input", str(good), "--arrived", "2026-02-01"]) == 0
    assert "2 outcomes stored as arrived 2026-02-01" in capsys.readouterr().out
    assert main(["outcomes", "import", "bankchurn", "--input", str(good), "--arrived", "2026-02-01"]) == 0
    assert "already stored" in capsys.readouterr().out
    assert main(["outcomes", "report", "bankchurn", "--as-of", "2026-02-03"]) == 0
    out = capsys.readouterr().out
    assert "| 0 | 0 | 0 | 0 | 0 | 0 | 0 |" in out and "| 2 | 0 | 0 | 0 | 0 | 0 | 2 |" in out  # two outcomes, never predicted
    assert main(["outcomes", "report", "telecom"]) == 2
    assert "telecom has no outcomes block" in capsys.readouterr().err
