"""Render benchmarks/reliability.md from the fault suite's results (make test-faults) and the hostile-input
run (make bench-hostile), each kept as JSON beside it so either part can be refreshed alone."""

from __future__ import annotations

import argparse
import datetime as dt
import json
from pathlib import Path

HERE = Path(__file__).resolve().parent
FAULTS, HOSTILE = HERE / "reliability-faults.json", HERE / "reliability-hostile.json"


def section(title: str, intro: str, header: list[str], rows: list[list[object]]) -> list[str]:
    return [f"## {title}\n", intro + "\n", "| " + " | ".join(header) + " |", "|" + "---|" * len(header),
            *("| " + " | ".join(str(c) for c in r) + " |" for r in rows), ""]


def main() -> None:
    a = argparse.ArgumentParser()
    a.add_argument("--faults", help="results written by the fault suite (MLOPS_RELIABILITY_OUT)")
    args = a.parse_args()
    if args.faults and Path(args.faults).exists():
        rows = json.loads(Path(args.faults).read_text())
        FAULTS.write_text(json.dumps({"measured": f"{dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M} UTC", "rows": rows}, indent=2))
    lines = ["# Reliability: faults and hostile input\n",
             "Measured on this machine (2 cores), on loopback only, every fault and attack bounded in count and time.\n"]
    if FAULTS.exists():
        f = json.loads(FAULTS.read_text())
        lines += section(f"Faults on the real server stack (make test-faults; {f['measured']})",
                         "Postgres, the S3 API server over HTTP (moto, behind a fault-injecting TCP proxy) and the MLflow server (Postgres "
                         "backend, artifacts in the bucket). Retries are the task's (up to 3 tries), as Airflow would run them.",
                         ["fault", "where injected", "tries", "outcome", "final registry state checked", "data lost", "wrong promotions"],
                         [[r[k] for k in ("fault", "where", "tries", "outcome", "registry", "data_lost", "wrong_promotions")] for r in f["rows"]])
    if HOSTILE.exists():
        h = json.loads(HOSTILE.read_text())
        lines += section(f"Hostile input against the prediction service (make bench-hostile; {h['measured']})",
                         "uvicorn + the FastAPI app on 127.0.0.1, a bankchurn champion loaded, 2 MiB body cap, bearer token required. "
                         "Memory is the server process's RSS.",
                         ["attack", "requests", "outcome (status: count)", "server errors (5xx)", "seconds", "server memory before -> after"],
                         [[r["attack"], r["requests"], r["outcome"], r["server_errors"], r["seconds"],
                           f"{r['rss_before_mb']} -> {r['rss_after_mb']} MB" if r["rss_before_mb"] is not None else ""] for r in h["rows"]])
    (HERE / "reliability.md").write_text("\n".join(lines))
    print((HERE / "reliability.md").read_text())


if __name__ == "__main__":
    main()
