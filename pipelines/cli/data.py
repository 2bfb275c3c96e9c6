"""Data commands: `feed` (synthetic or a CSV, validated first), `init` (onboard a CSV) and `validate`.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from pathlib import Path
from typing import Any

from pipelines.cli.args import date_arg, positive_int, project_of
from pipelines.config.settings import Settings


def cmd_feed(a: argparse.Namespace, s: Settings) -> int:
    from pipelines.resources.lake import open_lake
    from pipelines.steps.feed import feed_from_csv, feed_synthetic

    cfg, lake = project_of(s, a.project), open_lake(s)
    if a.from_csv:
        if a.drift_from or a.rows_per_day or a.concept_shift_from:
            raise SystemExit("--from-csv takes its rows from the file: --drift-from/--concept-shift-from/--rows-per-day do not apply")
        validate = None
        if not a.no_validate:
            from pipelines.domain.validation import validate_frame

            def validate(df: Any) -> Any:
                return validate_frame(df, cfg, s.expectations_dir)

        r = feed_from_csv(lake, cfg, Path(a.from_csv), a.start, a.end, seed=a.seed, overwrite=a.overwrite, validate=validate)
    else:
        r = feed_synthetic(lake, cfg, a.start, a.end, rows_per_day=a.rows_per_day, seed=a.seed, drift_from=a.drift_from,
                           concept_shift_from=a.concept_shift_from, overwrite=a.overwrite)
    print(f"{cfg.name}: wrote {r.partitions} partitions, {r.rows} rows ({r.first}..{r.last}) to {lake.uri('raw/' + cfg.name + '/')}")
    return 0


def cmd_init(a: argparse.Namespace, s: Settings) -> int:
    from pipelines.onboarding import init_project

    yaml_path, suite_path, dropped = init_project(a.name, Path(a.from_csv), target=a.target, positive=a.positive,
                                                  time_column=a.time_column, projects_dir=s.projects_dir,
                                                  expectations_dir=s.expectations_dir, start=a.start, tolerance=a.tolerance,
                                                  days=(a.end - a.start).days + 1, batch_rows=a.batch_rows,
                                                  overwrite=a.overwrite)
    print(f"drafted {yaml_path} and {suite_path} (review both in git)")
    for line in dropped:
        print(f"  left out {line}")
    if a.no_import:
        return 0
    ns = argparse.Namespace(project=a.name, from_csv=a.from_csv, start=a.start, end=a.end, seed=0, overwrite=False, no_validate=False,
                            drift_from=None, concept_shift_from=None, rows_per_day=None)
    return cmd_feed(ns, s)


def cmd_validate(a: argparse.Namespace, s: Settings) -> int:
    import time

    from pipelines.domain.validation import read_table, validate_frame

    started = time.monotonic()
    cfg = project_of(s, a.project)
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


def add_data_commands(sub: Any) -> None:
    f = sub.add_parser("feed", help="write daily raw partitions (synthetic or from a CSV) into the lake")
    f.add_argument("project")
    f.add_argument("--start", type=date_arg, required=True)
    f.add_argument("--end", type=date_arg, required=True)
    f.add_argument("--rows-per-day", type=positive_int)
    f.add_argument("--seed", type=int, default=0)
    f.add_argument("--drift-from", type=date_arg, help="shift distributions (e.g. older customers, more Germany) from this date on")
    f.add_argument("--concept-shift-from", type=date_arg, help="from this date on the label's dependence on the features changes, "
                   "their distributions do not (bankchurn): what input-drift checks cannot see")
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
    i.add_argument("--start", type=date_arg, default=dt.date.today() - dt.timedelta(days=60), help="first day of the imported range")
    i.add_argument("--end", type=date_arg, default=dt.date.today() - dt.timedelta(days=1), help="last day of the imported range")
    i.add_argument("--tolerance", type=float, default=0.3, help="relative tolerance of category shares and flag rates (0.3)")
    i.add_argument("--batch-rows", type=positive_int,
                   help="rows of one daily partition the suite's distribution bounds are sized for (default: the CSV over the days)")
    i.add_argument("--no-import", action="store_true", help="only draft the files")
    i.add_argument("--overwrite", action="store_true", help="redraft existing files")
    i.set_defaults(fn=cmd_init)

    v = sub.add_parser("validate", help="run the project's GX suite on CSV or parquet files")
    v.add_argument("project")
    v.add_argument("--input", required=True, nargs="+")
    v.set_defaults(fn=cmd_validate)
