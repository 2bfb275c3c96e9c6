"""Hostile input against the prediction service over real HTTP on 127.0.0.1 (make bench-hostile): each
attack a bounded number of requests, its outcome, and the server's memory before and after.
Writes benchmarks/reliability-hostile.json; benchmarks/reliability_report.py renders the table into
benchmarks/reliability.md."""

from __future__ import annotations

import datetime as dt
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import httpx
import numpy as np
import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
GOOD = {"CreditScore": 650, "Age": 42, "Tenure": 3, "Balance": 120000.5, "NumOfProducts": 2, "HasCrCard": 1, "IsActiveMember": 0,
        "EstimatedSalary": 80000, "Geography": "Germany", "Gender": "Female"}
TOKEN = "hostile-bench-token-0123456789"


def champion(home: str) -> None:
    """A registered bankchurn champion (threshold inside the model) in a fresh embedded store."""
    os.environ["MLOPS_HOME"] = home
    from sklearn.frozen import FrozenEstimator
    from sklearn.model_selection import FixedThresholdClassifier

    from pipelines.config import load_project
    from pipelines.contracts import names
    from pipelines.domain.estimators import build_pipeline
    from pipelines.domain.synthetic import generate_bankchurn
    from pipelines.resources import Resources

    res, cfg = Resources.from_env(), load_project("bankchurn")
    df = generate_bankchurn(dt.date(2026, 1, 1), 3000, np.random.default_rng(0), False)
    pipe = build_pipeline(cfg, "lightgbm", {"n_estimators": 100}, 0).fit(df[cfg.input_columns], df[cfg.target])
    model = FixedThresholdClassifier(FrozenEstimator(pipe), threshold=0.3, response_method="predict_proba").fit(df[cfg.input_columns], df[cfg.target])
    run_id = res.registry.start_run("bankchurn", "hostile", {})
    uri = res.registry.log_model(run_id, "bankchurn", model, df[cfg.input_columns].head(3), res.allowed_model_types)
    v = res.registry.register("bankchurn", uri, run_id, {names.THRESHOLD: "0.3"})[0]
    res.registry.set_alias("bankchurn", names.CHAMPION, v)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss(pid: int) -> float:
    p = psutil.Process(pid)
    return (p.memory_info().rss + sum(c.memory_info().rss for c in p.children(recursive=True))) / 2**20


def attacks(base: str) -> list[tuple[str, int, object]]:
    auth = {"Authorization": f"Bearer {TOKEN}"}
    big = json.dumps({"records": [GOOD] * 20000}).encode()  # ~5 MB

    def chunked():
        for i in range(0, len(big), 65536):
            yield big[i : i + 65536]

    nan_bodies = [json.dumps({**GOOD, f: "__X__"}).replace('"__X__"', v) for f in ("Age", "Balance", "EstimatedSalary", "CreditScore")
                  for v in ("NaN", "Infinity", "-Infinity", "1e309", "1e308")]
    return [
        ("5 MB body, chunked (no Content-Length)", 30, lambda c: c.post(f"{base}/v1/bankchurn/predict_batch", content=chunked(),
                                                                       headers={**auth, "Content-Type": "application/json"})),
        ("5 MB body with Content-Length", 30, lambda c: c.post(f"{base}/v1/bankchurn/predict_batch", content=big,
                                                               headers={**auth, "Content-Type": "application/json"})),
        ("batch of 1,001 records (under the byte cap)", 50, lambda c: c.post(f"{base}/v1/bankchurn/predict_batch",
                                                                             json={"records": [GOOD] * 1001}, headers=auth)),
        ("NaN / Infinity / 1e309 / 1e308 in numeric fields", 400,
         lambda c, it=iter(nan_bodies * 20): c.post(f"{base}/v1/bankchurn/predict", content=next(it),
                                                    headers={**auth, "Content-Type": "application/json"})),
        ("unauthenticated GETs to /junk-<i> (metric label flood)", 3000, lambda c, it=iter(range(10**6)): c.get(f"{base}/junk-{next(it)}")),
        ("missing or wrong bearer token", 500, lambda c, it=iter(range(10**6)): c.post(
            f"{base}/v1/bankchurn/predict", json=GOOD, headers={"Authorization": f"Bearer wrong-{next(it)}"} if next(it) % 2 else {})),
        ("valid requests (control)", 300, lambda c: c.post(f"{base}/v1/bankchurn/predict", json=GOOD, headers=auth)),
    ]


def main() -> None:
    rows = []
    with tempfile.TemporaryDirectory(prefix="hostile-") as home:
        champion(home)
        port = free_port()
        env = {**os.environ, "MLOPS_HOME": home, "API_TOKEN": TOKEN, "SERVING_PROJECTS": "bankchurn", "PYTHONPATH": str(ROOT),
               "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false"}
        env.pop("MLFLOW_TRACKING_URI", None)
        server = subprocess.Popen([sys.executable, "-m", "pipelines", "serve", "--host", "127.0.0.1", "--port", str(port)], env=env,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                try:
                    if httpx.get(f"{base}/ready", timeout=2).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                time.sleep(0.5)
            with httpx.Client(timeout=30) as c:
                metric_lines = len(c.get(f"{base}/metrics", headers={"Authorization": f"Bearer {TOKEN}"}).text.splitlines())
                for name, n, fn in attacks(base):
                    before, started, codes = rss(server.pid), time.monotonic(), Counter()
                    for _ in range(n):
                        try:
                            codes[fn(c).status_code] += 1  # type: ignore[operator]
                        except httpx.HTTPError as e:  # the server cut the upload short after answering
                            codes[type(e).__name__] += 1
                    rows.append({"attack": name, "requests": n, "outcome": ", ".join(f"{k}: {v}" for k, v in sorted(codes.items(), key=str)),
                                 "seconds": round(time.monotonic() - started, 1), "rss_before_mb": round(before), "rss_after_mb": round(rss(server.pid)),
                                 "server_errors": sum(v for k, v in codes.items() if isinstance(k, int) and k >= 500)})
                    print(rows[-1], flush=True)
                after_lines = len(c.get(f"{base}/metrics", headers={"Authorization": f"Bearer {TOKEN}"}).text.splitlines())
                rows.append({"attack": "metrics exposition size after all of the above", "requests": 1,
                             "outcome": f"{metric_lines} -> {after_lines} lines", "seconds": 0, "rss_before_mb": None, "rss_after_mb": None,
                             "server_errors": 0})
        finally:
            os.killpg(server.pid, 15)
    out = ROOT / "benchmarks" / "reliability-hostile.json"
    out.write_text(json.dumps({"measured": f"{dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M} UTC", "rows": rows}, indent=2))
    subprocess.run([sys.executable, str(ROOT / "benchmarks" / "reliability_report.py")], check=True)


if __name__ == "__main__":
    main()
