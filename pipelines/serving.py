"""Prediction service: one FastAPI app serving every project's `champion`, following the alias.

* Routes per project (`/v1/<project>/predict`, `/predict_batch`, `/model`), each with a request
  model built from the project config and its GX suite (types, required fields, value sets and
  ranges; extra fields refused), so the OpenAPI spec documents every project precisely.
* A background poll re-resolves `models:/<project>@champion`; a new version is loaded beside the
  old one and swapped by one reference assignment, so requests in flight finish on the old model;
  a version that fails to load is logged and the old one keeps serving.
* Every prediction is buffered and appended to the lake under `predictions/<project>/dt=YYYY-MM-DD/`;
  a lake outage never fails a request (bounded buffer, drops counted in /metrics).
* `API_TOKEN` set: every endpoint but /health and /ready needs `Authorization: Bearer <token>`.

Configuration (environment): API_TOKEN, SERVING_PROJECTS (comma list; default all),
SERVING_POLL_SECONDS (30), SERVING_FLUSH_SECONDS (10), SERVING_LOG_BUFFER (10000),
SERVING_MAX_BODY_BYTES (2 MiB), SERVING_CORS_ORIGINS (comma list; default none = CORS off),
SERVING_RISK_BANDS ("0.3,0.7"): low < 0.3 <= medium < 0.7 <= high.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import hmac
import io
import json
import logging
import os
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Literal

import pandas as pd
from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse, PlainTextResponse
from pydantic import BaseModel, ConfigDict, Field, create_model

from pipelines import tracking
from pipelines.config import ProjectConfig, load_project, project_names
from pipelines.settings import get_settings
from pipelines.storage import Lake, open_lake

log = logging.getLogger("pipelines.serving")
BATCH_LIMIT = 1000


@dataclass(frozen=True)
class ServingSettings:
    projects: list[str]
    poll_seconds: float
    flush_seconds: float
    log_buffer: int
    max_body_bytes: int
    cors_origins: list[str]
    api_token: str | None
    risk_bands: tuple[float, float]

    @classmethod
    def from_env(cls) -> ServingSettings:
        env = os.environ
        bands = tuple(float(x) for x in env.get("SERVING_RISK_BANDS", "0.3,0.7").split(","))
        if len(bands) != 2 or not 0 < bands[0] < bands[1] < 1:
            raise ValueError(f"SERVING_RISK_BANDS must be 'low,high' with 0 < low < high < 1, got {bands}")
        projects = [p.strip() for p in env.get("SERVING_PROJECTS", "").split(",") if p.strip()] or project_names()
        return cls(
            projects=projects,
            poll_seconds=float(env.get("SERVING_POLL_SECONDS", "30")),
            flush_seconds=float(env.get("SERVING_FLUSH_SECONDS", "10")),
            log_buffer=int(env.get("SERVING_LOG_BUFFER", "10000")),
            max_body_bytes=int(env.get("SERVING_MAX_BODY_BYTES", str(2 * 1024 * 1024))),
            cors_origins=[o.strip() for o in env.get("SERVING_CORS_ORIGINS", "").split(",") if o.strip()],
            api_token=env.get("API_TOKEN") or None,
            risk_bands=(bands[0], bands[1]),
        )


# ----------------------------------------------------------------------------- request models
def _suite_constraints(cfg: ProjectConfig) -> dict[str, dict[str, Any]]:
    """Ranges, value sets and nullability per column, read from the project's GX suite JSON."""
    out: dict[str, dict[str, Any]] = {}
    path = get_settings().expectations_dir / cfg.validation.suite
    try:
        suite = json.loads(path.read_text())
    except (OSError, ValueError):
        return out
    for e in suite.get("expectations", []):
        kw = e.get("kwargs", {})
        col = kw.get("column")
        if not col:
            continue
        c = out.setdefault(col, {})
        if e["type"] == "expect_column_values_to_be_between":
            c["ge"], c["le"] = kw.get("min_value"), kw.get("max_value")
        elif e["type"] == "expect_column_values_to_be_in_set":
            c["values"] = kw.get("value_set")
        elif e["type"] == "expect_column_values_to_not_be_null":
            c["required"] = kw.get("mostly", 1.0) >= 1.0
    return out


def record_model(cfg: ProjectConfig) -> type[BaseModel]:
    """A strict pydantic model of one input record for this project."""
    cons = _suite_constraints(cfg)
    fields: dict[str, Any] = {}
    for col in cfg.features:
        c = cons.get(col, {})
        required = c.get("required", False)  # required only where the suite demands non-null values
        kw: dict[str, Any]
        if col in cfg.categorical_features:
            typ: Any = Literal[tuple(str(v) for v in c["values"])] if c.get("values") else str  # type: ignore[misc]
            kw = {"description": f"categorical feature {col}"}
        else:
            typ, values = float, c.get("values")
            if values and all(isinstance(v, (int, float)) for v in values):
                kw = {"ge": min(values), "le": max(values), "description": f"one of {values}"}
            else:
                kw = {"ge": c.get("ge"), "le": c.get("le"), "description": f"numeric feature {col}"}
        fields[col] = (typ, Field(**kw)) if required else (typ | None, Field(None, **kw))
    for col in cfg.input_columns[len(cfg.features):]:  # raw inputs only feature engineering reads (e.g. a date)
        fields[col] = (str, Field(description=f"raw input {col} (used by feature engineering)", max_length=64))
    return create_model(f"{cfg.name.title()}Record", __config__=ConfigDict(extra="forbid"), **fields)  # type: ignore[call-overload]


def batch_model(cfg: ProjectConfig, record: type[BaseModel]) -> type[BaseModel]:
    return create_model(f"{cfg.name.title()}Batch", __config__=ConfigDict(extra="forbid"),
                        records=(list[record], Field(min_length=1, description=f"at most {BATCH_LIMIT} records")))  # type: ignore[valid-type]


class Prediction(BaseModel):
    project: str
    model_version: str
    request_id: str
    probability: float | None = None
    label: int | None = None
    risk_level: Literal["low", "medium", "high"] | None = None
    threshold: float | None = None
    prediction: float | None = None


class BatchPrediction(BaseModel):
    project: str
    model_version: str
    request_id: str
    count: int
    predictions: list[Prediction]


# ----------------------------------------------------------------------------- model slots
@dataclass(frozen=True)
class ModelSlot:
    version: str
    model: Any
    threshold: float | None
    tags: dict[str, str]
    run_id: str
    loaded_at: str


class Metrics:
    def __init__(self) -> None:
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

        self.registry = CollectorRegistry()
        self.requests = Counter("serving_requests_total", "Requests by project, endpoint and status", ["project", "endpoint", "status"],
                                registry=self.registry)
        self.errors = Counter("serving_errors_total", "Error responses (status >= 400)", ["project", "endpoint", "status"],
                              registry=self.registry)
        self.latency = Histogram("serving_request_latency_seconds", "Request latency", ["project", "endpoint"], registry=self.registry,
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
        written = 0
        for project in list(self.buffers):
            with self.lock:
                rows = list(self.buffers[project])
            if not rows:
                continue
            try:
                if lake is None:
                    raise RuntimeError("lake not available")
                df = pd.DataFrame(rows)
                for day, part in df.groupby(df["timestamp"].str[:10]):
                    buf = io.BytesIO()
                    part.to_parquet(buf, index=False)
                    key = f"predictions/{project}/dt={day}/part-{int(time.time() * 1000)}-{uuid.uuid4().hex[:8]}.parquet"
                    lake.put_bytes(key, buf.getvalue(), overwrite=False)
            except Exception as e:  # keep the rows for the next flush (bounded by capacity)
                log.warning("prediction log flush for %s failed (%d rows kept): %s", project, len(rows), e)
                continue
            with self.lock:
                for _ in range(len(rows)):
                    self.buffers[project].popleft()
            self.metrics.log_written.labels(project).inc(len(rows))
            written += len(rows)
        return written


@dataclass
class Service:
    settings: ServingSettings
    configs: dict[str, ProjectConfig]
    metrics: Metrics = field(default_factory=Metrics)
    slots: dict[str, ModelSlot] = field(default_factory=dict)
    lake: Lake | None = None
    predictions: PredictionLog | None = None

    def __post_init__(self) -> None:
        self.predictions = PredictionLog(self.metrics, self.settings.log_buffer)

    def refresh(self, project: str) -> str:
        """Re-resolve @champion; load a new version beside the old one, then swap. Never raises."""
        try:
            champ = tracking.alias_version(project, tracking.CHAMPION)
        except Exception as e:
            log.warning("cannot resolve %s@champion: %s", project, e)
            return "error"
        current = self.slots.get(project)
        if champ is None:
            return "none"
        if current is not None and current.version == champ.version:
            return "unchanged"
        try:
            model = tracking.load_model(f"models:/{project}/{champ.version}")
            slot = ModelSlot(champ.version, model, tracking.threshold_of(champ.tags), champ.tags, champ.run_id,
                             dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"))
        except Exception as e:
            self.metrics.reloads.labels(project, "failed").inc()
            log.error("loading %s v%s failed, still serving v%s: %s", project, champ.version, current.version if current else "-", e)
            return "failed"
        self.slots[project] = slot  # one reference assignment: atomic for readers
        if current is not None:
            self.metrics.model_info.labels(project, current.version).set(0)
        self.metrics.model_info.labels(project, slot.version).set(1)
        self.metrics.reloads.labels(project, "loaded").inc()
        log.info("serving %s v%s (was %s)", project, slot.version, f"v{current.version}" if current else "none")
        return "loaded"

    def refresh_all(self) -> dict[str, str]:
        return {p: self.refresh(p) for p in self.configs}

    def risk(self, p: float) -> str:
        lo, hi = self.settings.risk_bands
        return "low" if p < lo else "medium" if p < hi else "high"

    def predict(self, project: str, records: list[dict[str, Any]], request_id: str) -> tuple[ModelSlot, list[Prediction]]:
        slot = self.slots.get(project)  # taken once: a swap mid-request does not affect this request
        if slot is None:
            raise HTTPException(503, f"no model loaded for {project!r} (no champion yet, or it failed to load)")
        cfg = self.configs[project]
        X = pd.DataFrame.from_records(records, columns=cfg.input_columns)
        for col in cfg.numeric_features:
            X[col] = pd.to_numeric(X[col], errors="coerce")
        out = []
        if cfg.regression:
            for v in slot.model.predict(X):
                self.metrics.predicted.labels(project).observe(float(v))
                out.append(Prediction(project=project, model_version=slot.version, request_id=request_id, prediction=round(float(v), 4)))
        else:
            thr = 0.5 if slot.threshold is None else slot.threshold
            for p in slot.model.predict_proba(X)[:, 1]:
                self.metrics.predicted.labels(project).observe(float(p))
                out.append(Prediction(project=project, model_version=slot.version, request_id=request_id, probability=round(float(p), 6),
                                      label=int(p >= thr), risk_level=self.risk(float(p)), threshold=thr))  # type: ignore[arg-type]
        now = dt.datetime.now(dt.timezone.utc).isoformat()
        assert self.predictions is not None
        self.predictions.append(project, [{"timestamp": now, "request_id": request_id, "model_version": slot.version,
                                           "inputs": json.dumps(r, default=str), "probability": o.probability, "label": o.label,
                                           "prediction": o.prediction}
                                          for r, o in zip(records, out)])
        return slot, out


# ----------------------------------------------------------------------------- the app
def create_app(settings: ServingSettings | None = None) -> FastAPI:
    s = settings or ServingSettings.from_env()
    configs = {p: load_project(p) for p in s.projects}
    svc = Service(settings=s, configs=configs)

    async def poll() -> None:
        while True:
            await asyncio.sleep(s.poll_seconds)
            await asyncio.to_thread(svc.refresh_all)

    async def flush() -> None:
        while True:
            await asyncio.sleep(s.flush_seconds)
            await asyncio.to_thread(svc.predictions.flush, svc.lake)  # type: ignore[union-attr]

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI):  # type: ignore[no-untyped-def]
        try:
            svc.lake = open_lake()
        except Exception as e:
            log.error("lake unavailable, predictions will be buffered: %s", e)
        states = await asyncio.to_thread(svc.refresh_all)
        log.info("serving start: %s", states)
        tasks = [asyncio.create_task(poll()), asyncio.create_task(flush())]
        yield
        for t in tasks:
            t.cancel()
        await asyncio.to_thread(svc.predictions.flush, svc.lake)  # type: ignore[union-attr]

    app = FastAPI(title="mlops prediction service", version="1.0",
                  description="Serves each project's MLflow `champion`; follows the alias without restarts.", lifespan=lifespan)
    app.state.service = svc

    if s.cors_origins:
        from fastapi.middleware.cors import CORSMiddleware

        app.add_middleware(CORSMiddleware, allow_origins=s.cors_origins, allow_methods=["GET", "POST"],
                           allow_headers=["Authorization", "Content-Type", "X-Request-ID"])

    @app.middleware("http")
    async def observe(request: Request, call_next: Any) -> Any:
        started = time.perf_counter()
        length = request.headers.get("content-length")
        if length is not None and length.isdigit() and int(length) > s.max_body_bytes:
            response: Any = JSONResponse({"detail": f"request body over {s.max_body_bytes} bytes"}, status_code=413)
        else:
            response = await call_next(request)
        parts = request.url.path.strip("/").split("/")
        project = parts[1] if len(parts) >= 3 and parts[0] == "v1" and parts[1] in configs else "-"
        endpoint = parts[-1] if parts and parts[-1] else "root"
        status = str(response.status_code)
        svc.metrics.requests.labels(project, endpoint, status).inc()
        if response.status_code >= 400:
            svc.metrics.errors.labels(project, endpoint, status).inc()
        svc.metrics.latency.labels(project, endpoint).observe(time.perf_counter() - started)
        return response

    def authorize(request: Request) -> None:
        if s.api_token is None:
            return
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(token.encode(), s.api_token.encode()):
            raise HTTPException(401, "missing or invalid bearer token", headers={"WWW-Authenticate": "Bearer"})

    def request_id(request: Request) -> str:
        rid = request.headers.get("x-request-id", "")
        return rid if 0 < len(rid) <= 100 else uuid.uuid4().hex

    @app.get("/health", tags=["ops"])
    def health() -> dict[str, Any]:
        missing = [p for p in configs if p not in svc.slots]
        return {"status": "degraded" if missing else "ok", "missing_models": missing,
                "serving": {p: slot.version for p, slot in svc.slots.items()}}

    @app.get("/ready", tags=["ops"], responses={503: {"description": "no model loaded yet"}})
    def ready() -> JSONResponse:
        ok = bool(svc.slots)
        return JSONResponse({"ready": ok, "serving": {p: slot.version for p, slot in svc.slots.items()}}, status_code=200 if ok else 503)

    @app.get("/metrics", tags=["ops"], response_class=PlainTextResponse, dependencies=[Depends(authorize)])
    def metrics() -> PlainTextResponse:
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

        return PlainTextResponse(generate_latest(svc.metrics.registry), media_type=CONTENT_TYPE_LATEST)

    for project, cfg in configs.items():
        _add_project_routes(app, svc, project, cfg, authorize, request_id)

    @app.api_route("/v1/{project}/{endpoint}", methods=["GET", "POST"], include_in_schema=False, dependencies=[Depends(authorize)])
    def unknown(project: str, endpoint: str) -> None:
        if project not in configs:
            raise HTTPException(404, f"unknown project {project!r}; served: {sorted(configs)}")
        raise HTTPException(404, f"unknown endpoint {endpoint!r} for {project}")

    return app


def _add_project_routes(app: FastAPI, svc: Service, project: str, cfg: ProjectConfig, authorize: Any, request_id: Any) -> None:
    Record = record_model(cfg)
    Batch = batch_model(cfg, Record)
    errors: dict[int | str, dict[str, Any]] = {401: {"description": "bad token"}, 413: {"description": "too large"}, 422: {"description": "invalid record"},
              503: {"description": "no model loaded"}}

    def predict(record: Record, rid: str = Depends(request_id)) -> Prediction:  # type: ignore[valid-type]
        _, out = svc.predict(project, [record.model_dump()], rid)  # type: ignore[attr-defined]
        return out[0]

    def predict_batch(batch: Batch, rid: str = Depends(request_id)) -> BatchPrediction:  # type: ignore[valid-type]
        records = batch.records  # type: ignore[attr-defined]
        if len(records) > BATCH_LIMIT:
            raise HTTPException(413, f"batch of {len(records)} records exceeds the limit of {BATCH_LIMIT}")
        slot, out = svc.predict(project, [r.model_dump() for r in records], rid)
        return BatchPrediction(project=project, model_version=slot.version, request_id=rid, count=len(out), predictions=out)

    def model_info() -> dict[str, Any]:
        slot = svc.slots.get(project)
        if slot is None:
            raise HTTPException(503, f"no model loaded for {project!r}")
        metrics: dict[str, Any] = {}
        with contextlib.suppress(Exception):
            m = tracking.run_info(slot.run_id)["metrics"]
            metrics = {k: m.get(f"test_{k}") for k in (cfg.primary_metric, "pr_auc", "f1", "accuracy", "recall", "precision")}
        return {"project": project, "alias": tracking.CHAMPION, "version": slot.version, "loaded_at": slot.loaded_at,
                "as_of": slot.tags.get("as_of"), "training_window": slot.tags.get("window"), "threshold": slot.threshold,
                "family": slot.tags.get("family"), "decision": slot.tags.get("decision"),
                "decision_reason": slot.tags.get("decision_reason"), "metrics": metrics}

    # This module postpones annotations; the per-project models are locals, so bind them explicitly.
    predict.__annotations__["record"] = Record
    predict_batch.__annotations__["batch"] = Batch
    deps = [Depends(authorize)]
    app.post(f"/v1/{project}/predict", response_model=Prediction, tags=[project], dependencies=deps, responses=errors,
             summary=f"{project}: score one record")(predict)
    app.post(f"/v1/{project}/predict_batch", response_model=BatchPrediction, tags=[project], dependencies=deps, responses=errors,
             summary=f"{project}: score up to {BATCH_LIMIT} records")(predict_batch)
    app.get(f"/v1/{project}/model", tags=[project], dependencies=deps, responses=errors,
            summary=f"{project}: the served version, its window, metrics and decision")(model_info)


def serve(host: str = "127.0.0.1", port: int = 8000) -> None:
    import uvicorn

    uvicorn.run(create_app(), host=host, port=port, log_level="info")
