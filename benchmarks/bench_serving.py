"""Serving benchmark (make bench-serving): latency of single predictions and throughput of
1,000-record batches against a real server (uvicorn, one worker) on 127.0.0.1, bounded load.

Uses the champion in the local stores (run `make demo` first). Writes benchmarks/serving.md.
"""

from __future__ import annotations

import datetime as dt
import os
import platform
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

import httpx
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SINGLE = int(os.environ.get("BENCH_SINGLE", "2000"))
BATCHES = int(os.environ.get("BENCH_BATCHES", "30"))
PROJECT = "bankchurn"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main() -> None:
    import secrets

    from pipelines.config import load_project
    from pipelines.contracts import names
    from pipelines.domain.synthetic import generate_bankchurn
    from pipelines.resources import Resources

    champ = Resources.from_env().registry.alias_version(PROJECT, names.CHAMPION)
    if champ is None:
        raise SystemExit(f"no {PROJECT}@champion in {os.environ.get('MLOPS_HOME', '.local')}: run `make demo` first")
    cfg = load_project(PROJECT)
    rows = generate_bankchurn(dt.date(2026, 6, 1), 5000, np.random.default_rng(0), False)[cfg.input_columns]
    records = [{k: (None if isinstance(v, float) and v != v else v) for k, v in r.items()} for r in rows.to_dict("records")]

    port = _free_port()
    token = secrets.token_hex(16)  # the service requires a bearer token (as deployed); a fresh one per run
    env = {**os.environ, "SERVING_PROJECTS": PROJECT, "SERVING_POLL_SECONDS": "3600", "PYTHONPATH": str(ROOT), "API_TOKEN": token}
    server = subprocess.Popen([sys.executable, "-m", "pipelines", "serve", "--port", str(port)], env=env, cwd=ROOT,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        with httpx.Client(base_url=base, timeout=30, headers={"Authorization": f"Bearer {token}"}) as c:
            deadline = time.monotonic() + 120
            while True:
                try:
                    if c.get("/ready").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline:
                    raise SystemExit("server did not become ready")
                time.sleep(0.5)
            for r in records[:100]:  # warm-up
                c.post(f"/v1/{PROJECT}/predict", json=r).raise_for_status()
            lat = []
            t0 = time.perf_counter()
            for i in range(SINGLE):
                s = time.perf_counter()
                c.post(f"/v1/{PROJECT}/predict", json=records[i % len(records)]).raise_for_status()
                lat.append((time.perf_counter() - s) * 1000)
            single_rps = SINGLE / (time.perf_counter() - t0)
            blat = []
            for i in range(BATCHES):
                chunk = records[(i * 1000) % 4000:(i * 1000) % 4000 + 1000]
                s = time.perf_counter()
                r = c.post(f"/v1/{PROJECT}/predict_batch", json={"records": chunk})
                r.raise_for_status()
                blat.append(time.perf_counter() - s)
                assert r.json()["count"] == 1000
    finally:
        server.terminate()
        server.wait(20)

    p = np.percentile(lat, [50, 95, 99])
    rows_s = 1000 / statistics.mean(blat)
    verdict = "met" if p[1] < 50 else "NOT met"
    md = f"""# Serving benchmark

Measured {dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M} UTC by `make bench-serving` ({Path(__file__).name}): `python -m pipelines serve`
(uvicorn, 1 process, bearer-token auth) on 127.0.0.1, {PROJECT} champion v{champ.version} ({champ.tags.get('family')}, full sklearn Pipeline),
client: one keep-alive httpx connection, sequential requests (bounded: {SINGLE} single + {BATCHES} batch requests).
Machine: {os.cpu_count()} cores, Python {platform.python_version()}, {platform.machine()}. Every request also goes through
validation (pydantic from the project config + GX suite), Prometheus metrics and the buffered prediction log.

| measure | value |
|---|---:|
| single record p50 | {p[0]:.1f} ms |
| single record p95 | {p[1]:.1f} ms |
| single record p99 | {p[2]:.1f} ms |
| single record throughput (1 client) | {single_rps:.0f} req/s |
| 1,000-record batch latency (mean) | {statistics.mean(blat) * 1000:.0f} ms |
| batch throughput | {rows_s:,.0f} rows/s |

Target p95 < 50 ms for a single prediction: **{verdict}**.
"""
    (ROOT / "benchmarks" / "serving.md").write_text(md)
    print(md)


if __name__ == "__main__":
    main()
