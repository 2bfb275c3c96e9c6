"""`python -m pipelines <command>`: onboard and feed data, run a project without Airflow, show status,
validate files, operate the registry, serve. The composition root for the command line: settings
and stores are built once here and handed to the commands."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import sys
from pathlib import Path
from typing import Any

from pipelines.settings import Settings


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


def _resources(s: Settings) -> Any:
    from pipelines.resources import Resources

    return Resources.from_settings(s)


def _cfg(s: Settings, project: str) -> Any:
    from pipelines.config import load_project

    return load_project(project, s)


def cmd_feed(a: argparse.Namespace, s: Settings) -> int:
    from pipelines.feed import feed_from_csv, feed_synthetic
    from pipelines.storage import open_lake

    cfg, lake = _cfg(s, a.project), open_lake(s)
    if a.from_csv:
        if a.drift_from or a.rows_per_day:
            raise SystemExit("--from-csv takes its rows from the file: --drift-from/--rows-per-day do not apply")
        validate = None
        if not a.no_validate:
            from pipelines.validate import validate_frame

            def validate(df: Any) -> Any:
                return validate_frame(df, cfg, s.expectations_dir)

        r = feed_from_csv(lake, cfg, Path(a.from_csv), a.start, a.end, seed=a.seed, overwrite=a.overwrite, validate=validate)
    else:
        r = feed_synthetic(lake, cfg, a.start, a.end, rows_per_day=a.rows_per_day, seed=a.seed, drift_from=a.drift_from,
                           overwrite=a.overwrite)
    print(f"{cfg.name}: wrote {r.partitions} partitions, {r.rows} rows ({r.first}..{r.last}) to {lake.uri('raw/' + cfg.name + '/')}")
    return 0


def cmd_init(a: argparse.Namespace, s: Settings) -> int:
    from pipelines.onboarding import init_project

    yaml_path, suite_path, dropped = init_project(a.name, Path(a.from_csv), target=a.target, positive=a.positive,
                                                  time_column=a.time_column, projects_dir=s.projects_dir,
                                                  expectations_dir=s.expectations_dir, start=a.start, tolerance=a.tolerance,
                                                  overwrite=a.overwrite)
    print(f"drafted {yaml_path} and {suite_path} (review both in git)")
    for line in dropped:
        print(f"  left out {line}")
    if a.no_import:
        return 0
    ns = argparse.Namespace(project=a.name, from_csv=a.from_csv, start=a.start, end=a.end, seed=0, overwrite=False, no_validate=False,
                            drift_from=None, rows_per_day=None)
    return cmd_feed(ns, s)


def cmd_run(a: argparse.Namespace, s: Settings) -> int:
    from pipelines.contracts import RunSpec
    from pipelines.steps import run_all

    cfg = _cfg(s, a.project)
    run = RunSpec(project=a.project, as_of=a.date, interval_start=a.date - dt.timedelta(days=cfg.dag.schedule_days), dag_id="cli",
                  run_id=f"cli__{a.date.isoformat()}", n_trials=a.n_trials, timeout_minutes=a.timeout_minutes, window_days=a.window_days,
                  promote=not a.no_promote, optuna_workers=a.optuna_workers)
    out = run_all(_resources(s), cfg, run)
    r, ev = out["register"], out["evaluate"]
    print(f"{a.project} as of {a.date}: v{r.version} {r.decision}; champion v{r.champion}; test {cfg.primary_metric} "
          f"{ev.primary if ev.primary is not None else float('nan'):.4f}; drift {out['drift'].status}")
    return 0


def _status_metrics(cfg: Any) -> tuple[str, ...]:
    if cfg.regression:
        return ("rmse", "mae", "r2", "mape")
    extra = ("net_benefit", "roi") if cfg.threshold.cost is not None else ()
    return (cfg.primary_metric, "pr_auc", "f1", "accuracy", *extra)


def status_rows(res: Any, cfg: Any) -> list[dict[str, Any]]:
    from pipelines import names

    rows = []
    aliases = res.registry.aliases(cfg.name)
    for alias in names.ALIASES:
        if alias not in aliases:
            rows.append({"alias": alias, "version": None})
            continue
        v = res.registry.version(cfg.name, aliases[alias])
        m = res.registry.run(v.run_id).metrics
        rows.append({"alias": alias, "version": v.version, "as_of": v.tags.get(names.AS_OF), "decision": v.tags.get(names.DECISION),
                     "reason": v.tags.get(names.DECISION_REASON), "family": v.tags.get(names.FAMILY), "threshold": v.tags.get(names.THRESHOLD),
                     **{k: m.get(f"test_{k}") for k in _status_metrics(cfg)}})
    return rows


def cmd_status(a: argparse.Namespace, s: Settings) -> int:
    rows = status_rows(_resources(s), _cfg(s, a.project))
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


def cmd_validate(a: argparse.Namespace, s: Settings) -> int:
    import time

    from pipelines.validate import read_table, validate_frame

    started = time.monotonic()
    cfg = _cfg(s, a.project)
    worst = 0
    for path in a.input:
        outcome = validate_frame(read_table(Path(path)), cfg, s.expectations_dir, raise_on_failure=False)
        if outcome.success:
            print(f"OK {path}: {outcome.evaluated} expectations passed on {outcome.rows} rows ({cfg.validation.suite}, {outcome.seconds:.1f}s)")
            continue
        worst = 1
        print(f"FAILED {path}: {len(outcome.failed)} of {outcome.evaluated} expectations failed on {outcome.rows} rows "
              f"({cfg.validation.suite}):")
        for f in outcome.failed:
            print(f"  - {f}")
    print(f"({len(a.input)} file(s) in {time.monotonic() - started:.1f}s, imports included)", file=sys.stderr)
    return worst


def cmd_promote(a: argparse.Namespace, s: Settings) -> int:
    from pipelines.operations import promote_manually

    r = promote_manually(_resources(s), _cfg(s, a.project), str(a.version), a.reason, a.by)
    print(f"{a.project}: champion v{r['from']} -> v{r['version']} (manual, by {r['by']}: {r['reason']}); previous = v{r['from']}")
    return 0


def cmd_rollback(a: argparse.Namespace, s: Settings) -> int:
    from pipelines.operations import rollback

    r = rollback(_resources(s), _cfg(s, a.project), a.reason, a.by)
    print(f"{a.project}: rolled back champion v{r['from']} -> v{r['version']} (by {r['by']}: {r['reason']}); previous = v{r['from']}")
    return 0


def cmd_compare(a: argparse.Namespace, s: Settings) -> int:
    from pipelines.operations import compare, format_compare

    ev = compare(_resources(s), _cfg(s, a.project), a.a, a.b)
    print(ev.model_dump_json(indent=2) if a.json else format_compare(ev, a.a, a.b))
    return 0


def cmd_serve(a: argparse.Namespace, s: Settings) -> int:
    from pipelines.serving import serve

    serve(s, a.host, a.port, insecure=a.insecure)
    return 0


def cmd_create_databases(a: argparse.Namespace, s: Settings) -> int:
    from pipelines.databases import create_databases

    dbs = create_databases(a.admin_dsn, a.prefix, roles=a.roles, password=s.db_password)
    print(f"# databases ready: {', '.join(dbs.names)}" + (" (role passwords: MLOPS_DB_PASSWORD or generated; not printed)" if a.roles else ""))
    if a.env_file:
        dbs.write_env(Path(a.env_file))
        print(f"# connection URLs (with credentials) written to {a.env_file} (mode 600)")
    else:
        print(f"export AIRFLOW__DATABASE__SQL_ALCHEMY_CONN={dbs.redacted('airflow')}")
        print(f"export OPTUNA_STORAGE={dbs.redacted('optuna')}")
        print(f"# mlflow server --backend-store-uri {dbs.redacted('mlflow')} ...   (pass --env-file FILE for the full URLs)")
    return 0


def cmd_gen_env(a: argparse.Namespace, s: Settings) -> int:
    from pipelines.secrets import write_env_file

    path = write_env_file(Path(a.output), overwrite=a.overwrite)
    print(f"wrote {path} (mode 600): random passwords, JWT secret and Fernet key; it is git-ignored, keep it out of images")
    return 0


def _data_commands(sub: Any) -> None:
    f = sub.add_parser("feed", help="write daily raw partitions (synthetic or from a CSV) into the lake")
    f.add_argument("project")
    f.add_argument("--start", type=_date, required=True)
    f.add_argument("--end", type=_date, required=True)
    f.add_argument("--rows-per-day", type=_positive)
    f.add_argument("--seed", type=int, default=0)
    f.add_argument("--drift-from", type=_date, help="shift distributions (e.g. older customers, more Germany) from this date on")
    f.add_argument("--from-csv", help="spread this CSV's rows across the date range (seeded) instead of generating")
    f.add_argument("--no-validate", action="store_true", help="import a CSV without running the project's suite on it first")
    f.add_argument("--overwrite", action="store_true", help="replace existing partitions (refused by default)")
    f.set_defaults(fn=cmd_feed)

    i = sub.add_parser("init", help="profile a CSV, draft a project YAML + GX suite, import the data")
    i.add_argument("name")
    i.add_argument("--from-csv", required=True)
    i.add_argument("--target", required=True)
    i.add_argument("--positive", help="the positive label of a binary target as it appears in the file (e.g. Yes)")
    i.add_argument("--time-column", help="split on this column's time order (newest rows are the test set)")
    i.add_argument("--start", type=_date, default=dt.date.today() - dt.timedelta(days=60), help="first day of the imported range")
    i.add_argument("--end", type=_date, default=dt.date.today() - dt.timedelta(days=1), help="last day of the imported range")
    i.add_argument("--tolerance", type=float, default=0.3, help="relative tolerance of category shares and flag rates (0.3)")
    i.add_argument("--no-import", action="store_true", help="only draft the files")
    i.add_argument("--overwrite", action="store_true", help="redraft existing files")
    i.set_defaults(fn=cmd_init)

    v = sub.add_parser("validate", help="run the project's GX suite on CSV or parquet files")
    v.add_argument("project")
    v.add_argument("--input", required=True, nargs="+")
    v.set_defaults(fn=cmd_validate)


def _run_commands(sub: Any) -> None:
    r = sub.add_parser("run", help="run every step in-process for one as-of date (no Airflow)")
    r.add_argument("project")
    r.add_argument("--date", type=_date, required=True, help="as-of date: the data interval's end")
    r.add_argument("--n-trials", type=_positive)
    r.add_argument("--timeout-minutes", type=float)
    r.add_argument("--window-days", type=_positive)
    r.add_argument("--optuna-workers", type=_positive, default=1)
    r.add_argument("--no-promote", action="store_true")
    r.set_defaults(fn=cmd_run)

    sv = sub.add_parser("serve", help="HTTP prediction service for every project's champion (follows the alias)")
    sv.add_argument("--host", default="127.0.0.1")
    sv.add_argument("--port", type=int, default=8000)
    sv.add_argument("--insecure", action="store_true", help="serve WITHOUT a bearer token (loopback hosts only; local trials)")
    sv.set_defaults(fn=cmd_serve)


def _registry_commands(sub: Any) -> None:
    st = sub.add_parser("status", help="champion, challenger and previous with key metrics and decisions")
    st.add_argument("project")
    st.add_argument("--json", action="store_true")
    st.set_defaults(fn=cmd_status)

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


def _setup_commands(sub: Any) -> None:
    c = sub.add_parser("create-databases", help="create one Postgres database per store (airflow, mlflow, optuna)")
    c.add_argument("--admin-dsn", default="postgresql://postgres@127.0.0.1:5432/postgres")
    c.add_argument("--prefix", default="mlops")
    c.add_argument("--roles", action="store_true", help="also a login role per database (password: MLOPS_DB_PASSWORD or generated)")
    c.add_argument("--env-file", help="write the connection URLs (with credentials) to this file instead of printing them")
    c.set_defaults(fn=cmd_create_databases)

    g = sub.add_parser("gen-env", help="write a .env with random secrets for the compose stack")
    g.add_argument("--output", default=".env")
    g.add_argument("--overwrite", action="store_true")
    g.set_defaults(fn=cmd_gen_env)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m pipelines", description=__doc__)
    p.add_argument("-v", "--verbose", action="store_true")
    sub = p.add_subparsers(dest="command", required=True)
    for add in (_data_commands, _run_commands, _registry_commands, _setup_commands):
        add(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    a = parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if a.verbose else logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for noisy in ("great_expectations", "mlflow", "alembic", "urllib3", "botocore", "matplotlib", "evidently", "httpx"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    from pipelines.config import ProjectConfigError
    from pipelines.redaction import Redactor, install
    from pipelines.settings import SettingsError

    try:
        s = Settings.from_env()
    except SettingsError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    install(Redactor(s.secrets))
    try:
        return int(a.fn(a, s))
    except Exception as e:
        if not isinstance(e, (ProjectConfigError, FileNotFoundError, *_expected_errors())):
            raise
        print(f"error: {Redactor(s.secrets)(str(e))}", file=sys.stderr)
        return 2


def _expected_errors() -> tuple[type[BaseException], ...]:
    """User-facing errors that end the command with exit 2 and one clear line (no traceback)."""
    from pipelines.databases import DatabaseSetupError
    from pipelines.extract import EmptyWindowError, ExtractError
    from pipelines.feed import FeedError
    from pipelines.locks import LockTimeout
    from pipelines.onboarding import OnboardingError
    from pipelines.operations import GovernanceError
    from pipelines.search import SearchError
    from pipelines.serving import InsecureServingError
    from pipelines.storage import LakeError
    from pipelines.targets import TargetError
    from pipelines.tracking import RegistryError
    from pipelines.validate import DataValidationError

    return (DatabaseSetupError, GovernanceError, FeedError, LakeError, EmptyWindowError, ExtractError, DataValidationError, OnboardingError,
            LockTimeout, RegistryError, SearchError, TargetError, InsecureServingError, FileExistsError)
