"""Outcome commands: `outcomes import` (an outcome file, validated, stored under its arrival day) and
`outcomes report` (the day's realized metrics of every served version, the shadow pair, the decay rule).
"""

from __future__ import annotations

import argparse
import datetime as dt
from pathlib import Path
from typing import Any

from pipelines.cli.args import date_arg, project_of, resources_of
from pipelines.config.settings import Settings


def _today() -> dt.date:
    return dt.datetime.now(dt.timezone.utc).date()


def cmd_outcomes_import(a: argparse.Namespace, s: Settings) -> int:
    from pipelines.domain.validation import read_table
    from pipelines.steps.outcomes import import_outcomes

    cfg = project_of(s, a.project)
    uri, written, n = import_outcomes(resources_of(s).lake, cfg, read_table(Path(a.input)), a.arrived or _today(), s.expectations_dir)
    print(f"{a.project}: {n:,} outcomes {'stored' if written else 'already stored (same file)'} as arrived {a.arrived or _today()}: {uri}")
    return 0


def cmd_outcomes_report(a: argparse.Namespace, s: Settings) -> int:
    from pipelines.domain.outcomes import realized_markdown
    from pipelines.steps.outcomes import realized

    rep, uri = realized(resources_of(s), project_of(s, a.project), a.as_of or _today())
    print(realized_markdown(rep))
    print(f"report: {uri}")
    return 1 if rep.decayed and a.fail_on_decay else 0


def add_outcomes_commands(sub: Any) -> None:
    oc = sub.add_parser("outcomes", help="late outcomes: import them, judge the served predictions on them")
    ocs = oc.add_subparsers(dest="outcomes_command", required=True)
    im = ocs.add_parser("import", help="validate an outcome file (id + label) and store it under the day it arrived")
    im.add_argument("project")
    im.add_argument("--input", required=True, help="CSV or parquet with the project's id column and target")
    im.add_argument("--arrived", type=date_arg, help="the day these outcomes arrived (default: today, UTC)")
    im.set_defaults(fn=cmd_outcomes_import)
    rp = ocs.add_parser("report", help="realized metrics per served version as of a day (write-once report)")
    rp.add_argument("project")
    rp.add_argument("--as-of", type=date_arg, help="judge with the outcomes that arrived before this day (default: today, UTC)")
    rp.add_argument("--fail-on-decay", action="store_true", help="exit 1 when the decay rule fires")
    rp.set_defaults(fn=cmd_outcomes_report)
