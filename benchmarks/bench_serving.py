"""Serving benchmark (make bench-serving): `python -m pipelines serve` and `mlflow models serve` side by
side in ONE run, on the same champion and the same records, on 127.0.0.1, bounded load.

Both servers run at once (one process each, one keep-alive client per server); requests alternate
between them, the order flipped every round, so a slow moment of the machine hits both. Measured:
single-record latency (p50/p95/p99, a 95% bootstrap interval on p95), rows/s of 1-, 100- and
1,000-record batches (intervals on the 1,000-row figure), each server's RSS (its whole process tree),
and our p95 again with the challenger in shadow (the added cost of a shadow rollout).

Ours validates every record (types, ranges, value sets of the project's suite), checks a bearer
token, logs each prediction and returns probability, label and risk band; MLflow's pyfunc server
checks the signature's column types and returns labels. Uses the champion in the local stores: run
`make demo` first. Writes benchmarks/serving.md.
"""

from __future__ import annotations

import datetime as dt
import os
import platform
import secrets
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SINGLE = int(os.environ.get("BENCH_SINGLE", "1000"))
BATCHES = {1: int(os.environ.get("BENCH_B1", "300")), 100: int(os.environ.get("BENCH_B100", "60")),
           1000: int(os.environ.get("BENCH_B1000", "30"))}
SHADOW = int(os.environ.get("BENCH_SHADOW", "600"))
PROJECT = "bankchurn"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_ready(c: httpx.Client, path: str, proc: subprocess.Popen[bytes], name: str) -> None:
    deadline = time.monotonic() + 180
    while True:
        if proc.poll() is not None:
            raise SystemExit(f"{name} exited with {proc.returncode} before it was ready")
        try:
            if c.get(path).status_code == 200:
                return
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            raise SystemExit(f"{name} did not become ready in 180 s")
        time.sleep(0.5)


def _rss_mb(pid: int) -> float:
    import psutil

    p = psutil.Process(pid)
    return sum(q.memory_info().rss for q in [p, *p.children(recursive=True)]) / 2**20


def _boot_ci(values: np.ndarray, stat: Any, seed: int = 0, n: int = 2000) -> tuple[float, float]:
    from scipy.stats import bootstrap

    r = bootstrap((values,), stat, n_resamples=n, confidence_level=0.95, method="percentile", random_state=seed, vectorized=False)
    return float(r.confidence_interval.low), float(r.confidence_interval.high)


def _p95(x: np.ndarray) -> float:
    return float(np.percentile(x, 95))


def main() -> None:
    import pandas as pd

    from pipelines.config import load_project
    from pipelines.contracts import names
    from pipelines.domain.synthetic import generate_bankchurn
    from pipelines.resources import Resources
    from pipelines.steps.operations import set_rollout

    res = Resources.from_env()
    champ = res.registry.alias_version(PROJECT, names.CHAMPION)
    if champ is None:
        raise SystemExit(f"no {PROJECT}@champion in {os.environ.get('MLOPS_HOME', '.local')}: run `make demo` first")
    cfg = load_project(PROJECT)
    raw = generate_bankchurn(dt.date(2026, 6, 1), 5000, np.random.default_rng(0), False)
    ours_rows = raw[[cfg.id_column, *cfg.input_columns]]
    ours = [{k: (None if isinstance(v, float) and v != v else v) for k, v in r.items()} for r in ours_rows.to_dict("records")]
    for r in ours:
        r[cfg.id_column] = int(r[cfg.id_column])
    theirs = [{k: v for k, v in r.items() if k != cfg.id_column} for r in ours]  # MLflow's signature has no id column

    home = Path(os.environ.get("MLOPS_HOME", ROOT / ".local"))
    token = secrets.token_hex(16)
    p_ours, p_mlf = _free_port(), _free_port()
    env = {**os.environ, "SERVING_PROJECTS": PROJECT, "SERVING_POLL_SECONDS": "1", "PYTHONPATH": str(ROOT), "API_TOKEN": token}
    # MLflow's server loads the skops model through mlflow.sklearn, which asks for this opt-in; ours
    # loads the same file with skops against the project's allow-list and needs nothing of the kind.
    mlf_env = {**env, "MLFLOW_TRACKING_URI": f"sqlite:///{home}/mlflow.db", "MLFLOW_ALLOW_PICKLE_DESERIALIZATION": "true",
               "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}  # it execs `uvicorn`
    logs = home / "bench-serving"
    logs.mkdir(parents=True, exist_ok=True)
    ours_srv = subprocess.Popen([sys.executable, "-m", "pipelines", "serve", "--port", str(p_ours)], env=env, cwd=ROOT,
                                stdout=open(logs / "ours.log", "wb"), stderr=subprocess.STDOUT)
    mlf_srv = subprocess.Popen([str(Path(sys.executable).parent / "mlflow"), "models", "serve", "-m", f"models:/{PROJECT}/{champ.version}",
                                "--env-manager", "local", "-h", "127.0.0.1", "-p", str(p_mlf), "--workers", "1"], env=mlf_env, cwd=ROOT,
                               stdout=open(logs / "mlflow.log", "wb"), stderr=subprocess.STDOUT, start_new_session=True)
    challenger_set = False
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{p_ours}", timeout=60, headers={"Authorization": f"Bearer {token}"}) as a, \
                httpx.Client(base_url=f"http://127.0.0.1:{p_mlf}", timeout=60) as b:
            _wait_ready(a, "/ready", ours_srv, "pipelines serve")
            _wait_ready(b, "/ping", mlf_srv, "mlflow models serve")

            def ask_ours(recs: list[dict[str, Any]]) -> float:
                s = time.perf_counter()
                r = a.post(f"/v1/{PROJECT}/predict", json=recs[0]) if len(recs) == 1 and single else \
                    a.post(f"/v1/{PROJECT}/predict_batch", json={"records": recs})
                r.raise_for_status()
                return (time.perf_counter() - s) * 1000

            def ask_mlflow(recs: list[dict[str, Any]]) -> float:
                s = time.perf_counter()
                r = b.post("/invocations", json={"dataframe_records": recs})
                r.raise_for_status()
                assert len(r.json()["predictions"]) == len(recs)
                return (time.perf_counter() - s) * 1000

            single = True
            for i in range(100):  # warm-up both
                ask_ours([ours[i]]), ask_mlflow([theirs[i]])
            lat: dict[str, list[float]] = {"ours": [], "mlflow": []}
            for i in range(SINGLE):
                j = i % len(ours)
                pair = [("ours", lambda: ask_ours([ours[j]])), ("mlflow", lambda: ask_mlflow([theirs[j]]))]
                for name, fn in (pair if i % 2 == 0 else pair[::-1]):
                    lat[name].append(fn())
            single = False
            batch: dict[tuple[str, int], list[float]] = {}
            for size, count in BATCHES.items():
                for i in range(count):
                    lo = (i * size) % (len(ours) - size)
                    pair = [("ours", lambda: ask_ours(ours[lo:lo + size])), ("mlflow", lambda: ask_mlflow(theirs[lo:lo + size]))]
                    for name, fn in (pair if i % 2 == 0 else pair[::-1]):
                        batch.setdefault((name, size), []).append(fn())
            rss = {"ours": _rss_mb(ours_srv.pid), "mlflow": _rss_mb(mlf_srv.pid)}

            # The shadow arm: the previous champion as challenger, every request scored twice.
            aliases = res.registry.aliases(PROJECT)
            shadow_line = "not measured: the project has no second version (run `make demo`, which trains bankchurn twice)"
            other = aliases.get(names.PREVIOUS)
            if other and other != champ.version and aliases.get(names.CHALLENGER) is None:
                res.registry.set_alias(PROJECT, names.CHALLENGER, other)
                challenger_set = True
                set_rollout(res, cfg, "shadow", reason="bench-serving: shadow cost")
                deadline = time.monotonic() + 60
                while a.get(f"/v1/{PROJECT}/model").json().get("challenger_version") != other:
                    if time.monotonic() > deadline:
                        raise SystemExit("the service did not pick up the shadow rollout in 60 s")
                    time.sleep(0.5)
                single = True
                for i in range(50):
                    ask_ours([ours[i]])
                shadow = np.array([ask_ours([ours[i % len(ours)]]) for i in range(SHADOW)])
                base = np.array(lat["ours"])
                lo_s, hi_s = _boot_ci(shadow, _p95)
                shadow_line = (f"single-record p95 {_p95(shadow):.1f} ms [{lo_s:.1f}, {hi_s:.1f}] with challenger v{other} in shadow, "
                               f"vs {_p95(base):.1f} ms without: **{_p95(shadow) - _p95(base):+.1f} ms** added at p95 "
                               f"(the shadow call runs after the response is sent; on 2 cores it competes with the next request)")
    finally:
        if challenger_set:
            set_rollout(res, cfg, "off", reason="bench-serving done")
            res.registry.delete_alias(PROJECT, names.CHALLENGER)
        ours_srv.terminate()
        if mlf_srv.poll() is None:
            os.killpg(mlf_srv.pid, 15)
        ours_srv.wait(30)
        mlf_srv.wait(30)

    table, verdict = _table(lat, batch, rss)
    md = f"""# Serving benchmark

Measured {dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M} UTC by `make bench-serving` ({Path(__file__).name}), one run, both servers
up at once on 127.0.0.1: `python -m pipelines serve` (uvicorn, 1 process) and `mlflow models serve --env-manager local --workers 1`
on the same {PROJECT} champion v{champ.version} ({champ.tags.get('family')}, the same skops file) and the same synthetic records.
One keep-alive client per server, requests alternating between the two (order flipped every round): {SINGLE} single records,
then {', '.join(f'{c} batches of {s:,}' for s, c in BATCHES.items())} each.
Machine: {os.cpu_count()} cores, Python {platform.python_version()}, {platform.machine()}, pandas {pd.__version__}.

Ours per request: bearer token, body cap read while streaming, validation of every record against the project's
rules (types, ranges and value sets from its config and GX suite), probability + label + risk band, Prometheus
metrics and the prediction log (with the record id). MLflow's: the signature's column types, labels only.

{table}

{verdict}

Shadow rollout: {shadow_line}.
"""
    (ROOT / "benchmarks" / "serving.md").write_text(md)
    print(md)


def _table(lat: dict[str, list[float]], batch: dict[tuple[str, int], list[float]], rss: dict[str, float]) -> tuple[str, str]:
    rows = ["| | `pipelines serve` | `mlflow models serve` |", "|---|---:|---:|"]
    sl = {k: np.array(v) for k, v in lat.items()}
    p = {k: np.percentile(v, [50, 95, 99]) for k, v in sl.items()}
    ci = {k: _boot_ci(v, _p95) for k, v in sl.items()}
    rows.append(f"| single record p50 | {p['ours'][0]:.1f} ms | {p['mlflow'][0]:.1f} ms |")
    rows.append(f"| single record p95 [95% CI] | {p['ours'][1]:.1f} ms [{ci['ours'][0]:.1f}, {ci['ours'][1]:.1f}] | "
                f"{p['mlflow'][1]:.1f} ms [{ci['mlflow'][0]:.1f}, {ci['mlflow'][1]:.1f}] |")
    rows.append(f"| single record p99 | {p['ours'][2]:.1f} ms | {p['mlflow'][2]:.1f} ms |")
    rate: dict[tuple[str, int], tuple[float, float, float]] = {}
    for (name, size), ms in batch.items():
        arr = np.array(ms)
        lo, hi = _boot_ci(arr, np.mean)
        rate[(name, size)] = (size * 1000 / arr.mean(), size * 1000 / hi, size * 1000 / lo)
    for size in BATCHES:
        o, m = rate[("ours", size)], rate[("mlflow", size)]
        rows.append(f"| {size:,}-record batch, rows/s [95% CI] | {o[0]:,.0f} [{o[1]:,.0f}, {o[2]:,.0f}] | "
                    f"{m[0]:,.0f} [{m[1]:,.0f}, {m[2]:,.0f}] |")
    rows.append(f"| server RSS after the run | {rss['ours']:.0f} MB | {rss['mlflow']:.0f} MB |")

    def judge(what: str, ours: tuple[float, float, float], theirs: tuple[float, float, float], higher_better: bool) -> str:
        overlap = not (ours[2] < theirs[1] or theirs[2] < ours[1])
        better = ours[0] > theirs[0] if higher_better else ours[0] < theirs[0]
        if overlap:
            return f"{what}: {'ours ahead' if better else 'MLflow ahead'} by the point estimate, **within the noise** (the intervals overlap)"
        return f"{what}: **{'ours' if better else 'MLflow'}** (the intervals do not overlap)"

    lines = [judge("single p95 (lower is better)", (p["ours"][1], *ci["ours"]), (p["mlflow"][1], *ci["mlflow"]), False),
             judge("1,000-row batch rows/s", rate[("ours", 1000)], rate[("mlflow", 1000)], True)]
    target = (p["ours"][1] <= p["mlflow"][1] and rate[("ours", 1000)][0] >= rate[("mlflow", 1000)][0])
    lines.append(f"Target (ours: single p95 <= MLflow's and 1,000-row rows/s >= MLflow's, by the point estimates): "
                 f"**{'met' if target else 'NOT met'}**.")
    return "\n".join(rows), "\n".join(f"- {x}" for x in lines)


if __name__ == "__main__":
    main()
