"""The prediction log: bounded, chunks concatenated once, and two flushes at once (the timer and the
shutdown) never write a row twice or lose one."""

from __future__ import annotations

import io
import threading
import time

import numpy as np
import pandas as pd

from pipelines.resources.lake import LocalLake
from pipelines.serving.telemetry import Metrics, PredictionLog


def chunk(i: int, n: int = 1) -> dict:
    return {"timestamp": np.full(n, "2026-12-04T10:00:00", dtype=object), "request_id": np.full(n, f"r{i}", dtype=object),
            "probability": np.linspace(0, 1, n), "input.Geography": np.full(n, "Spain", dtype=object)}


class SlowLake(LocalLake):
    def put_bytes(self, key, data, overwrite=True):  # a slow store widens the race window
        time.sleep(0.2)
        return super().put_bytes(key, data, overwrite=overwrite)


def test_two_concurrent_flushes_write_each_row_once(tmp_path):
    lake = SlowLake(tmp_path / "lake")
    log = PredictionLog(Metrics(), capacity=10_000)
    for i in range(1000):
        log.append("bankchurn", chunk(i), 1)
    results = []
    threads = [threading.Thread(target=lambda: results.append(log.flush(lake))) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    log.append("bankchurn", chunk(1000, 5), 5)
    results.append(log.flush(lake))
    keys = lake.list("predictions/bankchurn/")
    df = pd.concat([pd.read_parquet(io.BytesIO(lake.get_bytes(k))) for k in keys])
    assert sorted(results) == [0, 5, 1000] and len(df) == 1005 and df["request_id"].nunique() == 1001
    assert log.pending("bankchurn") == 0 and list(df.columns) == ["timestamp", "request_id", "probability", "input.Geography"]


def test_the_buffer_is_bounded_and_counts_what_it_drops(tmp_path):
    m = Metrics()
    log = PredictionLog(m, capacity=10)
    log.append("p", chunk(0, 8), 8)
    log.append("p", chunk(1, 5), 5)  # 2 fit, 3 dropped
    log.append("p", chunk(2, 1), 1)  # full: dropped
    assert log.pending("p") == 10
    assert m.log_dropped.labels("p")._value.get() == 4
    assert len(PredictionLog.frame(log.chunks["p"])) == 10


def test_a_thousand_single_record_chunks_flush_fast(tmp_path):
    log = PredictionLog(Metrics(), capacity=100_000)
    for i in range(1000):
        log.append("p", chunk(i), 1)
    started = time.perf_counter()
    assert log.flush(LocalLake(tmp_path / "lake")) == 1000
    assert time.perf_counter() - started < 2.0
