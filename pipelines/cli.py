"""`python -m pipelines <command>`: feed data, run a project without Airflow, show status, validate files."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import sys
from pathlib import Path
from typing import Any


def _date(s: str) -> dt.date:
    try:
        return dt.date.fromisoformat(s)
    except ValueError as e:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {s!r}") from e


def _positive(s: str) -> int:
    v = int(s)
    if v < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {v}")
    return v


def cmd_feed(a: argparse.Namespace) -> int:
    from pipelines.config import load_project
    from pipelines.feed import feed_from_csv, feed_synthetic
    from pipelines.storage import open_lake

    cfg, lake = load_project(a.project), open_lake()
    if a.from_csv:
        if a.drift_from or a.rows_per_day:
            raise SystemExit("--from-csv takes its rows from the file: --drift-from/--rows-per-day do not apply")
        r = feed_from_csv(lake, cfg, Path(a.from_csv), a.start, a.end, seed=a.seed, overwrite=a.overwrite)
    else:
        r = feed_synthetic(lake, cfg, a.start, a.end, rows_per_day=a.rows_per_day, seed=a.seed,
                           drift_from=a.drift_from, overwrite=a.overwrite)
    print(f"{cfg.name}: wrote {r.partitions} partitions, {r.rows} rows ({r.first}..{r.last}) to {lake.uri('raw/' + cfg.name + '/')}")
    return 0


def cmd_run(a: argparse.Namespace) -> int:
    from pipelines.steps import RunContext, run_all

    ctx = RunContext(project=a.project, as_of=a.date, interval_start=a.date - dt.timedelta(days=2), dag_id="cli",
                     run_id=f"cli__{a.date.isoformat()}", n_trials=a.n_trials, timeout_minutes=a.timeout_minutes,
                     window_days=a.window_days, promote=not a.no_promote)
    out = run_all(ctx)
    r = out["register"]
    print(f"{a.project} as of {a.date}: v{r['version']} {r['decision']}; champion v{r['champion']}; "
          f"test {out['evaluate']['primary']:.4f}; drift {out['drift']['status']}")
    return 0


def _status_metrics(cfg: Any) -> tuple[str, ...]:
    if cfg.regression:
        return ("rmse", "mae", "r2", "mape")
    extra = ("net_benefit", "roi") if cfg.threshold.cost is not None else ()
    return (cfg.primary_metric, "pr_auc", "f1", "accuracy", *extra)


def status_rows(project: str) -> list[dict[str, Any]]:
    from pipelines import tracking
    from pipelines.config import load_project

    cfg = load_project(project)
    rows = []
    for alias in (tracking.CHAMPION, tracking.CHALLENGER, tracking.PREVIOUS):
        v = tracking.alias_version(project, alias)
        if v is None:
            rows.append({"alias": alias, "version": None})
            continue
        m = tracking.run_info(v.run_id)["metrics"]
        rows.append({
            "alias": alias, "version": v.version, "as_of": v.tags.get("as_of"), "decision": v.tags.get("decision"),
            "reason": v.tags.get("decision_reason"), "family": v.tags.get("family"),
            "threshold": v.tags.get("mlops.threshold"),
            **{k: m.get(f"test_{k}") for k in _status_metrics(cfg)},
        })
    return rows


def cmd_status(a: argparse.Namespace) -> int:
    rows = status_rows(a.project)
    if a.json:
        print(json.dumps(rows, indent=2, default=str))
        return 0
    print(f"{a.project}:")
    for r in rows:
        if r["version"] is None:
            print(f"  {r['alias']:<10} (not set)")
            continue
        metrics = " ".join(f"{k}={r[k]:,.4f}" if abs(r[k]) < 100 else f"{k}={r[k]:,.0f}"
                           for k in ("roc_auc", "pr_auc", "f1", "accuracy", "net_benefit", "roi", "rmse", "mae", "r2", "mape")
                           if isinstance(r.get(k), float))
        thr = f" thr={r['threshold']}" if r["threshold"] else ""
        print(f"  {r['alias']:<10} v{r['version']:<4} as_of={r['as_of']} {r['family']}{thr} {metrics}")
        print(f"  {'':<10} decision={r['decision']}: {r['reason']}")
    return 0


def cmd_validate(a: argparse.Namespace) -> int:
    from pipelines.config import load_project
    from pipelines.validate import read_table, validate_frame

    cfg = load_project(a.project)
    outcome = validate_frame(read_table(Path(a.input)), cfg, raise_on_failure=False)
    if outcome.success:
        print(f"OK: {outcome.evaluated} expectations passed on {outcome.rows} rows ({cfg.validation.suite})")
        return 0
    print(f"FAILED: {len(outcome.failed)} of {outcome.evaluated} expectations failed on {outcome.rows} rows ({cfg.validation.suite}):")
    for f in outcome.failed:
        print(f"  - {f}")
    return 1


def cmd_promote(a: argparse.Namespace) -> int:
    from pipelines.config import load_project
    from pipelines.governance import promote_manually
    from pipelines.storage import open_lake

    r = promote_manually(load_project(a.project), open_lake(), str(a.version), a.reason, a.by)
    print(f"{a.project}: champion v{r['from']} -> v{r['version']} (manual, by {r['by']}: {r['reason']}); previous = v{r['from']}")
    return 0


def cmd_rollback(a: argparse.Namespace) -> int:
    from pipelines.config import load_project
    from pipelines.governance import rollback
    from pipelines.storage import open_lake

    r = rollback(load_project(a.project), open_lake(), a.reason, a.by)
    print(f"{a.project}: rolled back champion v{r['from']} -> v{r['version']} (by {r['by']}: {r['reason']}); previous = v{r['from']}")
    return 0


def cmd_compare(a: argparse.Namespace) -> int:
    from pipelines.config import load_project
    from pipelines.governance import compare, format_compare
    from pipelines.storage import open_lake

    res = compare(load_project(a.project), open_lake(), a.a, a.b)
    print(json.dumps(res, indent=2, default=str) if a.json else format_compare(res))
    return 0


def cmd_serve(a: argparse.Namespace) -> int:
    from pipelines.serving import serve

    serve(a.host, a.port)
    return 0


def cmd_create_databases(a: argparse.Namespace) -> int:
    from pipelines.databases import create_databases

    dbs = create_databases(a.admin_dsn, a.prefix, roles=a.roles)
    print(f"# databases ready: {', '.join(dbs.names)}")
    print(f"export AIRFLOW__DATABASE__SQL_ALCHEMY_CONN={dbs.airflow}")
    print(f"export OPTUNA_STORAGE={dbs.optuna}")
    print(f"# mlflow server --backend-store-uri {dbs.mlflow} ...")
    return 0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m pipelines", description=__doc__)
    p.add_argument("-v", "--verbose", action="store_true")
    sub = p.add_subparsers(dest="command", required=True)

    f = sub.add_parser("feed", help="write daily raw partitions (synthetic or from a CSV) into the lake")
    f.add_argument("project")
    f.add_argument("--start", type=_date, required=True)
    f.add_argument("--end", type=_date, required=True)
    f.add_argument("--rows-per-day", type=_positive)
    f.add_argument("--seed", type=int, default=0)
    f.add_argument("--drift-from", type=_date, help="shift distributions (e.g. older customers, more Germany) from this date on")
    f.add_argument("--from-csv", help="spread this CSV's rows across the date range (seeded) instead of generating")
    f.add_argument("--overwrite", action="store_true", help="replace existing partitions (refused by default)")
    f.set_defaults(fn=cmd_feed)

    r = sub.add_parser("run", help="run every step in-process for one as-of date (no Airflow)")
    r.add_argument("project")
    r.add_argument("--date", type=_date, required=True, help="as-of date: the data interval's end")
    r.add_argument("--n-trials", type=_positive)
    r.add_argument("--timeout-minutes", type=float)
    r.add_argument("--window-days", type=_positive)
    r.add_argument("--no-promote", action="store_true")
    r.set_defaults(fn=cmd_run)

    s = sub.add_parser("status", help="champion, challenger and previous with key metrics and decisions")
    s.add_argument("project")
    s.add_argument("--json", action="store_true")
    s.set_defaults(fn=cmd_status)

    v = sub.add_parser("validate", help="run the project's GX suite on a CSV or parquet file")
    v.add_argument("project")
    v.add_argument("--input", required=True)
    v.set_defaults(fn=cmd_validate)
    pr = sub.add_parser("promote", help="manual override: make VERSION the champion (recorded with who and why)")
    pr.add_argument("project")
    pr.add_argument("--version", required=True, type=_positive)
    pr.add_argument("--reason", required=True)
    pr.add_argument("--by", help="who (default: $MLOPS_USER or the login name)")
    pr.set_defaults(fn=cmd_promote)

    rb = sub.add_parser("rollback", help="champion <- previous (recorded)")
    rb.add_argument("project")
    rb.add_argument("--reason", default="manual rollback")
    rb.add_argument("--by")
    rb.set_defaults(fn=cmd_rollback)

    cp = sub.add_parser("compare", help="two versions side by side: global and per-slice metrics, deltas, CIs")
    cp.add_argument("project")
    cp.add_argument("--a", default="champion", help="alias or version number (default champion)")
    cp.add_argument("--b", default="challenger", help="alias or version number (default challenger)")
    cp.add_argument("--json", action="store_true")
    cp.set_defaults(fn=cmd_compare)

    sv = sub.add_parser("serve", help="HTTP prediction service for every project's champion (follows the alias)")
    sv.add_argument("--host", default="127.0.0.1")
    sv.add_argument("--port", type=int, default=8000)
    sv.set_defaults(fn=cmd_serve)

    c = sub.add_parser("create-databases", help="create one Postgres database per store (airflow, mlflow, optuna)")
    c.add_argument("--admin-dsn", default="postgresql://postgres@127.0.0.1:5432/postgres")
    c.add_argument("--prefix", default="mlops")
    c.add_argument("--roles", action="store_true", help="also a login role per database (password: MLOPS_DB_PASSWORD)")
    c.set_defaults(fn=cmd_create_databases)
    return p


def main(argv: list[str] | None = None) -> int:
    a = parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if a.verbose else logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for noisy in ("great_expectations", "mlflow", "alembic", "urllib3", "botocore", "matplotlib", "evidently"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    from pipelines.config import ProjectConfigError
    from pipelines.databases import DatabaseSetupError
    from pipelines.governance import GovernanceError
    from pipelines.extract import EmptyWindowError, ExtractError
    from pipelines.feed import FeedError
    from pipelines.storage import LakeError
    from pipelines.validate import DataValidationError

    try:
        return int(a.fn(a))
    except (ProjectConfigError, DatabaseSetupError, GovernanceError, FeedError, LakeError, EmptyWindowError, ExtractError, DataValidationError, FileNotFoundError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
