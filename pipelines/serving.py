"""Prediction service: one FastAPI app serving every project's `champion`, following the alias.

* Routes per project (`/v1/<project>/predict`, `/predict_batch`, `/model`), each with a request
  model built from the project config and its GX suite (types, required fields, value sets and
  ranges; extra fields refused; NaN, Infinity and out-of-range numbers refused with 422 naming the
  field), so the OpenAPI spec documents every project precisely.
* Limits enforced while reading: the body is counted as it streams in (chunked bodies included)
  and cut off with 413 past the cap; a batch holds at most 1,000 records (in the schema).
* Metrics labelled by the matched route template only (an unknown path is `unmatched`), recorded
  after routing; every response counted, 4xx and 5xx included.
* A background poll re-resolves `@champion`; a new version is loaded (skops, the project's own
  allow-list: pickle and unknown types are refused) beside the old one and swapped by one
  reference assignment; a version that fails to load is logged and the old one keeps serving.
* Every prediction is buffered and appended to the lake under `predictions/<project>/dt=YYYY-MM-DD/`;
  a lake outage never fails a request (bounded buffer, drops counted in /metrics).
* A bearer token (`API_TOKEN`) is required on everything but /health and /ready, unless the server
  is started with `--insecure`, which only binds a loopback host.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import hmac
import io
import ipaddress
import json
import logging
import math
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Literal

import pandas as pd
from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse
from pydantic import BaseModel, ConfigDict, Field, create_model

from pipelines import layout, names
from pipelines.config import ProjectConfig, load_project, project_names
from pipelines.resources import Resources
from pipelines.settings import ServingSettings, Settings
from pipelines.storage import Lake

log = logging.getLogger("pipelines.serving")
BATCH_LIMIT = 1000
UNBOUNDED = 1e12  # numeric fields the suite gives no range: still finite and sane


class InsecureServingError(ValueError):
    pass


# ----------------------------------------------------------------------------- request models
def suite_constraints(cfg: ProjectConfig, expectations_dir: Any) -> dict[str, dict[str, Any]]:
    """Ranges, value sets and nullability per column, read from the project's GX suite JSON."""
    out: dict[str, dict[str, Any]] = {}
    suite = json.loads((expectations_dir / cfg.validation.suite).read_text())
    for e in suite.get("expectations", []):
        kw = e.get("kwargs", {})
        col = kw.get("column")
        if not col:
            continue
        c = out.setdefault(col, {})
        if e["type"] == "expect_column_values_to_be_between":
            c["ge"], c["le"] = kw.get("min_value"), kw.get("max_value")
        elif e["type"] == "expect_column_values_to_be_in_set" and "mostly" not in kw:
            c["values"] = kw.get("value_set")  # with `mostly` it is a share check, not the value set
        elif e["type"] == "expect_column_values_to_not_be_null":
            c["required"] = kw.get("mostly", 1.0) >= 1.0
    return out


def _numeric_field(col: str, c: dict[str, Any]) -> dict[str, Any]:
    values = c.get("values")
    if values and all(isinstance(v, (int, float)) for v in values):
        return {"ge": min(values), "le": max(values), "description": f"one of {values}"}
    ge = c.get("ge") if c.get("ge") is not None else -UNBOUNDED
    le = c.get("le") if c.get("le") is not None else UNBOUNDED
    return {"ge": ge, "le": le, "description": f"numeric feature {col} in [{ge}, {le}]"}


def record_model(cfg: ProjectConfig, expectations_dir: Any) -> type[BaseModel]:
    """A strict pydantic model of one input record for this project."""
    cons = suite_constraints(cfg, expectations_dir)
    fields: dict[str, Any] = {}
    for col in cfg.features:
        c = cons.get(col, {})
        if col in cfg.categorical_features:
            typ: Any = Literal[tuple(str(v) for v in c["values"])] if c.get("values") else str  # type: ignore[misc]
            kw: dict[str, Any] = {"description": f"categorical feature {col}", **({} if c.get("values") else {"max_length": 200})}
        else:
            typ, kw = float, _numeric_field(col, c)
        fields[col] = (typ, Field(**kw)) if c.get("required", False) else (typ | None, Field(None, **kw))
    for col in cfg.input_columns[len(cfg.features):]:  # raw inputs only feature engineering reads (e.g. a date)
        fields[col] = (str, Field(description=f"raw input {col} (used by feature engineering)", max_length=64))
    config = ConfigDict(extra="forbid", allow_inf_nan=False)
    return create_model(f"{cfg.name.title()}Record", __config__=config, **fields)  # type: ignore[call-overload, no-any-return]


def batch_model(cfg: ProjectConfig, record: type[BaseModel]) -> type[BaseModel]:
    return create_model(f"{cfg.name.title()}Batch", __config__=ConfigDict(extra="forbid"),  # type: ignore[call-overload, no-any-return]
                        records=(list[record], Field(min_length=1, max_length=BATCH_LIMIT,  # type: ignore[valid-type]
                                                     description=f"1 to {BATCH_LIMIT} records")))


class Prediction(BaseModel):
    project: str
    model_version: str
    request_id: str
    probability: float | None = None
    label: int | None = None
    class_label: str | None = None
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
        from pipelines.storage import LakeError

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


@dataclass
class Service:
    settings: ServingSettings
    configs: dict[str, ProjectConfig]
    res: Resources | None = None
    metrics: Metrics = field(default_factory=Metrics)
    slots: dict[str, ModelSlot] = field(default_factory=dict)
    predictions: PredictionLog | None = None

    def __post_init__(self) -> None:
        self.predictions = PredictionLog(self.metrics, self.settings.log_buffer)

    def refresh(self, project: str) -> str:
        """Re-resolve @champion; load a new version beside the old one, then swap. Never raises: the
        service keeps what it serves and says why (log + metric)."""
        assert self.res is not None
        current = self.slots.get(project)
        try:
            champ = self.res.registry.alias_version(project, names.CHAMPION)
            if champ is None:
                return "none"
            if current is not None and current.version == champ.version:
                return "unchanged"
            from pipelines.evaluate import model_threshold

            model = self.res.load_model(f"models:/{project}/{champ.version}")
            slot = ModelSlot(champ.version, model, model_threshold(model, champ.threshold), champ.tags, champ.run_id,
                             dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"))
        except Exception as e:  # a background poll must outlive any registry or artifact failure
            self.metrics.reloads.labels(project, "failed").inc()
            log.error("resolving/loading %s@champion failed, still serving %s: %s: %s", project,
                      f"v{current.version}" if current else "nothing", type(e).__name__, e)
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
            neg = cfg.negative_label or f"not {cfg.positive_label}"
            for p, label in zip(slot.model.predict_proba(X)[:, 1], slot.model.predict(X)):  # predict applies the model's threshold
                self.metrics.predicted.labels(project).observe(float(p))
                out.append(Prediction(project=project, model_version=slot.version, request_id=request_id, probability=round(float(p), 6),
                                      label=int(label), class_label=cfg.positive_label if int(label) else neg,
                                      risk_level=self.risk(float(p)), threshold=slot.threshold))  # type: ignore[arg-type]
        now = dt.datetime.now(dt.timezone.utc).isoformat()
        assert self.predictions is not None
        self.predictions.append(project, [{"timestamp": now, "request_id": request_id, "model_version": slot.version,
                                           "inputs": json.dumps(r, default=str), "probability": o.probability, "label": o.label,
                                           "prediction": o.prediction} for r, o in zip(records, out)])
        return slot, out


# ----------------------------------------------------------------------------- ASGI middleware
class Guard:
    """Pure ASGI middleware: reads the request body itself, up to the cap (Content-Length or chunked:
    it stops reading at cap + 1 bytes and answers 413), then hands the buffered body to the app; and
    records every response by route template and status after routing."""

    def __init__(self, app: Any, metrics: Metrics, max_body: int):
        self.app, self.metrics, self.max_body = app, metrics, max_body

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started, status = time.perf_counter(), {"code": 500}
        try:
            body = await self._read(scope, receive)
            if body is None:
                await self._reply(send, 413, f"request body over {self.max_body} bytes", status)
                return
            replayed = False

            async def replay() -> Any:
                nonlocal replayed
                if not replayed:
                    replayed = True
                    return {"type": "http.request", "body": body, "more_body": False}
                return await receive()  # after the body: only a disconnect can come

            async def tracking_send(msg: Any) -> None:
                if msg["type"] == "http.response.start":
                    status["code"] = msg["status"]
                await send(msg)

            await self.app(scope, replay, tracking_send)
        finally:
            self._record(scope, status["code"], started)

    async def _read(self, scope: dict[str, Any], receive: Any) -> bytes | None:
        """The whole body, or None when it exceeds the cap (declared or streamed)."""
        length = dict(scope.get("headers") or []).get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > self.max_body):
            return None
        chunks, seen = [], 0
        while True:
            msg = await receive()
            if msg["type"] != "http.request":
                break
            chunk = msg.get("body", b"")
            seen += len(chunk)
            if seen > self.max_body:
                return None
            chunks.append(chunk)
            if not msg.get("more_body", False):
                break
        return b"".join(chunks)

    @staticmethod
    async def _reply(send: Any, code: int, detail: str, status: dict[str, Any]) -> None:
        body = json.dumps({"detail": detail}).encode()
        await send({"type": "http.response.start", "status": code,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                                (b"connection", b"close")]})
        await send({"type": "http.response.body", "body": body})
        status["code"] = code

    def _record(self, scope: dict[str, Any], code: int, started: float) -> None:
        route = getattr(scope.get("route"), "path", None) or "unmatched"
        self.metrics.requests.labels(route, str(code)).inc()
        if code >= 400:
            self.metrics.errors.labels(route, str(code)).inc()
        self.metrics.latency.labels(route).observe(time.perf_counter() - started)


def _finite(v: Any) -> Any:
    """JSON-safe copy of a validation error's input (NaN/Infinity become strings)."""
    if isinstance(v, float) and not math.isfinite(v):
        return str(v)
    if isinstance(v, dict):
        return {k: _finite(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_finite(x) for x in v]
    return v


# ----------------------------------------------------------------------------- the app
def _lifespan(svc: Service, s: Settings) -> Any:
    sv = s.serving

    async def every(seconds: float, fn: Any) -> None:
        while True:
            await asyncio.sleep(seconds)
            await asyncio.to_thread(fn)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI):  # type: ignore[no-untyped-def]
        if svc.res is None:
            svc.res = Resources.from_settings(s)
        states = await asyncio.to_thread(svc.refresh_all)
        log.info("serving start: %s", states)
        tasks = [asyncio.create_task(every(sv.poll_seconds, svc.refresh_all)),
                 asyncio.create_task(every(sv.flush_seconds, lambda: svc.predictions.flush(svc.res.lake)))]  # type: ignore[union-attr]
        yield
        for t in tasks:
            t.cancel()
        await asyncio.to_thread(svc.predictions.flush, svc.res.lake)  # type: ignore[union-attr]

    return lifespan


def _ops_routes(app: FastAPI, svc: Service, authorize: Any) -> None:
    @app.get("/health", tags=["ops"])
    def health() -> dict[str, Any]:
        missing = [p for p in svc.configs if p not in svc.slots]
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


def _authorizer(token: str | None) -> Any:
    def authorize(request: Request) -> None:
        if token is None:
            return  # --insecure on a loopback host
        scheme, _, given = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(given.encode(), token.encode()):
            raise HTTPException(401, "missing or invalid bearer token", headers={"WWW-Authenticate": "Bearer"})

    return authorize


def request_id(request: Request) -> str:
    rid = request.headers.get("x-request-id", "")
    return rid if 0 < len(rid) <= 100 and rid.isprintable() else uuid.uuid4().hex


def create_app(settings: Settings | None = None, *, insecure: bool = False, res: Resources | None = None) -> FastAPI:
    s = settings or Settings.from_env()
    sv = s.serving
    if sv.api_token is None and not insecure:
        raise InsecureServingError("API_TOKEN is not set: the prediction API needs a bearer token. Set API_TOKEN, or start with "
                                   "--insecure for a local trial on a loopback host")
    configs = {p: load_project(p, s) for p in (sv.projects or project_names(s))}
    svc = Service(settings=sv, configs=configs, res=res)
    app = FastAPI(title="mlops prediction service", version="1.1", lifespan=_lifespan(svc, s),
                  description="Serves each project's MLflow `champion`; follows the alias without restarts.")
    app.state.service = svc

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [{**{k: v for k, v in e.items() if k != "ctx"}, "input": _finite(e.get("input"))} for e in exc.errors()]
        return JSONResponse({"detail": errors}, status_code=422)

    if sv.cors_origins:
        from fastapi.middleware.cors import CORSMiddleware

        app.add_middleware(CORSMiddleware, allow_origins=sv.cors_origins, allow_methods=["GET", "POST"],
                           allow_headers=["Authorization", "Content-Type", "X-Request-ID"])
    app.add_middleware(Guard, metrics=svc.metrics, max_body=sv.max_body_bytes)
    authorize = _authorizer(sv.api_token)
    _ops_routes(app, svc, authorize)
    for project, cfg in configs.items():
        _add_project_routes(app, svc, project, cfg, s, authorize, request_id)
    return app


def _add_project_routes(app: FastAPI, svc: Service, project: str, cfg: ProjectConfig, s: Settings, authorize: Any, request_id: Any) -> None:
    Record = record_model(cfg, s.expectations_dir)
    Batch = batch_model(cfg, Record)
    errors: dict[int | str, dict[str, Any]] = {401: {"description": "bad token"}, 413: {"description": "too large"},
                                               422: {"description": "invalid record"}, 503: {"description": "no model loaded"}}

    def predict(record: Record, rid: str = Depends(request_id)) -> Prediction:  # type: ignore[valid-type]
        return svc.predict(project, [record.model_dump()], rid)[1][0]  # type: ignore[attr-defined]

    def predict_batch(batch: Batch, rid: str = Depends(request_id)) -> BatchPrediction:  # type: ignore[valid-type]
        slot, out = svc.predict(project, [r.model_dump() for r in batch.records], rid)  # type: ignore[attr-defined]
        return BatchPrediction(project=project, model_version=slot.version, request_id=rid, count=len(out), predictions=out)

    def model_info() -> dict[str, Any]:
        slot = svc.slots.get(project)
        if slot is None:
            raise HTTPException(503, f"no model loaded for {project!r}")
        return {"project": project, "alias": names.CHAMPION, "version": slot.version, "loaded_at": slot.loaded_at,
                "as_of": slot.tags.get(names.AS_OF), "training_window": slot.tags.get(names.WINDOW), "threshold": slot.threshold,
                "family": slot.tags.get(names.FAMILY), "decision": slot.tags.get(names.DECISION),
                "decision_reason": slot.tags.get(names.DECISION_REASON)}

    # This module postpones annotations; the per-project models are locals, so bind them explicitly.
    predict.__annotations__["record"] = Record
    predict_batch.__annotations__["batch"] = Batch
    deps = [Depends(authorize)]
    app.post(f"/v1/{project}/predict", response_model=Prediction, tags=[project], dependencies=deps, responses=errors,
             summary=f"{project}: score one record")(predict)
    app.post(f"/v1/{project}/predict_batch", response_model=BatchPrediction, tags=[project], dependencies=deps, responses=errors,
             summary=f"{project}: score up to {BATCH_LIMIT} records")(predict_batch)
    app.get(f"/v1/{project}/model", tags=[project], dependencies=deps, responses=errors,
            summary=f"{project}: the served version, its window and decision")(model_info)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def serve(settings: Settings, host: str = "127.0.0.1", port: int = 8000, *, insecure: bool = False) -> None:
    import uvicorn

    if insecure and not is_loopback(host):
        raise InsecureServingError(f"--insecure serves without a token: refused on the non-loopback host {host!r}")
    if insecure:
        log.warning("serving WITHOUT authentication (--insecure) on %s:%d: local trials only", host, port)
    uvicorn.run(create_app(settings, insecure=insecure), host=host, port=port, log_level="info")
