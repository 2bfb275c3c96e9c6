"""Pure ASGI middleware in front of the app: the body is counted as it streams in (chunked bodies
included) and cut off with 413 past the cap; every response is recorded by route template and status
after routing.
"""

from __future__ import annotations

import json
import math
import time
from typing import Any

from pipelines.serving.telemetry import Metrics


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


def finite_json(v: Any) -> Any:
    """JSON-safe copy of a validation error's input (NaN/Infinity become strings)."""
    if isinstance(v, float) and not math.isfinite(v):
        return str(v)
    if isinstance(v, dict):
        return {k: finite_json(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [finite_json(x) for x in v]
    return v
