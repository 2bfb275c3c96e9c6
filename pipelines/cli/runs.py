"""Running without Airflow: `run` (every step in-process for one as-of date) and `serve`.
"""

from __future__ import annotations

import argparse
import datetime as dt
from typing import Any

from pipelines.cli.args import date_arg, positive_int, project_of, resources_of
from pipelines.config.settings import Settings


def cmd_run(a: argparse.Namespace, s: Settings) -> int:
    from pipelines.contracts import RunSpec
    from pipelines.steps.pipeline import run_all

    cfg = project_of(s, a.project)
    run = RunSpec(project=a.project, as_of=a.date, interval_start=a.date - dt.timedelta(days=cfg.dag.schedule_days), dag_id="cli",
                  run_id=f"cli__{a.date.isoformat()}", n_trials=a.n_trials, timeout_minutes=a.timeout_minutes, window_days=a.window_days,
                  promote=not a.no_promote, optuna_workers=a.optuna_workers)
    out = run_all(resources_of(s), cfg, run)
    r, ev = out["register"], out["evaluate"]
    print(f"{a.project} as of {a.date}: v{r.version} {r.decision}; champion v{r.champion}; test {cfg.primary_metric} "
          f"{ev.primary if ev.primary is not None else float('nan'):.4f}; drift {out['drift'].status}")
    return 0


def cmd_serve(a: argparse.Namespace, s: Settings) -> int:
    from pipelines.serving import serve

    serve(s, a.host, a.port, insecure=a.insecure)
    return 0


def add_run_commands(sub: Any) -> None:
    r = sub.add_parser("run", help="run every step in-process for one as-of date (no Airflow)")
    r.add_argument("project")
    r.add_argument("--date", type=date_arg, required=True, help="as-of date: the data interval's end")
    r.add_argument("--n-trials", type=positive_int)
    r.add_argument("--timeout-minutes", type=float)
    r.add_argument("--window-days", type=positive_int)
    r.add_argument("--optuna-workers", type=positive_int, default=1)
    r.add_argument("--no-promote", action="store_true")
    r.set_defaults(fn=cmd_run)

    sv = sub.add_parser("serve", help="HTTP prediction service for every project's champion (follows the alias)")
    sv.add_argument("--host", default="127.0.0.1")
    sv.add_argument("--port", type=int, default=8000)
    sv.add_argument("--insecure", action="store_true", help="serve WITHOUT a bearer token (loopback hosts only; local trials)")
    sv.set_defaults(fn=cmd_serve)
