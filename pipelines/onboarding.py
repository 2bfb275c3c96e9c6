"""`python -m pipelines init`: profile a CSV, draft a project YAML and a GX suite, import the data.

The drafts are meant to be reviewed in git, not trusted blindly; they are complete enough to run:

* project YAML: task from the target (two values: binary classification with the given positive
  label; numeric with many values: regression), feature types inferred, id-like, constant,
  free-text and date columns dropped with the reason printed, a hash (or time) split, a LightGBM
  search with early stopping and a known-good default trial, non-inferiority promotion rules,
  small categoricals as slices;
* GX suite: the exact column set, types, null fractions, numeric ranges with a margin (value sets
  for small integer codes; counts with a thin tail get a range), categorical value sets, row count
  -- and distribution checks: every category's share and every binary flag's rate within a
  tolerance (a zeroed flag or a halved category fails the gate).
"""

from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

NUMERIC_TYPES = ["int64", "int32", "Int64", "float64", "float32", "Float64", "bool", "boolean"]
TEXT_TYPES = ["object", "str", "string", "StringDtype"]
DATE_TYPES = ["datetime64[ns]", "datetime64[us]", "datetime64[ms]", "datetime64[s]", "object", "str", "string"]
MAX_CATEGORIES = 30
MIN_SHARE = 0.05  # categories below this share get no share check (too noisy)


class OnboardingError(ValueError):
    pass


@dataclass
class ColumnProfile:
    name: str
    kind: str  # numeric | binary | categorical | time | dropped
    nulls: float
    distinct: int
    reason: str = ""
    low: float | None = None
    high: float | None = None
    values: list[Any] = field(default_factory=list)
    shares: dict[str, float] = field(default_factory=dict)
    rate: float | None = None  # binary flags: share of 1s
    number: bool = True  # stored as numbers (else text)
    date: bool = False


def _is_binary(s: pd.Series) -> bool:
    vals = set(pd.unique(s.dropna()))
    return pd.api.types.is_numeric_dtype(s) and len(vals) == 2 and vals <= {0, 1, 0.0, 1.0, True, False}


def _looks_datetime(s: pd.Series) -> bool:
    if pd.api.types.is_datetime64_any_dtype(s):
        return True
    if s.dtype != object:
        return False
    sample = s.dropna().astype(str).head(200)
    return len(sample) > 0 and sample.str.match(r"^\d{4}-\d{2}-\d{2}").mean() > 0.9


def _open_ended_count(s: pd.Series) -> bool:
    """A count (loans paid off, products held) can reach a new maximum any day; a code (a closed set)
    cannot. A contiguous run of non-negative integers whose largest value is rare (< 1% of rows: a
    thinning tail) is read as a count and gets a range, not an exact value set."""
    v = s.dropna().astype("int64")
    values = sorted(int(x) for x in pd.unique(v))
    contiguous = values[0] >= 0 and len(values) == values[-1] - values[0] + 1
    return contiguous and float((v == values[-1]).mean()) < 0.01


def profile_column(s: pd.Series, *, protected: set[str], time_column: str | None = None) -> ColumnProfile:
    name, n = str(s.name), max(len(s), 1)
    nulls, distinct = float(s.isna().mean()), int(s.nunique(dropna=True))
    p = ColumnProfile(name=name, kind="dropped", nulls=nulls, distinct=distinct, number=pd.api.types.is_numeric_dtype(s),
                      date=_looks_datetime(s))
    if name == time_column:
        p.kind = "time"
    elif distinct <= 1 and name not in protected:
        p.reason = "constant: a single value carries no information"
    elif p.date:
        p.reason = "a date: not a feature (pass --time-column to split on it)"
    elif _is_binary(s):
        p.kind, p.rate, p.values = "binary", float(pd.to_numeric(s, errors="coerce").mean()), [0, 1]
    elif pd.api.types.is_numeric_dtype(s):
        integer_like = pd.api.types.is_integer_dtype(s) or bool((s.dropna() % 1 == 0).all())
        if integer_like and distinct > 0.95 * n and name not in protected:
            p.reason = f"id-like: {distinct / n:.0%} distinct integers"
        else:
            p.kind, p.low, p.high = "numeric", float(s.min()), float(s.max())
            if distinct <= 10 and integer_like and not _open_ended_count(s):
                p.values = sorted(int(v) for v in pd.unique(s.dropna()))
    elif distinct > MAX_CATEGORIES and name not in protected:
        p.reason = f"free text or an identifier: {distinct} distinct values"
    else:
        p.kind = "categorical"
        counts = s.dropna().astype(str).value_counts(normalize=True)
        p.values, p.shares = sorted(counts.index.tolist()), {str(k): float(v) for k, v in counts.items()}
    return p


def profile(df: pd.DataFrame, target: str, time_column: str | None = None, keep: set[str] | None = None) -> dict[str, ColumnProfile]:
    """Each column's kind and statistics; `keep` names columns that must stay features (redrafting a
    shipped project's suite), so they are profiled instead of dropped."""
    if target not in df.columns:
        raise OnboardingError(f"the CSV has no column {target!r}; columns: {list(df.columns)}")
    if time_column and time_column not in df.columns:
        raise OnboardingError(f"the CSV has no column {time_column!r} for --time-column")
    protected = {target} | (keep or set())
    return {c: profile_column(df[c], protected=protected, time_column=time_column) for c in df.columns}


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
    doc.update({"drift": {"num_method": "psi", "num_threshold": 0.2, "drift_share": 0.5},
                "validation": {"suite": f"{name}.json"}, "feed": {"generator": None},
                "dag": {"start_date": start.isoformat(), "schedule_days": 2, "retries": 2, "retry_delay_minutes": 1,
                        "tags": [name, "training"], "owner": "mlops"}})
    return doc


def share_bounds(share: float, tolerance: float) -> tuple[float, float]:
    """A category's share may shrink to (1 - t) x and grow to (1 + 2t) x (+2 points): a vanishing or
    halved category (the typical upstream bug) fails; a group growing with real drift still passes,
    and the drift monitor reports it."""
    return round(max(0.0, share * (1 - tolerance)), 4), round(min(1.0, share * (1 + 2 * tolerance) + 0.02), 4)


def draft_suite(name: str, cols: dict[str, ColumnProfile], *, rows: int, tolerance: float = 0.3, id_column: str | None = None) -> Any:
    """A GX 1.x suite with exact columns, types, nulls, ranges, value sets and distribution checks."""
    import great_expectations as gx
    import great_expectations.expectations as gxe

    ex: list[Any] = [gxe.ExpectTableColumnsToMatchSet(column_set=list(cols), exact_match=True),
                     gxe.ExpectTableRowCountToBeBetween(min_value=30, max_value=max(100 * rows, 50_000_000))]
    if id_column:
        ex.append(gxe.ExpectColumnValuesToBeUnique(column=id_column))
    for c, p in cols.items():
        types = DATE_TYPES if p.date or p.kind == "time" else NUMERIC_TYPES if p.number else TEXT_TYPES
        ex.append(gxe.ExpectColumnValuesToBeInTypeList(column=c, type_list=types))
        if p.nulls == 0:
            ex.append(gxe.ExpectColumnValuesToNotBeNull(column=c))
        elif p.nulls < 1:
            ex.append(gxe.ExpectColumnValuesToNotBeNull(column=c, mostly=round(max(0.0, 1 - min(1.0, 1.5 * p.nulls + 0.02)), 3)))
        ex += _value_expectations(c, p, tolerance)
    return gx.ExpectationSuite(name=name, expectations=ex)


def _value_expectations(c: str, p: ColumnProfile, tolerance: float) -> list[Any]:
    import great_expectations.expectations as gxe

    out: list[Any] = []
    if p.kind == "numeric" and p.low is not None and p.high is not None:
        if p.values:
            out.append(gxe.ExpectColumnValuesToBeInSet(column=c, value_set=p.values))
        else:
            span = p.high - p.low  # room above for heavy tails (a new day's maximum), a little below
            low = p.low - 0.1 * span if p.low < 0 else max(0.0, p.low - 0.1 * span)
            out.append(gxe.ExpectColumnValuesToBeBetween(column=c, min_value=round(low, 4), max_value=round(p.high + 0.5 * span, 4)))
    elif p.kind == "binary" and p.rate is not None:
        out.append(gxe.ExpectColumnValuesToBeInSet(column=c, value_set=[0, 1]))
        lo, hi = round(p.rate * (1 - tolerance), 4), round(1 - (1 - p.rate) * (1 - tolerance), 4)
        out.append(gxe.ExpectColumnMeanToBeBetween(column=c, min_value=lo, max_value=hi,
                                                   meta={"check": f"binary-flag rate {p.rate:.3f}, tolerance {tolerance:.0%}"}))
    elif p.kind == "categorical":
        out.append(gxe.ExpectColumnValuesToBeInSet(column=c, value_set=p.values))
        for value, share in p.shares.items():
            if share < MIN_SHARE:
                continue
            lo, hi = share_bounds(share, tolerance)
            meta = {"check": f"share of {value!r} was {share:.3f}, tolerance {tolerance:.0%}"}
            out.append(gxe.ExpectColumnValuesToBeInSet(column=c, value_set=[value], mostly=lo, meta=meta))
            if hi < 1.0:
                out.append(gxe.ExpectColumnValuesToNotBeInSet(column=c, value_set=[value], mostly=round(1 - hi, 4), meta=meta))
    return out


def suite_json(suite: Any) -> str:
    return json.dumps(suite.to_json_dict(), indent=2, sort_keys=True) + "\n"


def project_yaml(doc: dict[str, Any], cols: dict[str, ColumnProfile]) -> str:
    notes = [f"#   {c}: {p.reason}" for c, p in cols.items() if p.kind == "dropped"]
    head = ["# Drafted by `python -m pipelines init`: review every field, then commit with the suite.",
            *(["# Columns left out of the features:", *notes] if notes else [])]
    return "\n".join(head) + "\n" + yaml.safe_dump(doc, sort_keys=False, width=120)


def init_project(name: str, csv: Path, *, target: str, positive: str | None, time_column: str | None, projects_dir: Path,
                 expectations_dir: Path, start: dt.date, tolerance: float = 0.3, overwrite: bool = False) -> tuple[Path, Path, list[str]]:
    """Write the draft YAML and suite; returns their paths and the lines explaining dropped columns."""
    if not re.fullmatch(r"[a-z][a-z0-9_]{1,40}", name):
        raise OnboardingError(f"project name {name!r}: lower-case letters, digits and _ (2-41 characters, starting with a letter)")
    df = pd.read_csv(csv)
    cols = profile(df, target, time_column)
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
