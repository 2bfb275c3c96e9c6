"""What the service records: Prometheus metrics (labelled by the matched route template only; an
unknown path is `unmatched`) and the prediction log, a bounded in-memory buffer appended to the lake
under `predictions/<project>/dt=YYYY-MM-DD/`; a lake outage never fails a request (drops counted).
"""

from __future__ import annotations

import io
import logging
import threading
import time
import uuid
from collections import deque
from typing import Any

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
        self.log_written = Counter("serving_prediction_log_written_total", "Prediction log records written to the lake", ["project"],
                                   registry=self.registry)


class PredictionLog:
    """Bounded in-memory buffer flushed to the lake; never blocks or fails a request."""

    def __init__(self, metrics: Metrics, capacity: int):
        self.metrics, self.capacity = metrics, capacity
        self.buffers: dict[str, deque[dict[str, Any]]] = {}
        self.lock = threading.Lock()

    def append(self, project: str, rows: list[dict[str, Any]]) -> None:
        with self.lock:
            buf = self.buffers.setdefault(project, deque())
            room = self.capacity - len(buf)
            if room < len(rows):
                self.metrics.log_dropped.labels(project).inc(len(rows) - max(room, 0))
                rows = rows[: max(room, 0)]
            buf.extend(rows)

    def flush(self, lake: Lake | None) -> int:
        from pipelines.resources.lake import LakeError

        written = 0
        for project in list(self.buffers):
            with self.lock:
                rows = list(self.buffers[project])
            if not rows:
                continue
            try:
                if lake is None:
                    raise LakeError("lake not available")
                df = pd.DataFrame(rows)
                for day, part in df.groupby(df["timestamp"].str[:10]):
                    buf = io.BytesIO()
                    part.to_parquet(buf, index=False)
                    lake.put_bytes(layout.prediction_key(project, str(day), f"{int(time.time() * 1000)}-{uuid.uuid4().hex[:8]}"),
                                   buf.getvalue(), overwrite=False)
            except (LakeError, OSError) as e:  # keep the rows for the next flush (bounded by capacity)
                log.warning("prediction log flush for %s failed (%d rows kept): %s", project, len(rows), e)
                continue
            with self.lock:
                for _ in range(len(rows)):
                    self.buffers[project].popleft()
            self.metrics.log_written.labels(project).inc(len(rows))
            written += len(rows)
        return written
