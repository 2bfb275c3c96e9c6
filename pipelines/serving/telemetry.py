"""What the service records: Prometheus metrics (labelled by the matched route template only; an
unknown path is `unmatched`; rollout arms by project, arm and version) and the prediction log, a
bounded in-memory buffer of column chunks appended to the lake under
`predictions/<project>/dt=YYYY-MM-DD/`; a lake outage never fails a request (drops counted).
"""

from __future__ import annotations

import io
import logging
import threading
import time
import uuid
from typing import Any

import numpy as np
import pandas as pd

from pipelines.contracts import layout
from pipelines.resources.lake import Lake

log = logging.getLogger("pipelines.serving")


class Metrics:
    def __init__(self) -> None:
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

        self.registry = CollectorRegistry()
        self.requests = Counter("serving_requests_total", "Responses by route template and status", ["route", "status"], registry=self.registry)
        self.errors = Counter("serving_errors_total", "Responses with status >= 400", ["route", "status"], registry=self.registry)
        self.latency = Histogram("serving_request_latency_seconds", "Request latency", ["route"], registry=self.registry,
                                 buckets=(0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5))
        self.predicted = Histogram("serving_predicted_value", "Predicted probability (or value) per project", ["project"],
                                   registry=self.registry, buckets=tuple(i / 10 for i in range(1, 11)))
        self.model_info = Gauge("serving_model_info", "1 for the version being served", ["project", "version"], registry=self.registry)
        self.reloads = Counter("serving_model_reloads_total", "Champion (re)loads by result", ["project", "result"], registry=self.registry)
        self.log_dropped = Counter("serving_prediction_log_dropped_total", "Prediction log records dropped (buffer full)", ["project"],
                                   registry=self.registry)
        self.arm_records = Counter("serving_arm_records_total", "Records scored per rollout arm (champion, challenger, shadow)",
                                   ["project", "arm", "version"], registry=self.registry)
        self.arm_latency = Histogram("serving_arm_model_seconds", "Model call latency per rollout arm", ["project", "arm"],
                                     registry=self.registry, buckets=(0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 1.0))
        self.arm_errors = Counter("serving_arm_errors_total", "Challenger calls that failed (the champion answered instead)",
                                  ["project", "arm"], registry=self.registry)
        self.log_written = Counter("serving_prediction_log_written_total", "Prediction log records written to the lake", ["project"],
                                   registry=self.registry)


class PredictionLog:
    """Bounded in-memory buffer of column chunks (one per request and arm), flushed to the lake as one
    parquet file per project and day; never blocks or fails a request. A chunk is a dict of equal-length
    columns; flushing concatenates each column once (1,000 single-record chunks in milliseconds, where
    a DataFrame per chunk cost a pandas concat). One flush at a time: a second one (the timer and the
    shutdown) returns at once instead of writing the same rows twice."""

    def __init__(self, metrics: Metrics, capacity: int):
        self.metrics, self.capacity = metrics, capacity
        self.chunks: dict[str, list[dict[str, Any]]] = {}
        self.rows: dict[str, int] = {}
        self.lock = threading.Lock()
        self.flushing = threading.Lock()

    def append(self, project: str, chunk: dict[str, Any], n: int) -> None:
        with self.lock:
            have = self.rows.get(project, 0)
            room = max(self.capacity - have, 0)
            if room < n:
                self.metrics.log_dropped.labels(project).inc(n - room)
                if room == 0:
                    return
                chunk = {k: v[:room] for k, v in chunk.items()}
                n = room
            self.chunks.setdefault(project, []).append(chunk)
            self.rows[project] = have + n

    def pending(self, project: str) -> int:
        with self.lock:
            return self.rows.get(project, 0)

    @staticmethod
    def frame(chunks: list[dict[str, Any]]) -> pd.DataFrame:
        cols = list(chunks[0])
        out = {}
        for c in cols:
            parts = [np.asarray(ch[c], dtype=object) if not isinstance(ch[c], np.ndarray) else ch[c] for ch in chunks]
            out[c] = np.concatenate(parts) if len(parts) > 1 else parts[0]
        return pd.DataFrame(out)

    def flush(self, lake: Lake | None) -> int:
        from pipelines.resources.lake import LakeError

        if not self.flushing.acquire(blocking=False):
            return 0
        try:
            written = 0
            for project in list(self.chunks):
                with self.lock:
                    taken = list(self.chunks[project])
                if not taken:
                    continue
                n = 0
                try:
                    if lake is None:
                        raise LakeError("lake not available")
                    df = self.frame(taken)
                    n = len(df)
                    for day, part in df.groupby(df["timestamp"].str[:10]):
                        buf = io.BytesIO()
                        part.to_parquet(buf, index=False)
                        lake.put_bytes(layout.prediction_key(project, str(day), f"{int(time.time() * 1000)}-{uuid.uuid4().hex[:8]}"),
                                       buf.getvalue(), overwrite=False)
                except (LakeError, OSError) as e:  # keep the rows for the next flush (bounded by capacity)
                    log.warning("prediction log flush for %s failed (%d chunks kept): %s", project, len(taken), e)
                    continue
                with self.lock:  # only this flush removes chunks: the first len(taken) are the ones written
                    del self.chunks[project][: len(taken)]
                    self.rows[project] -= n
                self.metrics.log_written.labels(project).inc(n)
                written += n
            return written
        finally:
            self.flushing.release()
