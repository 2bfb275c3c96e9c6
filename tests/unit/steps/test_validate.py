from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from pipelines.config.settings import REPO_ROOT
from pipelines.domain.synthetic import generate_bankchurn
from pipelines.domain.validation import DataValidationError, read_table
from pipelines.domain.validation import validate_frame as _validate
from pipelines.steps.validate import validate_and_record
from tests.conftest import DATA

SUITES = REPO_ROOT / "expectations"


def validate_frame(df, cfg, **kw):
    return _validate(df, cfg, SUITES, **kw)


@pytest.fixture(scope="module")
def good() -> pd.DataFrame:
    return generate_bankchurn(dt.date(2026, 1, 1), 1500, np.random.default_rng(0), False)


def test_good_data_passes_and_report_is_written(good, cfg, lake):
    out = validate_and_record(good, cfg, SUITES, lake, "runs/bankchurn/2026-01-01/validation/")
    assert out.success and out.evaluated >= 50 and out.failed == []
    assert lake.get_json("runs/bankchurn/2026-01-01/validation/validation.json")["success"] is True
    page = lake.get_bytes("runs/bankchurn/2026-01-01/validation/data_docs.html").decode()
    assert "<html" in page.lower() and "<style>" in page and "stylesheet" not in page  # CSS inlined, no CDN links


def test_real_public_csv_passes(cfg):
    assert validate_frame(pd.read_csv(DATA / "Churn_Modelling.csv"), cfg).success


def test_drifted_but_plausible_data_passes(cfg):
    """Real drift (older customers, more Germany, fewer active members) is the drift monitor's job, not a broken feed."""
    drifted = generate_bankchurn(dt.date(2026, 1, 1), 3000, np.random.default_rng(0), True)
    assert validate_frame(drifted, cfg, raise_on_failure=False).success


@pytest.mark.parametrize(("corrupt", "needle"), [
    (lambda d: d.assign(IsActiveMember=0), "expect_column_mean_to_be_between[IsActiveMember]"),
    (lambda d: d[d.Geography != "Spain"], "expect_column_values_to_be_in_set[Geography]"),  # a country's feed missing
])
def test_distribution_corruption_is_refused(cfg, corrupt, needle):
    real = pd.read_csv(DATA / "Churn_Modelling.csv")
    out = validate_frame(corrupt(real), cfg, raise_on_failure=False)
    assert not out.success and any(needle == f"{f.expectation}[{f.column}]" for f in out.failed), out.failed


@pytest.mark.parametrize(
    ("corrupt", "expectation", "observed"),
    [
        (lambda d: d.assign(Geography=d.Geography.where(d.index % 50 != 0, "Atlantis")),
         "expect_column_values_to_be_in_set[Geography]", "Atlantis"),
        (lambda d: d.assign(Age=d.Age.where(d.index != 3, -5)), "expect_column_values_to_be_between[Age]", "-5"),
        (lambda d: d.drop(columns=["Balance"]), "expect_table_columns_to_match_set", "observed"),
        (lambda d: d.assign(Exited=d.Exited.where(d.index != 1, 2)), "expect_column_values_to_be_in_set[Exited]", "2"),
        (lambda d: pd.concat([d, d.head(3)]), "expect_column_values_to_be_unique[CustomerId]", "6 unexpected"),
        (lambda d: d.head(20), "expect_table_row_count_to_be_between", "observed 20"),
        (lambda d: d.assign(CreditScore=np.where(d.index % 10 == 0, np.nan, d.CreditScore)),
         "expect_column_values_to_not_be_null[CreditScore]", "unexpected"),
    ],
)
def test_failures_name_the_expectation_and_observed_value(good, cfg, lake, corrupt, expectation, observed):
    with pytest.raises(DataValidationError) as e:
        validate_and_record(corrupt(good.copy()), cfg, SUITES, lake, "v/")
    msg = str(e.value)
    assert expectation in msg and observed in msg, msg
    assert e.value.report["success"] is False and e.value.failures
    assert lake.exists("v/validation.json")  # the evidence stays


def test_empty_frame_fails_on_row_count(good, cfg):
    out = validate_frame(good.head(0), cfg, raise_on_failure=False)
    assert not out.success and any(f.expectation == "expect_table_row_count_to_be_between" for f in out.failed)


def test_read_table_formats(tmp_path, good):
    good.to_parquet(tmp_path / "a.parquet")
    assert len(read_table(tmp_path / "a.parquet")) == len(good)
    with pytest.raises(ValueError, match="unsupported"):
        read_table((tmp_path / "a.txt").resolve()) if (tmp_path / "a.txt").write_text("x") else None
    with pytest.raises(FileNotFoundError):
        read_table(tmp_path / "none.csv")


def test_the_failure_survives_a_process_boundary():
    """Raised in a spawned step or a pool worker, it is pickled back to the parent with its report
    (an unpicklable exception hangs multiprocessing's result thread instead of failing)."""
    import pickle

    from pipelines.domain.validation import ExpectationFailure, ValidationOutcome

    failed = [ExpectationFailure(expectation="expect_column_values_to_be_between", column="Age", observed="3 unexpected", details="")]
    err = DataValidationError("bankchurn.json", ValidationOutcome(success=False, evaluated=59, failed=failed, rows=100, report={"k": 1}))
    back = pickle.loads(pickle.dumps(err))
    assert str(back) == str(err) and back.failures == err.failures and back.report == {"k": 1}
