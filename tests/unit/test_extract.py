from __future__ import annotations

import datetime as dt

import pytest

from pipelines.extract import EmptyWindowError, ExtractError, extract, load_extract

D = dt.date


def test_extract_reads_only_the_window_before_as_of(fed_lake, cfg):
    r = extract(fed_lake, cfg, D(2026, 1, 21), interval_start=D(2026, 1, 19), window_days=10)
    assert (r.window_start, r.window_end, r.partitions) == ("2026-01-11", "2026-01-20", 10)
    train = fed_lake.get_parquet(fed_lake.key_of(r.train_uri))
    test = fed_lake.get_parquet(fed_lake.key_of(r.test_uri))
    new = fed_lake.get_parquet(fed_lake.key_of(r.new_uri))
    # ids encode the day: nothing from the as-of day or later (no future rows).
    day_of = lambda ids: {(D(2000, 1, 1) + dt.timedelta(days=int(i // 1_000_000))) for i in ids}  # noqa: E731
    days = day_of(train.CustomerId) | day_of(test.CustomerId)
    assert min(days) == D(2026, 1, 11) and max(days) == D(2026, 1, 20)
    assert day_of(new.CustomerId) == {D(2026, 1, 19), D(2026, 1, 20)}
    assert r.train_rows + r.test_rows == r.rows and abs(r.test_rows / r.rows - 0.2) < 0.01
    assert abs(train.Exited.mean() - test.Exited.mean()) < 0.03  # stratified
    assert load_extract(fed_lake, cfg, D(2026, 1, 21)) == r


def test_extract_is_deterministic(fed_lake, cfg):
    a = extract(fed_lake, cfg, D(2026, 1, 25))
    b = extract(fed_lake, cfg, D(2026, 1, 25))
    assert a.data_hash == b.data_hash and a.train_rows == b.train_rows
    c = extract(fed_lake, cfg, D(2026, 1, 27))
    assert c.data_hash != a.data_hash


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
    train = fed_lake.get_parquet(fed_lake.key_of(r.train_uri))
    assert train.CreditScore.isna().any()
