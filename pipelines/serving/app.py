"""The FastAPI app: routes per project (`/v1/<project>/predict`, `/predict_batch`, `/model`), ops routes
(`/health`, `/ready`, `/metrics`), bearer-token auth on everything but /health and /ready (unless
`--insecure`, which only binds a loopback host), and the background poll and flush.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import ipaddress
import json
import logging
import uuid
from typing import Any

import orjson
from fastapi import BackgroundTasks, Depends, FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse, Response

from pipelines.config import ProjectConfig, load_project, project_names
from pipelines.config.settings import Settings
from pipelines.contracts import names
from pipelines.resources import Resources
from pipelines.serving.guard import Guard, finite_json
from pipelines.serving.columnar import BatchInvalid, BatchValidator
from pipelines.serving.schema import BATCH_LIMIT, UNBOUNDED, BatchPrediction, Prediction, record_model, request_schemas, suite_constraints
from pipelines.serving.service import Service

log = logging.getLogger("pipelines.serving")


class InsecureServingError(ValueError):
    pass


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
        errors = [{**{k: v for k, v in e.items() if k != "ctx"}, "input": finite_json(e.get("input"))} for e in exc.errors()]
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


def parse_json(body: bytes) -> Any:
    """orjson for speed; a body it refuses (NaN/Infinity literals, numbers beyond float64) is parsed by
    the standard library so the validator can name the field, instead of a bare 'invalid JSON'."""
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        try:
            return json.loads(body)
        except (ValueError, RecursionError) as e:
            raise BatchInvalid([{"type": "json_invalid", "loc": ["body"], "msg": f"JSON decode error: {str(e)[:200]}", "input": None}]) from e


def batch_records(body: Any) -> list[Any]:
    if not isinstance(body, dict):
        raise BatchInvalid([{"type": "model_attributes_type", "loc": ["body"], "msg": "Input should be an object", "input": None}])
    extra = sorted(str(k) for k in body if k != "records")
    if extra:
        raise BatchInvalid([{"type": "extra_forbidden", "loc": ["body", k], "msg": "Extra inputs are not permitted", "input": None}
                            for k in extra[:10]])
    records = body.get("records")
    if not isinstance(records, list):
        raise BatchInvalid([{"type": "list_type" if "records" in body else "missing", "loc": ["body", "records"],
                             "msg": "Input should be a valid list" if "records" in body else "Field required", "input": None}])
    if not 1 <= len(records) <= BATCH_LIMIT:
        raise BatchInvalid([{"type": "too_long" if records else "too_short", "loc": ["body", "records"],
                             "msg": f"records should have 1 to {BATCH_LIMIT} items, not {len(records)}", "input": None}])
    return records


def _json(payload: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(payload), status_code=status, media_type="application/json")


def _add_project_routes(app: FastAPI, svc: Service, project: str, cfg: ProjectConfig, s: Settings, authorize: Any, request_id: Any) -> None:
    Record = record_model(cfg, s.expectations_dir)
    one_schema, batch_schema = request_schemas(Record)
    svc.validators[project] = BatchValidator(cfg, suite_constraints(cfg, s.expectations_dir), unbounded=UNBOUNDED)
    errors: dict[int | str, dict[str, Any]] = {401: {"description": "bad token"}, 413: {"description": "too large"},
                                               422: {"description": "invalid record: each error names row, field, value and rule"},
                                               503: {"description": "no model loaded"}}

    def body_of(schema: dict[str, Any]) -> dict[str, Any]:
        return {"requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}}

    async def predict(request: Request, tasks: BackgroundTasks, rid: str = Depends(request_id)) -> Response:
        try:
            _, out, after = svc.predict(project, [parse_json(await request.body())], rid, ("body",))
        except BatchInvalid as e:
            return _json({"detail": e.errors, "error_count": e.total}, 422)
        tasks.add_task(after)
        return _json(out[0])

    async def predict_batch(request: Request, tasks: BackgroundTasks, rid: str = Depends(request_id)) -> Response:
        try:
            slot, out, after = svc.predict(project, batch_records(parse_json(await request.body())), rid, ("body", "records"))
        except BatchInvalid as e:
            return _json({"detail": e.errors, "error_count": e.total}, 422)
        tasks.add_task(after)
        return _json({"project": project, "model_version": slot.version, "request_id": rid, "count": len(out), "predictions": out})

    def model_info() -> dict[str, Any]:
        slot = svc.slots.get(project)
        if slot is None:
            raise HTTPException(503, f"no model loaded for {project!r}")
        challenger, rollout = svc.challengers.get(project), svc.rollouts.get(project)
        return {"project": project, "alias": names.CHAMPION, "version": slot.version, "loaded_at": slot.loaded_at,
                "as_of": slot.tags.get(names.AS_OF), "training_window": slot.tags.get(names.WINDOW), "threshold": slot.threshold,
                "family": slot.tags.get(names.FAMILY), "decision": slot.tags.get(names.DECISION),
                "decision_reason": slot.tags.get(names.DECISION_REASON),
                "rollout": rollout.model_dump(exclude_none=True) if rollout else {"mode": "off", "share": 0.0},
                "challenger_version": challenger.version if challenger else None}

    deps = [Depends(authorize)]
    app.post(f"/v1/{project}/predict", response_model=Prediction, tags=[project], dependencies=deps, responses=errors,
             openapi_extra=body_of(one_schema), summary=f"{project}: score one record")(predict)
    app.post(f"/v1/{project}/predict_batch", response_model=BatchPrediction, tags=[project], dependencies=deps, responses=errors,
             openapi_extra=body_of(batch_schema), summary=f"{project}: score up to {BATCH_LIMIT} records")(predict_batch)
    app.get(f"/v1/{project}/model", tags=[project], dependencies=deps, responses=errors,
            summary=f"{project}: the served version, its window, decision and rollout")(model_info)


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
