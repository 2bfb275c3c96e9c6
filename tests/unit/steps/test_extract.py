from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from pipelines.config import load_project
from pipelines.contracts import layout
from pipelines.domain.rows import hash_test_mask, prepare, row_keys
from pipelines.steps.extract import EmptyWindowError, ExtractError, extract, load_snapshot

D = dt.date


def test_extract_reads_only_the_window_before_as_of(fed_lake, cfg):
    r = extract(fed_lake, cfg, D(2026, 1, 21), interval_start=D(2026, 1, 19), window_days=10)
    assert (r.window_start, r.window_end, r.partitions) == (D(2026, 1, 11), D(2026, 1, 20), 10)
    train, test, new = (load_snapshot(fed_lake, u) for u in (r.train_uri, r.test_uri, r.new_uri))
    # ids encode the day: nothing from the as-of day or later (no future rows).
    day_of = lambda ids: {(D(2000, 1, 1) + dt.timedelta(days=int(i // 1_000_000))) for i in ids}  # noqa: E731
    days = day_of(train.CustomerId) | day_of(test.CustomerId)
    assert min(days) == D(2026, 1, 11) and max(days) == D(2026, 1, 20)
    assert day_of(new.CustomerId) == {D(2026, 1, 19), D(2026, 1, 20)}
    assert r.train_rows + r.test_rows == r.rows
    assert set(train[layout.ROW_DATE]) <= {str(D(2026, 1, d)) for d in range(11, 21)}
    assert r.train_uri.startswith(fed_lake.uri(layout.run_prefix("bankchurn", D(2026, 1, 21), r.data_hash)))


def test_a_row_lands_on_the_same_side_in_every_run(fed_lake, cfg):
    """Moving windows overlap: the overlap's rows keep their side, so no test row of a later run was
    a training row of an earlier one."""
    a = extract(fed_lake, cfg, D(2026, 1, 21), window_days=14)
    b = extract(fed_lake, cfg, D(2026, 1, 29), window_days=14)
    a_train, b_test = load_snapshot(fed_lake, a.train_uri), load_snapshot(fed_lake, b.test_uri)
    a_test = load_snapshot(fed_lake, a.test_uri)
    overlap = set(a_train[layout.ROW_KEY]) | set(a_test[layout.ROW_KEY])
    assert set(b_test[layout.ROW_KEY]) & overlap  # the windows share days...
    assert not set(b_test[layout.ROW_KEY]) & set(a_train[layout.ROW_KEY])  # ...but no test row was trained on


def test_hash_split_keeps_fraction_and_class_balance():
    rng = np.random.default_rng(0)
    keys = pd.Series(rng.integers(0, 10**12, 20000)).astype(str)
    y = rng.random(20000) < 0.2
    test = hash_test_mask(keys, 0.2, 42)
    assert abs(test.mean() - 0.2) < 0.01
    assert abs(y[test].mean() - y[~test].mean()) < 0.02  # stratification within sampling noise
    assert (hash_test_mask(keys, 0.2, 42) == test).all() and not (hash_test_mask(keys, 0.2, 7) == test).all()


def test_rows_without_an_id_are_keyed_by_values_and_day():
    telecom = load_project("telecom")
    df = pd.DataFrame({"calls": [1.0, 1.0, 2.0], "minutes": [3.0, 3.0, 4.0], "messages": [0.0, 0.0, 1.0], "mb_used": [5.0, 5.0, 6.0],
                       "is_ultra": [0, 0, 1]})
    k1, k2 = row_keys(telecom, D(2026, 1, 1), df), row_keys(telecom, D(2026, 1, 2), df)
    assert k1[0] == k1[1] != k1[2] and k1[0].startswith("2026-01-01:") and k1[0] != k2[0]


def test_extract_is_deterministic_and_snapshots_are_immutable(fed_lake, cfg):
    a = extract(fed_lake, cfg, D(2026, 1, 25))
    b = extract(fed_lake, cfg, D(2026, 1, 25))
    assert a == b
    before = fed_lake.get_bytes(fed_lake.key_of(a.train_uri))
    # A late partition for a day inside the window: the same as-of date now has other data -> a new
    # snapshot under its own hash; the first one (which a model version may point at) is untouched.
    extra = fed_lake.get_parquet("raw/bankchurn/dt=2026-01-20/part-0000.parquet").head(5).assign(CustomerId=lambda d: d.CustomerId + 999)
    fed_lake.put_parquet("raw/bankchurn/dt=2026-01-20/part-0001.parquet", extra, overwrite=False)
    c = extract(fed_lake, cfg, D(2026, 1, 25))
    assert c.data_hash != a.data_hash and c.train_uri != a.train_uri and c.rows == a.rows + 5
    assert fed_lake.get_bytes(fed_lake.key_of(a.train_uri)) == before


def test_empty_window_is_a_clear_error(fed_lake, cfg):
    with pytest.raises(EmptyWindowError, match=r"no rows for bankchurn in the training window 2025-10-.*feed data first"):
        extract(fed_lake, cfg, D(2025, 12, 1))


def test_corrupt_partition_names_the_object(fed_lake, cfg):
    fed_lake.put_bytes("raw/bankchurn/dt=2026-01-15/part-0000.parquet", b"garbage", overwrite=True)
    with pytest.raises(ExtractError, match=r"dt=2026-01-15/part-0000\.parquet"):
        extract(fed_lake, cfg, D(2026, 1, 20))


def test_missing_column_in_one_partition_still_extracts_for_validation(fed_lake, cfg):
    df = fed_lake.get_parquet("raw/bankchurn/dt=2026-01-10/part-0000.parquet").drop(columns=["CreditScore"])
    fed_lake.put_parquet("raw/bankchurn/dt=2026-01-10/part-0000.parquet", df)
    r = extract(fed_lake, cfg, D(2026, 1, 12))
    assert load_snapshot(fed_lake, r.train_uri).CreditScore.isna().any()


def test_loanrisk_drops_unfinished_and_immature_loans_and_counts_them():
    cfg = load_project("loanrisk")
    df = pd.DataFrame({"loanStatus": ["Paid Off Loan", "Charged Off", "New Loan", "Withdrawn Application", "Paid Off Loan"],
                       "isFunded": [1, 1, 1, 0, 1],
                       "applicationDate": pd.to_datetime(["2026-01-01", "2026-01-02", "2026-01-03", "2026-01-04", "2026-02-25"])})
    kept, dropped = prepare(df, cfg, D(2026, 3, 1))
    assert kept.risky.tolist() == [0.0, 1.0]
    assert dropped["isFunded in [1]"] == 1 and dropped["risky missing (no final outcome)"] == 1
    assert dropped["applicationDate within 30 days of the as-of date (outcome not final yet)"] == 1


def test_the_comparison_set_reaches_back_over_older_test_side_rows_only(fed_lake, cfg):
    """comparison_days 25 with a 10-day window: the test set gains the test-side rows of 15 older days,
    none of which any run's training snapshot ever held; training rows stay in the window."""
    reach = cfg.model_copy(update={"training_window_days": 10, "split": cfg.split.model_copy(update={"comparison_days": 25})})
    plain = cfg.model_copy(update={"training_window_days": 10})
    r, p = extract(fed_lake, reach, D(2026, 1, 31)), extract(fed_lake, plain, D(2026, 1, 31))
    train, test = load_snapshot(fed_lake, r.train_uri), load_snapshot(fed_lake, r.test_uri)
    assert train.equals(load_snapshot(fed_lake, p.train_uri)) and r.train_rows == p.train_rows
    days = sorted(set(test[layout.ROW_DATE]))
    assert days[0] == "2026-01-06" and days[-1] == "2026-01-30" and r.test_rows > 2 * p.test_rows
    assert hash_test_mask(test[layout.ROW_KEY], cfg.split.test_fraction, cfg.split.seed).all()  # only the test side
    assert r.data_hash != p.data_hash  # the older partitions are part of what the run read
    for as_of in (D(2026, 1, 11), D(2026, 1, 17), D(2026, 1, 24)):  # every earlier run's training rows
        earlier = load_snapshot(fed_lake, extract(fed_lake, plain, as_of).train_uri)
        assert not set(earlier[layout.ROW_KEY]) & set(test[layout.ROW_KEY])
    same = cfg.model_copy(update={"training_window_days": 10, "split": cfg.split.model_copy(update={"comparison_days": 10})})
    assert extract(fed_lake, same, D(2026, 1, 31)).test_rows == p.test_rows  # not past the window: nothing added


def test_comparison_days_needs_the_hash_split():
    from pydantic import ValidationError

    from pipelines.config import SplitConfig

    with pytest.raises(ValidationError, match="comparison_days needs strategy 'hash'"):
        SplitConfig(strategy="time", time_column="t", comparison_days=90)
