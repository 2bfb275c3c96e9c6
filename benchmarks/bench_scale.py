"""Cost against data size (make bench-scale -> benchmarks/scale.md), and the search over Celery workers.

Part 1: loanrisk and bankchurn's synthetic feeds at 100k, 300k and 1M raw rows in the training
window, every step of the pipeline run on the embedded default, EACH IN ITS OWN PROCESS like an
Airflow task: wall time and peak RSS (the process's own ru_maxrss) per step. A fixed small search
budget (3 trials, 3 folds) keeps the comparison about data size.

Part 2: one bankchurn search (same study size) through the real scheduler on the server stack with
the CeleryExecutor, 1 worker vs 2 workers: trials per minute from the study's own trial timestamps.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import multiprocessing as mp
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
AS_OF = dt.date(2026, 6, 1)
SIZES = {"100k": 100_000, "300k": 300_000, "1M": 1_000_000}
STEPS = ("extract", "validate", "search", "refit", "evaluate", "register", "drift")


def _step(args: tuple[str, str, str, dict]) -> tuple[float, float, dict]:
    """One step in a fresh process: (seconds, peak RSS in MB, its JSON result)."""
    home, project, step, state = args
    os.environ.update({"MLOPS_HOME": home, "MLOPS_N_JOBS": "2", "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false"})
    import logging

    logging.basicConfig(level=logging.WARNING)
    from pipelines.config import load_project
    from pipelines.contracts import Evaluated, Extracted, RunSpec, SearchPlan, Trained, Validated
    from pipelines.resources import Resources
    from pipelines.steps.drift import step_drift
    from pipelines.steps.evaluate import step_evaluate
    from pipelines.steps.extract import step_extract
    from pipelines.steps.refit import step_refit
    from pipelines.steps.register import step_register
    from pipelines.steps.train import step_plan_search, step_tune
    from pipelines.steps.validate import step_validate

    res = Resources.from_env()
    cfg = load_project(project)
    cfg = cfg.model_copy(update={"search": cfg.search.model_copy(update={"n_trials": 3, "cv_folds": 3, "cv_repeats": 1})})
    run = RunSpec(project=project, as_of=AS_OF, interval_start=AS_OF - dt.timedelta(days=2), n_trials=3)
    ex = Extracted.from_json(state["extract"]) if "extract" in state else None
    started = time.monotonic()
    if step == "extract":
        out = step_extract(res, cfg, run).to_json()
    elif step == "validate":
        out = step_validate(res, cfg, run, ex).to_json()
    elif step == "search":
        p = step_plan_search(res, cfg, run, ex)
        step_tune(res, cfg, ex, p, 0, p.n_trials)
        out = p.to_json()
    elif step == "refit":
        out = step_refit(res, cfg, run, ex, Validated.from_json(state["validate"]), SearchPlan.from_json(state["search"])).to_json()
    elif step == "evaluate":
        out = step_evaluate(res, cfg, run, ex, Trained.from_json(state["refit"])).to_json()
    elif step == "register":
        out = step_register(res, cfg, run, ex, Trained.from_json(state["refit"]), Evaluated.from_json(state["evaluate"])).to_json()
    else:
        out = step_drift(res, cfg, run, ex, Trained.from_json(state["refit"]), Evaluated.from_json(state["evaluate"])).to_json()
    return time.monotonic() - started, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, out


def feed(home: str, project: str, rows: int) -> tuple[int, float]:
    os.environ["MLOPS_HOME"] = home
    from pipelines.config import load_project
    from pipelines.resources import Resources
    from pipelines.steps.feed import feed_synthetic

    cfg = load_project(project)
    days = cfg.training_window_days
    started = time.monotonic()
    r = feed_synthetic(Resources.from_env().lake, cfg, AS_OF - dt.timedelta(days=days), AS_OF - dt.timedelta(days=1),
                       rows_per_day=max(1, rows // days), seed=3)
    return r.rows, time.monotonic() - started


def part1(projects: list[str], sizes: list[str]) -> list[str]:
    ctx = mp.get_context("spawn")
    lines = ["## Part 1: every step in its own process, by rows in the training window\n",
             "| project | raw rows in window | training rows | " + " | ".join(STEPS) + " | peak RSS (step) | total |",
             "|---|---:|---:|" + "---:|" * len(STEPS) + "---:|---:|"]
    for project in projects:
        for size in sizes:
            with tempfile.TemporaryDirectory(prefix="bench-scale-") as home:
                fed, _ = feed(home, project, SIZES[size])
                state: dict = {}
                cells, peaks = [], []
                for step in STEPS:
                    with ctx.Pool(1, maxtasksperchild=1) as pool:
                        secs, rss, out = pool.apply(_step, ((home, project, step, state),))
                    state[step] = out
                    cells.append(f"{secs:.0f} s / {rss:,.0f} MB")
                    peaks.append((rss, step))
                    print(f"{project} {size} {step}: {secs:.1f}s {rss:.0f}MB", flush=True)
                top = max(peaks)
                total = sum(float(c.split(" s")[0]) for c in cells)
                lines.append(f"| {project} | {fed:,} | {state['extract']['train_rows']:,} | " + " | ".join(cells)
                             + f" | {top[0]:,.0f} MB ({top[1]}) | {total:.0f} s |")
    return lines


def part2(n_trials: int = 12) -> list[str]:
    """The same bankchurn search on the Celery stack with 1 and with 2 workers."""
    import subprocess

    import optuna

    sys.path.insert(0, str(ROOT / "tests"))
    from tests.conftest import load_script
    from tests.integration.test_scheduler import Api, free_port

    mod = load_script("stack")
    rows = []
    home = Path(tempfile.mkdtemp(prefix="bench-celery-"))
    st = mod.Stack(home=home, db_prefix=f"mlops_bench{os.getpid()}", s3_port=free_port(), mlflow_port=free_port(), airflow_port=free_port(),
                   redis_url="redis://127.0.0.1:6379/13", executor="celery", workers=2)
    mod.up(st)
    try:
        env = {**os.environ, **{k: v.strip("'") for k, v in (line.removeprefix("export ").split("=", 1)
                                                             for line in (st.dir / "stack.env").read_text().splitlines())}}
        subprocess.run([sys.executable, "-m", "pipelines", "feed", "bankchurn", "--start", "2026-01-01", "--end", "2026-03-01"],
                       env=env, check=True, cwd=ROOT, capture_output=True)
        password = next(iter(json.loads((st.dir / "airflow" / "simple_auth_manager_passwords.json.generated").read_text()).values()))
        api = Api(st.airflow_url, password)
        for _ in range(90):
            try:
                api.get("/api/v2/dags/bankchurn_training")
                break
            except OSError:
                time.sleep(2)
        api.patch("/api/v2/dags/bankchurn_training", {"is_paused": False})
        for workers, day in ((1, "2026-02-28"), (2, "2026-03-02")):
            run = api.post("/api/v2/dags/bankchurn_training/dagRuns", {"logical_date": f"{day}T00:00:00Z",
                                                                       "conf": {"n_trials": n_trials, "optuna_workers": workers}})
            assert api.wait_runs([run["dag_run_id"]], timeout=1800) == {run["dag_run_id"]: "success"}
            [s] = [x for x in optuna.get_all_study_summaries(storage=env["OPTUNA_STORAGE"]) if x.study_name.startswith(f"bankchurn-{day}-")]
            trials = optuna.load_study(study_name=s.study_name, storage=env["OPTUNA_STORAGE"]).trials
            span = (max(t.datetime_complete for t in trials) - min(t.datetime_start for t in trials)).total_seconds()
            rows.append((workers, len(trials), span, 60 * len(trials) / span))
    finally:
        mod.down(st)
        from pipelines.resources.databases import drop_databases

        drop_databases(st.pg_admin, [f"{st.db_prefix}_{s}" for s in ("airflow", "mlflow", "optuna")])
    lines = ["## Part 2: one bankchurn search over Celery workers (server stack, Redis broker)\n",
             f"The same study size ({n_trials} trials, 5-fold CV on ~8,000 rows), `optuna_workers` 1 vs 2: one mapped `tune` task per "
             "worker, each on its own Celery worker process, sharing the Postgres study. Trials per minute from the first trial's start "
             "to the last trial's end.\n", "| Celery workers used | trials | search span | trials / minute |", "|---:|---:|---:|---:|"]
    lines += [f"| {w} | {n} | {span:.0f} s | {tpm:.1f} |" for w, n, span, tpm in rows]
    if len(rows) == 2:
        lines += ["", f"Speed-up with 2 workers: x{rows[1][3] / rows[0][3]:.2f} (2 cores: the ceiling is ~2x, less what the scheduler, "
                  "the api-server and the task start-up take from the same cores)."]
    return lines


def main() -> None:
    a = argparse.ArgumentParser()
    a.add_argument("--projects", nargs="+", default=["loanrisk", "bankchurn"])
    a.add_argument("--sizes", nargs="+", default=list(SIZES))
    a.add_argument("--skip-celery", action="store_true")
    args = a.parse_args()
    started = time.time()
    lines = ["# Cost against data size, and the search over Celery workers\n",
             f"Measured {dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M} UTC on this machine (2 cores, 24 GB) by `make bench-scale`. "
             + __doc__.split("\n\n", 1)[1].strip().replace("\n", " "), ""]
    lines += part1(args.projects, args.sizes)
    if not args.skip_celery:
        lines += [""] + part2()
    lines += ["", f"Total wall time: {time.time() - started:.0f} s."]
    out = ROOT / "benchmarks" / "scale.md"
    out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
