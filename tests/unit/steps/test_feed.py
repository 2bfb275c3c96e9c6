from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from pipelines.config import load_project
from pipelines.domain.synthetic import generate_bankchurn, generate_loanrisk
from pipelines.domain.validation import DataValidationError, validate_frame
from pipelines.resources.lake import LakeKeyExists
from pipelines.steps.feed import FeedError, feed_from_csv, feed_synthetic
from tests.conftest import DATA

D = dt.date


def _big(drifted: bool = False, n: int = 20000) -> pd.DataFrame:
    return generate_bankchurn(D(2026, 1, 1), n, np.random.default_rng(7), drifted)


def test_generator_matches_public_statistics():
    df = _big()
    assert 0.17 < df.Exited.mean() < 0.24  # public: 20.4%
    assert 0.07 < df.Tenure.isna().mean() < 0.11  # public: 9.1%
    churn = df.groupby("Geography").Exited.mean()
    assert churn["Germany"] > churn["France"] + 0.08
    assert df[df.IsActiveMember == 0].Exited.mean() > df[df.IsActiveMember == 1].Exited.mean() + 0.05
    assert df[df.NumOfProducts >= 3].Exited.mean() > 0.6
    assert df[df.Age >= 50].Exited.mean() > 2 * df[df.Age < 35].Exited.mean()
    assert set(df.Geography) == {"France", "Germany", "Spain"} and set(df.Gender) == {"Male", "Female"}
    assert df.Age.between(18, 92).all() and df.CreditScore.between(350, 850).all()
    assert (df[df.Geography == "Germany"].Balance > 0).all()
    assert df.CustomerId.is_unique


def test_generator_has_real_signal():
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score

    df = _big()
    X = pd.get_dummies(df[["Age", "IsActiveMember", "NumOfProducts", "Balance", "Geography", "Gender"]], dtype=float)
    X["p3"] = (df.NumOfProducts >= 3).astype(float)
    m = LogisticRegression(max_iter=2000).fit(X[:15000], df.Exited[:15000])
    assert roc_auc_score(df.Exited[15000:], m.predict_proba(X[15000:])[:, 1]) > 0.75


def test_drift_shifts_named_distributions():
    base, drifted = _big(), _big(drifted=True)
    assert drifted.Age.mean() > base.Age.mean() + 5
    assert (drifted.Geography == "Germany").mean() > (base.Geography == "Germany").mean() + 0.1


def test_feed_writes_daily_partitions_and_is_seeded(lake, cfg):
    r = feed_synthetic(lake, cfg, D(2026, 1, 1), D(2026, 1, 3), rows_per_day=50, seed=3)
    assert (r.partitions, r.first, r.last) == (3, D(2026, 1, 1), D(2026, 1, 3))
    keys = lake.list("raw/bankchurn/")
    assert keys == [f"raw/bankchurn/dt=2026-01-0{i}/part-0000.parquet" for i in (1, 2, 3)]
    day2 = lake.get_parquet(keys[1])
    # Seeded per day: the same day from another range is identical.
    other = type(lake)(lake.root + "-b")
    feed_synthetic(other, cfg, D(2026, 1, 2), D(2026, 1, 2), rows_per_day=50, seed=3)
    pd.testing.assert_frame_equal(other.get_parquet(keys[1]), day2)


def test_feed_refuses_existing_partitions_and_writes_nothing(lake, cfg):
    feed_synthetic(lake, cfg, D(2026, 1, 2), D(2026, 1, 2), rows_per_day=20)
    before = lake.get_bytes("raw/bankchurn/dt=2026-01-02/part-0000.parquet")
    with pytest.raises(LakeKeyExists, match="--overwrite"):
        feed_synthetic(lake, cfg, D(2026, 1, 1), D(2026, 1, 3), rows_per_day=20)
    assert lake.list("raw/bankchurn/dt=2026-01-01/") == []  # nothing half-written
    assert lake.get_bytes("raw/bankchurn/dt=2026-01-02/part-0000.parquet") == before
    feed_synthetic(lake, cfg, D(2026, 1, 1), D(2026, 1, 3), rows_per_day=20, seed=9, overwrite=True)
    assert lake.get_bytes("raw/bankchurn/dt=2026-01-02/part-0000.parquet") != before


def test_feed_rejects_reversed_range(lake, cfg):
    with pytest.raises(FeedError, match="before"):
        feed_synthetic(lake, cfg, D(2026, 1, 5), D(2026, 1, 1))


def test_from_csv_spreads_every_real_row(lake, cfg):
    src = DATA / "Churn_Modelling.csv"
    r = feed_from_csv(lake, cfg, src, D(2026, 1, 1), D(2026, 1, 10), seed=1)
    assert (r.partitions, r.rows) == (10, 10000)
    got = pd.concat([lake.get_parquet(k) for k in lake.list("raw/bankchurn/")])
    assert sorted(got.CustomerId) == sorted(pd.read_csv(src).CustomerId)


def test_from_csv_missing_columns_and_bad_file(lake, cfg, tmp_path):
    bad = tmp_path / "bad.csv"
    pd.DataFrame({"CustomerId": [1], "Exited": [0]}).to_csv(bad, index=False)
    with pytest.raises(FeedError, match="lacks required column"):
        feed_from_csv(lake, cfg, bad, D(2026, 1, 1), D(2026, 1, 1))
    with pytest.raises(FeedError, match="not found"):
        feed_from_csv(lake, cfg, tmp_path / "nope.csv", D(2026, 1, 1), D(2026, 1, 1))


def test_from_csv_is_validated_first_and_a_refused_file_writes_nothing(lake, cfg, tmp_path, settings):
    bad = pd.read_csv(DATA / "Churn_Modelling.csv")
    bad["IsActiveMember"] = 0  # an upstream bug that zeroes a flag
    bad.to_csv(tmp_path / "zeroed.csv", index=False)
    with pytest.raises(DataValidationError, match=r"expect_column_mean_to_be_between\[IsActiveMember\]"):
        feed_from_csv(lake, cfg, tmp_path / "zeroed.csv", D(2026, 1, 1), D(2026, 1, 5),
                      validate=lambda df: validate_frame(df, cfg, settings.expectations_dir))
    assert lake.list("raw/bankchurn/") == []


def test_derived_target_is_computed_at_import(lake, tmp_path):
    cfg = load_project("loanrisk")
    raw = generate_loanrisk(D(2026, 1, 1), 300, np.random.default_rng(0), False)
    assert "risky" not in raw.columns
    raw.to_csv(tmp_path / "loans.csv", index=False)
    feed_from_csv(lake, cfg, tmp_path / "loans.csv", D(2026, 1, 1), D(2026, 1, 3))
    got = pd.concat([lake.get_parquet(k) for k in lake.list("raw/loanrisk/")])
    final = got.loanStatus.isin(cfg.derive_target.positive + cfg.derive_target.negative)
    assert got.loc[final, "risky"].notna().all() and got.loc[~final, "risky"].isna().all()
    assert (got.loc[got.loanStatus == "Charged Off", "risky"] == 1).all()



def test_concept_shift_changes_labels_not_features(cfg, tmp_path):
    """The planted concept shift: the same features (same draws) as an unshifted feed, other labels,
    and inactive members now churn LESS than active ones; a generator that cannot plant one refuses."""
    from pipelines.resources.lake import LocalLake

    a, b = LocalLake(tmp_path / "a"), LocalLake(tmp_path / "b")
    feed_synthetic(a, cfg, D(2026, 2, 1), D(2026, 2, 6), rows_per_day=3000, seed=2)
    feed_synthetic(b, cfg, D(2026, 2, 1), D(2026, 2, 6), rows_per_day=3000, seed=2, concept_shift_from=D(2026, 2, 4))
    for day in range(1, 7):
        key = f"raw/bankchurn/dt=2026-02-0{day}/part-0000.parquet"
        x, y = a.get_parquet(key), b.get_parquet(key)
        pd.testing.assert_frame_equal(x.drop(columns="Exited"), y.drop(columns="Exited"))
        assert (x.Exited == y.Exited).all() == (day < 4)
    late = pd.concat([b.get_parquet(f"raw/bankchurn/dt=2026-02-0{d}/part-0000.parquet") for d in (4, 5, 6)])
    assert late[late.IsActiveMember == 0].Exited.mean() < late[late.IsActiveMember == 1].Exited.mean()
    with pytest.raises(FeedError, match="cannot plant a concept shift"):
        feed_synthetic(a, load_project("telecom"), D(2026, 2, 1), D(2026, 2, 2), concept_shift_from=D(2026, 2, 1))
