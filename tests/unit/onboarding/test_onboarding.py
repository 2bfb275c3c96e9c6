"""`pipelines init`: profile a CSV, draft a project and a suite with distribution checks."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from pipelines.config import load_project_file
from pipelines.domain.validation import validate_frame
from pipelines.onboarding import OnboardingError, init_project, profile_column, share_bounds


def credit_default(n: int = 4000, seed: int = 0) -> pd.DataFrame:
    """A credit-default file shaped like ISLR's `Default`: Yes/No labels, a Yes/No student flag."""
    rng = np.random.default_rng(seed)
    student = rng.random(n) < 0.29
    balance = np.clip(rng.normal(835, 480, n), 0, 2650).round(2)
    income = np.where(student, rng.normal(17900, 4000, n), rng.normal(40000, 10000, n)).round(2)
    logit = -10.8 + 0.0057 * balance - 0.6 * student
    default = rng.random(n) < 1 / (1 + np.exp(-logit))
    region = rng.choice(["north", "south", "east", "west"], n, p=[0.4, 0.3, 0.2, 0.1])
    return pd.DataFrame({"account_id": np.arange(100_000, 100_000 + n), "default": np.where(default, "Yes", "No"),
                         "student": np.where(student, "Yes", "No"), "autopay": (rng.random(n) < 0.6).astype(int), "region": region,
                         "balance": balance, "income": income, "branch": "main", "note": [f"free text {i}" for i in range(n)]})


@pytest.fixture
def drafted(tmp_path):
    df = credit_default()
    df.to_csv(tmp_path / "default.csv", index=False)
    y, s, dropped = init_project("creditdefault", tmp_path / "default.csv", target="default", positive="Yes", time_column=None,
                                 projects_dir=tmp_path / "projects", expectations_dir=tmp_path / "expectations", start=dt.date(2026, 1, 1))
    return df, y, s, dropped


def test_draft_project_loads_and_explains_what_it_left_out(drafted):
    df, yaml_path, suite_path, dropped = drafted
    cfg = load_project_file(yaml_path)
    assert cfg.task == "binary_classification" and cfg.positive_label == "Yes" and cfg.id_column == "account_id"
    assert set(cfg.numeric_features) == {"autopay", "balance", "income"} and set(cfg.categorical_features) == {"student", "region"}
    assert any(d.startswith("account_id: id-like") for d in dropped) and any(d.startswith("branch: constant") for d in dropped)
    assert any(d.startswith("note: free text") for d in dropped)
    assert "# Columns left out of the features:" in yaml_path.read_text()
    # rows with an id: drafted for outcomes, and its outcome files are checked against the drafted label set
    assert cfg.outcomes is not None and cfg.outcomes.label_delay_days == 30 and cfg.outcomes.decay.metric == "roc_auc"
    from pipelines.domain.validation import DataValidationError, validate_outcomes

    validate_outcomes(pd.DataFrame({"account_id": [1, 2], "default": ["Yes", "No"]}), cfg, suite_path.parent)
    with pytest.raises(DataValidationError, match=r"expect_column_values_to_be_in_set\[default\]"):
        validate_outcomes(pd.DataFrame({"account_id": [1, 2], "default": ["Yes", "Maybe"]}), cfg, suite_path.parent)


def test_drafted_suite_accepts_the_data_and_refuses_corruption(drafted):
    df, yaml_path, suite_path, _ = drafted
    cfg, folder = load_project_file(yaml_path), suite_path.parent
    assert json.loads(suite_path.read_text())["meta"]["batch_rows"] == 67  # 4,000 rows over 60 days: sized for one such day
    assert validate_frame(df, cfg, folder, raise_on_failure=False).success
    for part in np.array_split(df.sample(frac=1.0, random_state=1), 60):  # every day of the import passes
        assert validate_frame(part, cfg, folder, raise_on_failure=False).success
    zeroed = validate_frame(df.assign(autopay=0), cfg, folder, raise_on_failure=False)
    assert any(f.expectation == "expect_column_mean_to_be_between" and f.column == "autopay" for f in zeroed.failed)
    vanished = validate_frame(df.assign(region=df.region.replace("north", "south")), cfg, folder, raise_on_failure=False)
    assert any(f.column == "region" for f in vanished.failed), vanished.failed
    assert not validate_frame(df.assign(balance=-5.0), cfg, folder, raise_on_failure=False).success


@pytest.mark.parametrize(("corrupt", "expectation"), [
    (lambda d: d.assign(income=40_000.0), "expect_column_stdev_to_be_between"),  # a constant (a default filled in)
    (lambda d: d.assign(balance=0.0), "expect_column_quantile_values_to_be_between"),  # all zeros
    (lambda d: d.assign(income=(d.income / 1000).round(2)), "expect_column_quantile_values_to_be_between"),  # units
    (lambda d: d.assign(income=(d.income / 20_000).round() * 20_000), "expect_column_proportion_of_unique_values_to_be_between"),
    (lambda d: d.assign(income=d.income.where(np.arange(len(d)) % 2 == 0, 0.0)), "expect_column_values_to_not_be_in_set"),  # zeros
])
def test_drafted_suite_refuses_numeric_distribution_breaks_on_one_day(drafted, corrupt, expectation):
    df, yaml_path, suite_path, _ = drafted
    one_day = df.sample(67, random_state=2)
    out = validate_frame(corrupt(one_day), load_project_file(yaml_path), suite_path.parent, raise_on_failure=False)
    assert expectation in {f.expectation for f in out.failed}, [str(f) for f in out.failed]


def test_a_suite_sized_for_larger_batches_sees_a_halved_category(tmp_path):
    """What one 67-row day cannot show without refusing clean days, a suite sized for 20,000-row batches can."""
    df = credit_default()
    df.to_csv(tmp_path / "default.csv", index=False)
    y, s, _ = init_project("creditdefault", tmp_path / "default.csv", target="default", positive="Yes", time_column=None,
                           projects_dir=tmp_path / "p", expectations_dir=tmp_path / "e", start=dt.date(2026, 1, 1), batch_rows=20_000)
    cfg = load_project_file(y)
    north = df[df.region == "north"]
    dropped_half = pd.concat([df[df.region != "north"], north.sample(frac=0.5, random_state=0)])  # north 40% -> 25%
    relabelled = df.copy()
    relabelled.loc[north.sample(frac=0.5, random_state=0).index, "region"] = "south"  # north 40% -> 20%
    for halved in (dropped_half, relabelled):
        out = validate_frame(halved, cfg, s.parent, raise_on_failure=False)
        assert not out.success and any(f.column == "region" for f in out.failed), out.failed
    assert validate_frame(df, cfg, s.parent, raise_on_failure=False).success


def test_refusals_are_clear(tmp_path):
    df = credit_default(300)
    df.to_csv(tmp_path / "d.csv", index=False)
    kw = dict(time_column=None, projects_dir=tmp_path / "p", expectations_dir=tmp_path / "e", start=dt.date(2026, 1, 1))
    with pytest.raises(OnboardingError, match="no column 'defaulted'"):
        init_project("credit", tmp_path / "d.csv", target="defaulted", positive=None, **kw)
    df.assign(flag=np.where(df.default == "Yes", "bad", "good")).to_csv(tmp_path / "d2.csv", index=False)
    with pytest.raises(OnboardingError, match=r"labels \['bad', 'good'\]: name the positive one with --positive"):
        init_project("credit", tmp_path / "d2.csv", target="flag", positive=None, **kw)
    with pytest.raises(OnboardingError, match="has 4 labels"):
        init_project("credit", tmp_path / "d.csv", target="region", positive=None, **kw)
    with pytest.raises(OnboardingError, match="is not a label"):
        init_project("credit", tmp_path / "d.csv", target="default", positive="Maybe", **kw)
    init_project("credit", tmp_path / "d.csv", target="default", positive="Yes", **kw)
    with pytest.raises(OnboardingError, match="refusing to overwrite a reviewed file"):
        init_project("credit", tmp_path / "d.csv", target="default", positive="Yes", **kw)
    with pytest.raises(OnboardingError, match="project name"):
        init_project("Bad-Name", tmp_path / "d.csv", target="default", positive="Yes", **kw)


def test_share_bounds_catch_a_halved_category():
    lo, hi = share_bounds(0.25, 0.3)
    assert lo == 0.175 and 0.25 * 0.625 < lo and hi >= 0.40  # halved (even by dropping rows) fails; 1.6x growth passes


def test_share_bounds_widen_for_a_day_and_still_refuse_a_vanished_or_universal_value():
    day_lo, day_hi = share_bounds(0.25, 0.3, 150)
    big_lo, big_hi = share_bounds(0.25, 0.3, 100_000)
    assert 0 < day_lo < big_lo <= 0.175 and 0.42 <= big_hi < day_hi < 1.0  # a day scatters more than a big batch
    assert share_bounds(0.25, 0.3, 10_000_000) == pytest.approx((0.175, 0.42), abs=0.002)  # the noise vanishes, the rule stays


def test_numeric_profile_floors_spread_and_distinct_values():
    rng = np.random.default_rng(0)
    salary = pd.Series(rng.uniform(10, 200_000, 10_000).round(2), name="salary")
    d = profile_column(salary, protected=set(), batch_rows=150).dist
    assert d is not None and d.unique_kind == "proportion" and 0.3 < d.unique_floor < 0.6  # ties stay rare even at 10M rows
    assert d.quantile_se[0.5] > 0 and d.std_se > 0
    score = pd.Series(rng.normal(650, 97, 10_000).round().clip(350, 850), name="score")  # ~460 distinct integers
    s = profile_column(score, protected=set(), batch_rows=150).dist
    assert s is not None and s.unique_kind == "count" and 5 <= s.unique_floor < 30  # any 30-row batch has that many


def test_yaml_is_reviewable(drafted):
    _, yaml_path, _, _ = drafted
    doc = yaml.safe_load(Path(yaml_path).read_text())
    assert list(doc)[:4] == ["name", "description", "task", "target"]
    assert doc["promotion"]["change_thresholds"][0]["mode"] == "non_inferiority"


def test_a_count_with_a_thin_tail_gets_a_range_and_a_code_gets_its_value_set():
    rng = np.random.default_rng(0)
    paid_off = pd.Series(np.minimum(rng.poisson(0.8, 20_000), 9), name="nPaidOff")  # 0..6, top value in a handful of rows
    count = profile_column(paid_off, protected=set())
    assert count.kind == "numeric" and count.values == [] and count.low == 0
    plan_code = pd.Series(rng.choice([1, 5, 9], 20_000), name="plan")  # not contiguous: a closed set of codes
    assert profile_column(plan_code, protected=set()).values == [1, 5, 9]
    products = pd.Series(rng.choice([1, 2, 3, 4], 20_000, p=[0.5, 0.45, 0.03, 0.02]), name="NumOfProducts")  # top value common
    assert profile_column(products, protected=set()).values == [1, 2, 3, 4]
