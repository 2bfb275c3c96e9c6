"""What the shipped suites refuse and what they let through (make bench-validation -> benchmarks/validation.md).

Per project, on one machine in one run, with the suite in expectations/ as `validate` uses it:

* the corruption corpus (tests/validation_corpus.py): each break applied to a clean daily
  partition; refused or not, and the first expectation that refused it with its observed value;
* false refusals: 200 clean synthetic daily partitions (the feed's own days, +-10% rows), 200
  drifted ones (the feed's planted drift: the drift monitor's to report, shown for information),
  the real public file where there is one (whole, and spread over 60 daily partitions as
  `feed --from-csv` writes it);
* breaks below what one day can show (tests/validation_corpus.SUBTLE), refused on how many of 20
  days: what a suite sized for one daily partition gives up to refuse no clean day.
"""

from __future__ import annotations

import datetime as dt
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pipelines.config import load_project  # noqa: E402
from pipelines.domain.rows import derive_target  # noqa: E402
from pipelines.domain.validation import run_suite  # noqa: E402
from tests.validation_corpus import NUMERIC, SUBTLE, corpus, day  # noqa: E402

PROJECTS = ("bankchurn", "telecom", "carvision", "loanrisk")
REAL = {"bankchurn": "Churn_Modelling.csv", "telecom": "users_behavior.csv"}
CLEAN_DAYS = int(sys.argv[1]) if len(sys.argv) > 1 else 200


def _first(outcome: object) -> str:
    f = outcome.failed[0]  # type: ignore[attr-defined]
    text = str(f).replace("|", "\\|")
    return text if len(text) <= 150 else text[:147] + "..."


def project_section(name: str) -> tuple[list[str], dict[str, object]]:
    cfg = load_project(name)
    suite = ROOT / "expectations" / cfg.validation.suite
    lines = [f"## {name}\n", f"Suite `{suite.relative_to(ROOT)}`: {len(json.loads(suite.read_text())['expectations'])} "
                             f"expectations, sized for {round(0.9 * cfg.feed.rows_per_day)}-row days.\n"]
    base = day(cfg, 0)
    rows, refused, numeric = [], 0, [0, 0]
    for c in corpus(name):
        out = run_suite(c.apply(base.copy()), suite)
        refused += not out.success
        if c.kind == NUMERIC:
            numeric[0] += 1
            numeric[1] += not out.success
        rows.append(f"| {c.name} | {c.kind} | {'refused' if not out.success else '**accepted**'} | "
                    f"{_first(out) if out.failed else '-'} |")
    lines += [f"Corpus: **{refused} of {len(rows)} refused** ({numeric[1]} of {numeric[0]} numeric-distribution breaks), each on "
              f"a clean {len(base)}-row day.\n", "| break | kind | result | first expectation that refused it: observed |",
              "|---|---|---|---|", *rows, ""]
    false = {}
    for label, drifted in (("clean", False), ("drifted", True)):
        bad = []
        for i in range(CLEAN_DAYS):
            out = run_suite(day(cfg, i + 1, drifted=drifted), suite)
            if not out.success:
                bad.append(f"day {i + 1}: {_first(out)}")
        false[label] = bad
    lines.append(f"False refusals: **{len(false['clean'])} of {CLEAN_DAYS}** clean synthetic days; {len(false['drifted'])} of "
                 f"{CLEAN_DAYS} days with the feed's planted drift (for information: drift is the monitor's to report).")
    lines += [f"- drifted {b}" for b in false["drifted"][:3]] + [f"- clean {b}" for b in false["clean"][:5]]
    real = None
    if name in REAL:
        df = derive_target(cfg, pd.read_csv(ROOT / "data" / REAL[name]))[0]
        whole = run_suite(df, suite)
        order = np.random.default_rng(0).permutation(len(df))
        parts = [df.iloc[np.sort(idx)] for idx in np.array_split(order, 60)]
        bad_parts = [i for i, p in enumerate(parts) if not run_suite(p, suite).success]
        real = (whole.success, len(bad_parts))
        lines.append(f"Real file `data/{REAL[name]}` ({len(df):,} rows): whole file {'accepted' if whole.success else 'REFUSED'}; "
                     f"spread over 60 daily partitions ({len(parts[0])} rows each): {len(bad_parts)} of 60 refused.")
    lines.append("")
    subtle = []
    for c in SUBTLE.get(name, []):
        hits = sum(not run_suite(c.apply(day(cfg, i)), suite).success for i in range(20))
        subtle.append(f"| {c.name} | {hits} of 20 |")
    if subtle:
        lines += ["Below what one day can show (not in the corpus):\n", "| break | days refused |", "|---|---|", *subtle, ""]
    return lines, {"corpus": (refused, len(rows)), "numeric": tuple(numeric), "false": len(false["clean"]),
                   "drifted": len(false["drifted"]), "real": real}


def main() -> None:
    started = time.time()
    run_suite(day(load_project("telecom"), 0), ROOT / "expectations" / "telecom.json")  # import GX once, outside the figures
    head = [
        "# Validation: what the suites refuse\n",
        f"Measured {dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M} UTC on this machine ({platform.machine()}, 2 cores) by "
        f"`make bench-validation` ({Path(__file__).name}).\n",
        __doc__.split("\n\n", 1)[1].strip(), "",
        "How the bounds are drawn (the rule is in each suite's `meta`, written by `pipelines init` and "
        "`scripts/draft_shipped_suites.py`): every statistic may move by 4.5 of its standard errors at the size of one daily "
        "partition (resampled from the profiled data for quantiles, standard deviation and distinct values; binomial for "
        "shares of categories, codes, flags, zeros and nulls), widened for real drift: shares x(1 - 0.3)..x(1 + 0.6) + 0.02, "
        "quantiles by 1.5 IQR, standard deviation and distinct values down to half. A clean day crosses one bound about once "
        "in 300,000 days; a larger batch (the training window) varies less and passes the same bounds.\n",
    ]
    body, summary = [], []
    for name in PROJECTS:
        lines, facts = project_section(name)
        body += lines
        r, n = facts["corpus"]  # type: ignore[misc]
        nr, nn = facts["numeric"]  # type: ignore[misc]
        real = facts["real"]
        summary.append(f"| {name} | {r} / {n} | {nr} / {nn} | {facts['false']} / {CLEAN_DAYS} | {facts['drifted']} / {CLEAN_DAYS} | "
                       + ("-" if real is None else f"{'accepted' if real[0] else 'REFUSED'}; {real[1]} / 60 days") + " |")
    table = ["| project | corpus refused | numeric breaks refused | false refusals, clean days | drifted days refused | real file |",
             "|---|---:|---:|---:|---:|---|", *summary, ""]
    text = "\n".join(head + table + body + [f"Total wall time: {time.time() - started:.0f} s."]) + "\n"
    (ROOT / "benchmarks" / "validation.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
