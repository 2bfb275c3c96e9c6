"""A drift -> retrain loop you can watch (make demo-drift), through Airflow's dag.test().

1. feed data that drifts from DRIFT_FROM on (older, more German, richer, less active customers,
   and a changed churn relationship);
2. train a champion on the pre-drift window;
3. run the daily drift monitor over the days around DRIFT_FROM: drift is detected from that day,
   each detection alerts and emits the `<project>_drift_detected` Asset event (recorded);
4. the asset-triggered training run (the scheduler would start it on that event; here dag.test
   runs it) trains on the recent window only and faces the old champion;
5. the monitor, now comparing with the new champion's training rows, reports the drift share fall.

`run_scenario` returns the facts; tests/integration/test_drift_loop.py asserts them.
"""

from __future__ import annotations

import datetime as dt
import os
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
PROJECT = "bankchurn"
START, DRIFT_FROM, END = dt.date(2026, 2, 1), dt.date(2026, 3, 1), dt.date(2026, 3, 12)


def _asset_events(name: str) -> int:
    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.utils.session import create_session
    from sqlalchemy import func, select

    with create_session() as s:
        return int(s.scalar(select(func.count()).select_from(AssetEvent).join(AssetModel, AssetEvent.asset_id == AssetModel.id)
                            .where(AssetModel.name == name)) or 0)


def _monitor(dags: dict[str, Any], day: dt.date) -> dict[str, Any]:
    import pendulum

    from pipelines.contracts import layout
    from pipelines.resources import Resources

    # A daily run with interval [day, day+1) checks partition dt=day.
    nxt = day + dt.timedelta(days=1)
    dags[f"{PROJECT}_drift_monitor"].test(logical_date=pendulum.datetime(nxt.year, nxt.month, nxt.day, tz="UTC"))
    lake = Resources.from_env().lake
    keys = [k for k in lake.list(layout.monitoring_prefix(PROJECT, day)) if k.endswith("drift.json")]
    return lake.get_json(keys[-1]) if keys else {"day": day.isoformat(), "status": "skipped"}


def _train(dags: dict[str, Any], as_of: dt.date, conf: dict[str, Any]) -> str:
    import pendulum

    dr = dags[f"{PROJECT}_training"].test(logical_date=pendulum.datetime(as_of.year, as_of.month, as_of.day, tz="UTC"), run_conf=conf)
    return str(dr.state)


def run_scenario(dags: dict[str, Any], *, rows_per_day: int = 600, n_trials: int = 10, retrain_window_days: int = 10,
                 say: Any = print) -> dict[str, Any]:
    """The loop, returning its facts. The retrain window must hold enough rows for every slice and
    group the champion was judged on (>= 200 per group on the comparison rows): the gate fails closed."""
    from pipelines.config import load_project
    from pipelines.contracts import names
    from pipelines.resources import Resources
    from pipelines.steps.feed import feed_synthetic

    res = Resources.from_env()
    cfg, lake, reg = load_project(PROJECT, res.settings), res.lake, res.registry
    facts: dict[str, Any] = {"drift_from": DRIFT_FROM.isoformat()}
    if not lake.list(f"raw/{PROJECT}/dt={START.isoformat()}/"):
        feed_synthetic(lake, cfg, START, END, rows_per_day=rows_per_day, seed=7, drift_from=DRIFT_FROM)
    say(f"1. fed {START}..{END}, drifting from {DRIFT_FROM}")

    facts["train_1"] = _train(dags, DRIFT_FROM, {"n_trials": n_trials, "training_window_days": 20})
    v1 = reg.alias_version(PROJECT, names.CHAMPION)
    facts["champion_1"] = v1.version if v1 else None
    say(f"2. champion v{facts['champion_1']} trained as of {DRIFT_FROM} on the 20 days before the drift ({facts['train_1']})")

    asset = f"{PROJECT}_drift_detected"
    before = _asset_events(asset)
    days = [DRIFT_FROM + dt.timedelta(days=i) for i in range(-2, 3)]
    facts["monitor_before"] = [_monitor(dags, d) for d in days]
    facts["asset_events"] = _asset_events(asset) - before
    say("3. drift monitor vs champion v%s:" % facts["champion_1"])
    for r in facts["monitor_before"]:
        say(f"     {r['day']}: {r['status']:<8} share {r.get('drift_share') if r.get('drift_share') is not None else '-'}")
    say(f"   -> {facts['asset_events']} '{asset}' event(s) emitted: the scheduler starts {PROJECT}_training on them")

    retrain_as_of = DRIFT_FROM + dt.timedelta(days=retrain_window_days)
    facts["train_2"] = _train(dags, retrain_as_of, {"n_trials": n_trials, "training_window_days": retrain_window_days})
    v2 = reg.alias_version(PROJECT, names.CHAMPION)
    latest = max(reg.client.search_model_versions(f"name = '{PROJECT}'"), key=lambda m: int(m.version))
    facts["retrain_version"] = str(latest.version)
    facts["retrain_decision"] = latest.tags.get(names.DECISION)
    facts["retrain_reason"] = latest.tags.get(names.DECISION_REASON)
    facts["retrain_window"] = latest.tags.get(names.WINDOW)
    facts["champion_2"] = v2.version if v2 else None
    say(f"4. retrain as of {retrain_as_of} on the recent window {facts['retrain_window']}: v{facts['retrain_version']} "
        f"{facts['retrain_decision']} ({facts['retrain_reason']})")

    after_days = [retrain_as_of + dt.timedelta(days=i) for i in range(0, END.toordinal() - retrain_as_of.toordinal() + 1)]
    facts["monitor_after"] = [_monitor(dags, d) for d in after_days]
    say(f"5. drift monitor vs champion v{facts['champion_2']}:")
    for r in facts["monitor_after"]:
        say(f"     {r['day']}: {r['status']:<8} share {r.get('drift_share') if r.get('drift_share') is not None else '-'}")
    return facts


def main() -> None:
    """A script, not the package: it sets up its own Airflow home before importing airflow."""
    home = Path(os.environ.get("MLOPS_HOME", ROOT / ".local" / "demo-drift")).resolve()
    os.environ["MLOPS_HOME"] = str(home)
    os.environ["AIRFLOW_HOME"] = str(home / "airflow")
    os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = f"sqlite:///{home / 'airflow' / 'airflow.db'}"
    os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(ROOT / "dags")
    os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
    for var in ("MLFLOW_TRACKING_URI", "MLOPS_LAKE", "OPTUNA_STORAGE"):
        os.environ.pop(var, None)
    (home / "airflow").mkdir(parents=True, exist_ok=True)
    sys.path.insert(0, str(ROOT))
    import logging

    logging.basicConfig(level=logging.WARNING)
    from airflow.dag_processing.dagbag import DagBag
    from airflow.utils import db

    db.resetdb()
    bag = DagBag(dag_folder=str(ROOT / "dags"))
    if bag.import_errors:
        raise SystemExit(f"DAG import errors: {bag.import_errors}")
    print(f"» drift demo in {home} (MLflow: sqlite:///{home / 'mlflow.db'})")
    # Airflow's dag.test logs a lot to stdout: the scenario's own lines start with "» ".
    run_scenario(bag.dags, say=lambda m: print("\n".join("» " + line for line in m.splitlines()), flush=True))


if __name__ == "__main__":
    main()
