"""Validate: run the project's Great Expectations 1.x suite (`expectations/<project>.json`) on data.

The suite is versioned in git as JSON. A failed suite raises `DataValidationError`, which names every
failed expectation with its observed value and keeps the full report; the result JSON and a Data Docs
HTML page are written to the lake either way, so the evidence outlives the run.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from pipelines.config import ProjectConfig
from pipelines.settings import get_settings
from pipelines.storage import Lake

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

    def summary(self) -> dict[str, Any]:
        return {
            "success": self.success,
            "evaluated": self.evaluated,
            "failed": len(self.failed),
            "rows": self.rows,
            "result_uri": self.result_uri,
            "docs_uri": self.docs_uri,
        }


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


def suite_path(cfg: ProjectConfig) -> Path:
    return get_settings().expectations_dir / cfg.validation.suite


def load_suite(path: Path) -> Any:
    import great_expectations as gx

    try:
        return gx.ExpectationSuite(**json.loads(path.read_text()))
    except FileNotFoundError as e:
        raise FileNotFoundError(f"expectation suite not found: {path}") from e


def _quiet_gx_context() -> Any:
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    logging.getLogger("great_expectations").setLevel(logging.WARNING)
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


def render_data_docs(result_dict: dict[str, Any]) -> str:
    """One self-contained Data Docs page for a validation result (no GX file context needed)."""
    from great_expectations.core.expectation_validation_result import ExpectationSuiteValidationResultSchema
    from great_expectations.render.renderer import ValidationResultsPageRenderer
    from great_expectations.render.view import DefaultJinjaPageView

    res = ExpectationSuiteValidationResultSchema().load(json.loads(json.dumps(result_dict)))
    return DefaultJinjaPageView().render(ValidationResultsPageRenderer().render(res))


def run_suite(df: pd.DataFrame, suite_file: Path) -> ValidationOutcome:
    suite = load_suite(suite_file)
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
    return ValidationOutcome(success=bool(res.success), evaluated=len(res.results), failed=failed, rows=len(df), report=report)


def validate_frame(
    df: pd.DataFrame,
    cfg: ProjectConfig,
    *,
    lake: Lake | None = None,
    report_prefix: str | None = None,
    raise_on_failure: bool = True,
) -> ValidationOutcome:
    """Run the project's suite on `df`; write result JSON + Data Docs under `report_prefix` in the lake."""
    outcome = run_suite(df, suite_path(cfg))
    if lake is not None and report_prefix is not None:
        outcome.result_uri = lake.put_json(report_prefix + "validation.json", outcome.report)
        try:
            outcome.docs_uri = lake.put_text(report_prefix + "data_docs.html", render_data_docs(outcome.report))
        except Exception as e:  # the page is a convenience; the JSON is the record
            log.warning("could not render Data Docs: %s", e)
    if outcome.success:
        log.info("suite %s passed: %d expectations on %d rows", cfg.validation.suite, outcome.evaluated, outcome.rows)
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
