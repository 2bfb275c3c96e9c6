"""Redraft the shipped projects' GX suites with `pipelines init`'s profiler (then review the diff in git).

    python scripts/draft_shipped_suites.py [project ...]

bankchurn and telecom are profiled on the real public CSVs in data/; carvision and loanrisk (no
public copy here) on 60 days of their calibrated synthetic feeds. Every feature stays a feature
(the project YAML decides that, not the profiler); the suite gains the distribution checks
(shares of categories, codes and flags; quantiles, standard deviation, zeros and distinct values
of numeric columns) on top of columns, types, nulls, ranges and value sets, sized for one daily
partition of the project's feed (90% of `feed.rows_per_day`: the feed varies +-10% a day).
Hand-reviewed checks that a profiler cannot know (known physical ranges, means: the ones without a
drafted `check` note) are carried over from the previous suite and win over the drafted ones of
the same kind for the same column.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pipelines.config import load_project  # noqa: E402
from pipelines.config.settings import Settings  # noqa: E402
from pipelines.domain.rows import derive_target  # noqa: E402
from pipelines.domain.synthetic import GENERATORS  # noqa: E402
from pipelines.onboarding import draft_suite, profile, suite_json  # noqa: E402

CSV = {"bankchurn": "Churn_Modelling.csv", "telecom": "users_behavior.csv"}
CARRIED = {"expect_column_mean_to_be_between", "expect_column_values_to_be_between"}


def source(name: str, cfg) -> pd.DataFrame:  # type: ignore[no-untyped-def]
    if name in CSV:
        return pd.read_csv(ROOT / "data" / CSV[name])
    gen = GENERATORS[cfg.feed.generator]
    days = [dt.date(2026, 1, 1) + dt.timedelta(days=i) for i in range(60)]
    frames = [gen(d, cfg.feed.rows_per_day, np.random.default_rng([0, d.toordinal()]), False) for d in days]
    return derive_target(cfg, pd.concat(frames, ignore_index=True))[0]


def main(names: list[str]) -> None:
    s = Settings.from_env()
    for name in names:
        cfg = load_project(name, s)
        df = source(name, cfg)
        time_col = cfg.split.time_column if cfg.split.strategy == "time" else None
        batch = round(0.9 * cfg.feed.rows_per_day)
        cols = profile(df, cfg.target, time_col, keep=set(cfg.input_columns), batch_rows=batch)
        suite = draft_suite(cfg.validation.suite.removesuffix(".json"), cols, rows=len(df), id_column=cfg.id_column)
        doc = json.loads(suite_json(suite))
        path = s.expectations_dir / cfg.validation.suite
        if path.exists():  # hand-reviewed checks of the old suite win over the profiler's guesses
            old = json.loads(path.read_text())
            keep = [e for e in old["expectations"] if e["type"] in CARRIED and "check" not in (e.get("meta") or {})]  # not drafted
            kept = {(e["type"], e["kwargs"].get("column")) for e in keep}
            doc["expectations"] = [e for e in doc["expectations"] if (e["type"], e["kwargs"].get("column")) not in kept] + keep
        path.write_text(json.dumps(doc, indent=2, sort_keys=True) + "\n")
        print(f"{name}: {len(doc['expectations'])} expectations from {len(df)} rows, sized for {batch}-row days -> {path}")


if __name__ == "__main__":
    main(sys.argv[1:] or ["bankchurn", "telecom", "carvision", "loanrisk"])
