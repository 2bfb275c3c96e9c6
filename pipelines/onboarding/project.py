"""The drafted project YAML and `init_project`, which writes both drafts for review in git.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from pipelines.onboarding.profile import ColumnProfile, OnboardingError, default_batch_rows, profile
from pipelines.onboarding.suite import draft_suite, suite_json


def _task(df: pd.DataFrame, target: str, positive: str | None) -> tuple[str, str | None]:
    values = [str(v) for v in pd.unique(df[target].dropna())]
    if len(values) == 2:
        if positive is None:
            pos = next((v for v in ("1", "1.0", "True", "Yes", "yes", "Y") if v in values), None)
            if pos is None:
                raise OnboardingError(f"target {target!r} has labels {sorted(values)}: name the positive one with --positive")
            positive = pos
        if positive not in values:
            raise OnboardingError(f"--positive {positive!r} is not a label of {target!r}: {sorted(values)}")
        return "binary_classification", "1" if positive == "1.0" else positive
    if pd.api.types.is_numeric_dtype(df[target]) and len(values) > 10:
        return "regression", None
    raise OnboardingError(f"target {target!r} has {len(values)} labels ({sorted(values)[:8]}...): binary classification needs two, "
                          "regression a numeric target")


def draft_project(name: str, df: pd.DataFrame, cols: dict[str, ColumnProfile], *, target: str, positive: str | None,
                  time_column: str | None, start: dt.date) -> dict[str, Any]:
    task, pos = _task(df, target, positive)
    regression = task == "regression"
    feats = {c: p for c, p in cols.items() if c not in (target, time_column) and p.kind != "dropped"}
    numeric = [c for c, p in feats.items() if p.kind in ("numeric", "binary")]
    categorical = [c for c, p in feats.items() if p.kind == "categorical"]
    ids = [c for c, p in cols.items() if p.reason.startswith("id-like") and df[c].is_unique]
    metric = "rmse" if regression else "roc_auc"
    lgbm = {"learning_rate": {"type": "float", "low": 0.02, "high": 0.1, "log": True},
            "num_leaves": {"type": "int", "low": 4, "high": 32, "log": True},
            "min_child_samples": {"type": "int", "low": 10, "high": 120, "log": True},
            "reg_lambda": {"type": "float", "low": 0.001, "high": 10.0, "log": True},
            "colsample_bytree": {"type": "float", "low": 0.5, "high": 1.0}}
    doc: dict[str, Any] = {
        "name": name, "description": f"Drafted by `pipelines init` from a CSV of {len(df):,} rows on {dt.date.today()}: review me.",
        "task": task, "target": target}
    if pos is not None:
        doc["positive_label"] = pos
    if ids:
        doc["id_column"] = ids[0]
    doc["drop_columns"] = [c for c, p in cols.items() if p.kind == "dropped" and c not in (target, time_column)]
    doc.update({"numeric_features": numeric, "categorical_features": categorical,
                "split": {"strategy": "time", "test_fraction": 0.2, "time_column": time_column} if time_column else
                {"strategy": "hash", "test_fraction": 0.2, "seed": 42},
                "training_window_days": 60, "primary_metric": metric})
    if not regression:
        doc["threshold"] = {"strategy": "maximize", "metric": "f1"}
    doc["search"] = {"n_trials": 20, "timeout_minutes": 30, "cv_folds": 5, "seed": 42, "families": {"lightgbm": lgbm},
                     "defaults": {"lightgbm": {"learning_rate": 0.03, "num_leaves": 8, "min_child_samples": 20, "reg_lambda": 1.0,
                                               "colsample_bytree": 0.8}}}
    small = [c for c in categorical if len(cols[c].values) <= 10]
    doc["slices"] = {"min_size": 200, "min_positives": 20, "categorical": small}
    floor = {"metric": "r2", "lower": 0.3} if regression else {"metric": "roc_auc", "lower": 0.65}
    doc["promotion"] = {"value_thresholds": [floor],
                        "change_thresholds": [{"metric": metric, "mode": "non_inferiority",
                                               "margin": round(0.05 * float(df[target].std()), 2) if regression else 0.02}],
                        "fairness": None, "baseline": {"metric": metric, "margin": 0.0 if regression else 0.05}}
    if ids:  # rows with an id can be judged on outcomes that arrive later (a guess of 30 days: set the real delay)
        doc["outcomes"] = {"label_delay_days": 30, "window_days": 30,
                           **({} if regression else {"decay": {"metric": metric, "max_drop": 0.05, "consecutive": 3, "min_rows": 200}})}
    doc.update({"drift": {"num_method": "psi", "num_threshold": 0.2, "drift_share": 0.5},
                "validation": {"suite": f"{name}.json"}, "feed": {"generator": None},
                "dag": {"start_date": start.isoformat(), "schedule_days": 2, "retries": 2, "retry_delay_minutes": 1,
                        "tags": [name, "training"], "owner": "mlops"}})
    return doc


def project_yaml(doc: dict[str, Any], cols: dict[str, ColumnProfile]) -> str:
    notes = [f"#   {c}: {p.reason}" for c, p in cols.items() if p.kind == "dropped"]
    head = ["# Drafted by `python -m pipelines init`: review every field, then commit with the suite.",
            *(["# Columns left out of the features:", *notes] if notes else [])]
    return "\n".join(head) + "\n" + yaml.safe_dump(doc, sort_keys=False, width=120)


def init_project(name: str, csv: Path, *, target: str, positive: str | None, time_column: str | None, projects_dir: Path,
                 expectations_dir: Path, start: dt.date, tolerance: float = 0.3, overwrite: bool = False, days: int = 60,
                 batch_rows: int | None = None) -> tuple[Path, Path, list[str]]:
    """Write the draft YAML and suite; returns their paths and the lines explaining dropped columns. The
    suite's distribution bounds are sized for one daily partition: `batch_rows`, by default the CSV's
    rows spread over `days` days (as `init` imports it)."""
    if not re.fullmatch(r"[a-z][a-z0-9_]{1,40}", name):
        raise OnboardingError(f"project name {name!r}: lower-case letters, digits and _ (2-41 characters, starting with a letter)")
    df = pd.read_csv(csv)
    cols = profile(df, target, time_column, batch_rows=batch_rows or default_batch_rows(len(df), days))
    doc = draft_project(name, df, cols, target=target, positive=positive, time_column=time_column, start=start)
    yaml_path, suite_path = projects_dir / f"{name}.yaml", expectations_dir / f"{name}.json"
    for p in (yaml_path, suite_path):
        if p.exists() and not overwrite:
            raise OnboardingError(f"{p} exists: refusing to overwrite a reviewed file (pass --overwrite to redraft)")
    suite = draft_suite(name, cols, rows=len(df), tolerance=tolerance, id_column=doc.get("id_column"))
    projects_dir.mkdir(parents=True, exist_ok=True)
    expectations_dir.mkdir(parents=True, exist_ok=True)
    yaml_path.write_text(project_yaml(doc, cols))
    suite_path.write_text(suite_json(suite))
    dropped = [f"{c}: {p.reason}" for c, p in cols.items() if p.kind == "dropped"]
    return yaml_path, suite_path, dropped
