"""Validate: run the project's Great Expectations 1.x suite (`expectations/<project>.json`) on data.

The suite is versioned in git as JSON. A failed suite raises `DataValidationError`, which names every
failed expectation with its observed value and keeps the full report. The validate step
(`pipelines.steps.validate`) writes the result JSON and a Data Docs page to the lake either way, so
the evidence outlives the run.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from pipelines.config import ProjectConfig
from pipelines.contracts import Validated

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ExpectationFailure:
    expectation: str
    column: str | None
    observed: Any
    details: str

    def __str__(self) -> str:
        col = f"[{self.column}]" if self.column else ""
        return f"{self.expectation}{col}: observed {self.observed}{' (' + self.details + ')' if self.details else ''}"


@dataclass
class ValidationOutcome:
    success: bool
    evaluated: int
    failed: list[ExpectationFailure]
    rows: int
    result_uri: str | None = None
    docs_uri: str | None = None
    report: dict[str, Any] = field(default_factory=dict, repr=False)

    seconds: float = 0.0

    def summary(self) -> Validated:
        return Validated(success=self.success, evaluated=self.evaluated, failed=len(self.failed), rows=self.rows,
                         failures=[str(f) for f in self.failed][:50], result_uri=self.result_uri, docs_uri=self.docs_uri,
                         seconds=round(self.seconds, 2))


class DataValidationError(Exception):
    """The suite failed. `failures` names each failed expectation; `report` is the full GX result."""

    def __init__(self, suite: str, outcome: ValidationOutcome):
        self.suite = suite
        self.outcome = outcome
        self.failures = outcome.failed
        self.report = outcome.report
        lines = "\n".join(f"  - {f}" for f in outcome.failed)
        where = f"\nfull report: {outcome.result_uri}" if outcome.result_uri else ""
        super().__init__(
            f"data validation failed: {len(outcome.failed)} of {outcome.evaluated} expectations in suite "
            f"{suite!r} failed on {outcome.rows} rows:\n{lines}{where}"
        )

    def __reduce__(self) -> tuple:  # type: ignore[type-arg]
        """Picklable with its report (it crosses process boundaries: spawned steps, worker pools)."""
        return (type(self), (self.suite, self.outcome))


def suite_path(cfg: ProjectConfig, expectations_dir: Path) -> Path:
    return expectations_dir / cfg.validation.suite


def load_suite(path: Path) -> Any:
    gx = _import_gx()
    try:
        return gx.ExpectationSuite(**json.loads(path.read_text()))
    except FileNotFoundError as e:
        raise FileNotFoundError(f"expectation suite not found: {path}") from e


class _DropNoise(logging.Filter):
    """GX logs ~200 'Skipping registering function' lines per context at INFO/WARNING: not for people."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "Skipping registering" not in record.getMessage()


def _import_gx() -> Any:
    """GX, imported with its loggers quietened first: the noise is logged while it imports."""
    gx_log = logging.getLogger("great_expectations")
    gx_log.setLevel(logging.ERROR)
    if not any(isinstance(f, _DropNoise) for f in gx_log.filters):
        gx_log.addFilter(_DropNoise())
    import great_expectations as gx

    return gx


def _quiet_gx_context() -> Any:
    gx = _import_gx()
    from great_expectations.data_context.types.base import ProgressBarsConfig

    ctx = gx.get_context(mode="ephemeral")
    ctx.variables.progress_bars = ProgressBarsConfig(globally=False)
    return ctx


def _failure(r: Any) -> ExpectationFailure:
    cfg = r.expectation_config
    res = r.result or {}
    observed: Any = res.get("observed_value")
    details = ""
    if observed is None and "unexpected_percent" in res:
        observed = f"{res.get('unexpected_count')} unexpected ({res['unexpected_percent']:.2f}%)"
        sample = res.get("partial_unexpected_list") or []
        if sample:
            details = f"e.g. {sample[:5]}"
    info = r.exception_info or {}
    if info.get("raised_exception") or any(isinstance(v, dict) and v.get("raised_exception") for v in info.values()):
        msgs = [info.get("exception_message")] + [v.get("exception_message") for v in info.values() if isinstance(v, dict)]
        details = "; ".join(m for m in msgs if m)[:300] or details
    expected = {k: v for k, v in cfg.kwargs.items() if k not in ("column", "batch_id", "result_format")}
    if expected:
        details = f"expected {expected}" + (f"; {details}" if details else "")
    return ExpectationFailure(cfg.type, cfg.kwargs.get("column"), observed, details)


_PAGE_CSS = """
body{font-family:-apple-system,Segoe UI,Roboto,Helvetica,Arial,sans-serif;margin:1.5rem;color:#222;max-width:1200px}
table{border-collapse:collapse;width:100%;margin:.5rem 0 1.5rem}th,td{border:1px solid #ddd;padding:.35rem .5rem;
vertical-align:top;font-size:.9rem}th{background:#f4f6f8;text-align:left}tr:nth-child(even){background:#fafafa}
.text-danger,.fa-times{color:#b00020}.text-success,.fa-check-circle{color:#1b7f3b}code,pre{background:#f4f4f4;padding:0 .2rem}
.card{border:1px solid #e3e3e3;border-radius:6px;padding:.75rem;margin-bottom:1rem}.d-none{display:none}
"""


def _inline_css(html: str) -> str:
    """Data Docs link their CSS from CDNs (unreachable offline, blocked in MLflow's preview): drop the
    links and inline GX's own stylesheets plus a small readable base."""
    import importlib.resources as ir
    import re

    base = ir.files("great_expectations.render.view.static.styles")
    css = _PAGE_CSS + "".join((base / f).read_text() for f in ("data_docs_default_styles.css",))
    html = re.sub(r"<link[^>]+stylesheet[^>]*>", "", html)
    html = re.sub(r"<script[^>]+src=[^>]*></script>", "", html)
    return html.replace("</head>", f"<style>{css}</style></head>", 1)


def render_data_docs(result_dict: dict[str, Any]) -> str:
    """One self-contained Data Docs page for a validation result (no GX file context, no CDN)."""
    from great_expectations.core.expectation_validation_result import ExpectationSuiteValidationResultSchema
    from great_expectations.render.renderer import ValidationResultsPageRenderer
    from great_expectations.render.view import DefaultJinjaPageView

    res = ExpectationSuiteValidationResultSchema().load(json.loads(json.dumps(result_dict)))
    return _inline_css(DefaultJinjaPageView().render(ValidationResultsPageRenderer().render(res)))


def run_suite(df: pd.DataFrame, suite_file: Path) -> ValidationOutcome:
    return run_suite_object(df, load_suite(suite_file))


def run_suite_object(df: pd.DataFrame, suite: Any) -> ValidationOutcome:
    import time

    started = time.monotonic()
    ctx = _quiet_gx_context()
    batch = (
        ctx.data_sources.add_pandas("lake")
        .add_dataframe_asset("snapshot")
        .add_batch_definition_whole_dataframe("whole")
        .get_batch(batch_parameters={"dataframe": df})
    )
    res = batch.validate(suite, result_format="SUMMARY")
    report = json.loads(json.dumps(res.to_json_dict(), default=str))
    failed = [_failure(r) for r in res.results if not r.success]
    return ValidationOutcome(success=bool(res.success), evaluated=len(res.results), failed=failed, rows=len(df), report=report,
                             seconds=time.monotonic() - started)


def validate_frame(
    df: pd.DataFrame,
    cfg: ProjectConfig,
    expectations_dir: Path,
    *,
    raise_on_failure: bool = True,
    record: Callable[[ValidationOutcome], None] | None = None,
) -> ValidationOutcome:
    """Run the project's suite on `df`. `record(outcome)` runs before a failure raises, so the step
    that keeps the evidence (result JSON + Data Docs in the lake) keeps it for failed runs too."""
    outcome = run_suite(df, suite_path(cfg, expectations_dir))
    if record is not None:
        record(outcome)
    if outcome.success:
        log.info("suite %s passed: %d expectations on %d rows (%.1fs)", cfg.validation.suite, outcome.evaluated, outcome.rows,
                 outcome.seconds)
    else:
        for f in outcome.failed:
            log.error("expectation failed: %s", f)
        if raise_on_failure:
            raise DataValidationError(cfg.validation.suite, outcome)
    return outcome


def read_table(path: Path) -> pd.DataFrame:
    """A CSV or parquet file for ad-hoc validation (`python -m pipelines validate`)."""
    if not path.exists():
        raise FileNotFoundError(f"input not found: {path}")
    if path.suffix.lower() in (".parquet", ".pq"):
        return pd.read_parquet(path)
    if path.suffix.lower() == ".csv":
        return pd.read_csv(path)
    raise ValueError(f"unsupported input {path}: give a .csv or .parquet file")


# Per-row checks of the label the project's suite makes, kept for outcome partitions; its distribution
# checks (mean, quantiles, spread) are not: one day's outcomes may be few, and a shifted label
# distribution is what the outcomes loop is there to see, not to refuse.
_LABEL_CHECKS = ("expect_column_values_to_be_in_type_list", "expect_column_values_to_be_in_set", "expect_column_values_to_be_between")
_ID_CHECKS = ("expect_column_values_to_be_in_type_list",)


def outcome_suite(cfg: ProjectConfig, expectations_dir: Path) -> Any:
    """The suite an outcome partition must pass: the id and the label present, ids not null and unique
    within the file, labels not null, and the project suite's per-row rules for the id and the label
    (type, value set, range). A classification label without a value set in the suite gets {0, 1}
    when the positive label is "1"."""
    gx = _import_gx()
    gxe = gx.expectations
    assert cfg.id_column is not None, "outcomes need id_column (the config refuses it otherwise)"
    project = json.loads(suite_path(cfg, expectations_dir).read_text())
    exps: list[Any] = [gxe.ExpectTableRowCountToBeBetween(min_value=1), gxe.ExpectColumnToExist(column=cfg.id_column),
                       gxe.ExpectColumnToExist(column=cfg.target), gxe.ExpectColumnValuesToNotBeNull(column=cfg.id_column),
                       gxe.ExpectColumnValuesToBeUnique(column=cfg.id_column), gxe.ExpectColumnValuesToNotBeNull(column=cfg.target)]
    kept = [e for e in project["expectations"] if (e["kwargs"].get("column") == cfg.target and e["type"] in _LABEL_CHECKS)
            or (e["kwargs"].get("column") == cfg.id_column and e["type"] in _ID_CHECKS)]
    for e in kept:
        cls = getattr(gxe, "".join(w.title() for w in e["type"].split("_")))
        exps.append(cls(**{k: v for k, v in e["kwargs"].items() if k != "batch_id"}))
    has_set = any(e["kwargs"].get("column") == cfg.target and e["type"] == "expect_column_values_to_be_in_set" for e in kept)
    if not cfg.regression and not has_set and cfg.positive_label == "1":
        exps.append(gxe.ExpectColumnValuesToBeInSet(column=cfg.target, value_set=[0, 1]))
    return gx.ExpectationSuite(name=f"{cfg.name}.outcomes", expectations=exps)


def validate_outcomes(df: pd.DataFrame, cfg: ProjectConfig, expectations_dir: Path) -> ValidationOutcome:
    """Run `outcome_suite` on one outcome file; a failure raises `DataValidationError` naming each
    failed expectation (nothing of the file is stored or joined)."""
    outcome = run_suite_object(df, outcome_suite(cfg, expectations_dir))
    if not outcome.success:
        raise DataValidationError(f"{cfg.name}.outcomes", outcome)
    log.info("outcome suite %s.outcomes passed: %d expectations on %d rows", cfg.name, outcome.evaluated, outcome.rows)
    return outcome
