"""`make demo`: every project trained through a real Airflow scheduler on the embedded default, on data
up to yesterday, so the runs look in the UI like real ones (task logs, real durations) and
unpausing a DAG later finds data for the current interval.

1. feed each project's window up to yesterday (dates relative to today, seeded);
2. start Airflow (`airflow standalone`: api-server, scheduler, dag-processor, triggerer; LocalExecutor
   on SQLite; parallelism 2 and one thread per fit, so two tasks never fight over the 2 cores), with
   the scheduler's own schedule off (`use_job_schedule=False`): a paused DAG does not start even a
   manual run, so the demo unpauses the training DAGs it triggers, and the scheduler must not spend
   that moment on the current interval;
3. trigger over the REST API: bankchurn as of two days ago, then as of today (the second faces a
   champion), the other projects as of today; wait for them;
4. pause the DAGs again, stop Airflow and print the outcome. `make up` then serves the UIs on the
   same stores, with these runs' logs; unpausing a DAG there runs the current interval on the
   demo's data (fed up to yesterday).

    python scripts/demo.py [--projects bankchurn telecom] [--n-trials 8]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
PROJECTS = ["bankchurn", "telecom", "carvision", "loanrisk"]
RUN_TIMEOUT_S = 1800


class Airflow:
    """A REST client of the local api-server (SimpleAuthManager admin)."""

    def __init__(self, base: str, home: Path):
        self.base, self.home = base, home
        self.token = ""

    def login(self, timeout: float = 240) -> None:
        deadline = time.monotonic() + timeout
        pw_file = self.home / "simple_auth_manager_passwords.json.generated"
        while time.monotonic() < deadline:
            try:
                password = next(iter(json.loads(pw_file.read_text()).values()))
                self.token = self.call("POST", "/auth/token", {"username": "admin", "password": password}, auth=False)["access_token"]
                return
            except (OSError, ValueError, urllib.error.URLError, StopIteration):
                time.sleep(2)
        raise SystemExit(f"Airflow did not answer at {self.base} within {timeout:.0f}s")

    def call(self, method: str, path: str, body: dict | None = None, auth: bool = True):  # type: ignore[no-untyped-def]
        req = urllib.request.Request(self.base + path, method=method, data=json.dumps(body).encode() if body is not None else None,
                                     headers={"Content-Type": "application/json", "Accept": "application/json",
                                              **({"Authorization": f"Bearer {self.token}"} if auth else {})})
        with urllib.request.urlopen(req, timeout=60) as r:  # nosec B310
            return json.loads(r.read() or b"null")

    def wait_dag(self, dag_id: str, timeout: float = 180) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                self.call("GET", f"/api/v2/dags/{dag_id}")
                return
            except urllib.error.HTTPError:
                time.sleep(2)
        raise SystemExit(f"{dag_id} was not parsed within {timeout:.0f}s")

    def trigger(self, dag_id: str, as_of: dt.date, conf: dict) -> str:
        """A manual run as of `as_of` WITHOUT a logical date: a scheduled run's logical date is its
        interval's start, and (dag_id, logical_date) is unique, so a manual run at midnight of a
        schedule boundary would take that slot and the scheduler would silently skip the interval
        that starts there. With no logical date the run's as-of day is its run_after day."""
        run = self.call("POST", f"/api/v2/dags/{dag_id}/dagRuns",
                        {"logical_date": None, "run_after": f"{as_of.isoformat()}T00:00:00Z", "conf": conf})
        return str(run["dag_run_id"])

    def set_paused(self, dag_id: str, paused: bool) -> None:
        self.call("PATCH", f"/api/v2/dags/{dag_id}", {"is_paused": paused})

    def state(self, dag_id: str, run_id: str) -> str:
        return str(self.call("GET", f"/api/v2/dags/{dag_id}/dagRuns/{urllib.parse.quote(run_id)}")["state"])


def feed(projects: list[str], today: dt.date) -> None:
    from pipelines.config import load_project
    from pipelines.resources import Resources
    from pipelines.steps.feed import feed_synthetic

    res = Resources.from_env()
    for p in projects:
        cfg = load_project(p, res.settings)
        start = today - dt.timedelta(days=cfg.training_window_days + cfg.dag.schedule_days + 1)
        days = [start + dt.timedelta(days=i) for i in range((today - start).days)]
        missing = [d for d in days if not res.lake.list(f"raw/{p}/dt={d.isoformat()}/")]  # raw partitions are never rewritten
        rows = sum(feed_synthetic(res.lake, cfg, d, d).rows for d in missing)  # seeded per day: same data as one range
        print(f"{p}: {len(days) - len(missing)} days already in the lake, fed {len(missing)} more ({rows:,} rows) up to {days[-1]}")


def stop_group(proc: subprocess.Popen, timeout: float = 30.0) -> None:
    """SIGTERM a started process group, wait for (and reap) its leader, then SIGKILL what is left of
    the group. Waiting on the Popen, not polling the group: an unreaped leader stays a zombie."""
    import contextlib
    import signal

    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(10)


def start_airflow(env: dict[str, str], log: Path) -> subprocess.Popen:
    subprocess.run([str(BIN / "airflow"), "db", "migrate"], env=env, check=True, capture_output=True, cwd=ROOT)
    proc = subprocess.Popen([str(BIN / "airflow"), "standalone"], env=env, stdout=open(log, "ab"), stderr=subprocess.STDOUT,
                            start_new_session=True, cwd=ROOT)
    for _ in range(90):
        if subprocess.run([str(BIN / "python"), str(ROOT / "scripts" / "create_pools.py")], env=env, capture_output=True,
                          cwd=ROOT).returncode == 0:
            break
        time.sleep(2)
    return proc


def run_demo(projects: list[str], n_trials: int, today: dt.date, api: Airflow) -> list[tuple[str, str, str]]:
    plan = ([("bankchurn", today - dt.timedelta(days=2))] if "bankchurn" in projects else []) + [(p, today) for p in projects]
    results = []
    for p in dict.fromkeys(p for p, _ in plan):
        api.wait_dag(f"{p}_training")
        api.set_paused(f"{p}_training", False)
    pending: dict[str, list[tuple[str, dt.date]]] = {}
    for p, as_of in plan:
        pending.setdefault(p, []).append((p, as_of))
    # one run per project at a time (max_active_runs=1); projects side by side (parallelism 2)
    active: dict[str, tuple[str, dt.date, float]] = {}
    while pending or active:
        for p in list(pending):
            if p not in active:
                _, as_of = pending[p].pop(0)
                if not pending[p]:
                    del pending[p]
                active[p] = (api.trigger(f"{p}_training", as_of, {"n_trials": n_trials}), as_of, time.monotonic())
                print(f"  triggered {p}_training as of {as_of}")
        time.sleep(3)
        for p, (run_id, as_of, t0) in list(active.items()):
            s = api.state(f"{p}_training", run_id)
            if s == "queued" and time.monotonic() - t0 > 300:
                s = "stuck in queued (is the scheduler up? is the DAG paused?)"
            elif time.monotonic() - t0 > RUN_TIMEOUT_S:
                s = f"timeout after {RUN_TIMEOUT_S}s"
            if s not in ("running", "queued"):
                print(f"  {p}_training as of {as_of}: {s} in {time.monotonic() - t0:.0f}s")
                results.append((p, run_id, s))
                del active[p]
    return results


def main() -> None:
    a = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    a.add_argument("--projects", nargs="+", default=PROJECTS)
    a.add_argument("--n-trials", type=int, default=8)
    args = a.parse_args()
    started = time.monotonic()
    sys.path.insert(0, str(ROOT))
    home = Path(os.environ["AIRFLOW_HOME"])
    home.mkdir(parents=True, exist_ok=True)
    port = os.environ.get("AIRFLOW__API__PORT", "8080")
    env = {**os.environ, "PATH": f"{BIN}:{os.environ.get('PATH', '')}", "AIRFLOW__CORE__PARALLELISM": "2", "MLOPS_N_JOBS": "1",
           "AIRFLOW__API__HOST": "127.0.0.1", "AIRFLOW__API__PORT": port, "AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": "False",
           # workers reach the api-server here (the default, localhost:8080, misses another port or an IPv6 localhost)
           "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{port}/execution/"}
    today = dt.datetime.now(dt.timezone.utc).date()
    feed(args.projects, today)
    proc = start_airflow(env, home.parent / "demo-airflow.log")
    try:
        api = Airflow(f"http://127.0.0.1:{port}", home)
        api.login()
        try:
            results = run_demo(args.projects, args.n_trials, today, api)
        finally:
            for p in args.projects:  # paused as they were made: a user's unpause is what starts the schedule
                api.set_paused(f"{p}_training", True)
    finally:
        stop_group(proc)
    failed = [r for r in results if r[2] != "success"]
    print(f"\ndemo: {len(results)} runs through the scheduler in {time.monotonic() - started:.0f}s"
          + (f"; FAILED: {failed}" if failed else ""))
    if failed:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
