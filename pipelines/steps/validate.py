"""The validate step: the project's GX suite on the window's rows as they arrived (before cleaning
filters); the result JSON and a Data Docs page go to the lake whether the suite passes or fails, so
the evidence outlives a failed run. The suite run itself is `pipelines.domain.validation`.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd

from pipelines.config import ProjectConfig
from pipelines.contracts import Extracted, RunSpec, Validated, layout
from pipelines.domain.rows import strip_snapshot_columns
from pipelines.domain.validation import ValidationOutcome, render_data_docs, validate_frame
from pipelines.resources import Resources
from pipelines.resources.lake import Lake
from pipelines.steps.extract import load_snapshot
from pipelines.steps.summary import summarize

log = logging.getLogger(__name__)


def record_validation(lake: Lake, report_prefix: str, outcome: ValidationOutcome) -> None:
    """Result JSON + a self-contained Data Docs page under `report_prefix`, written once."""
    outcome.result_uri = lake.write_json_once(report_prefix + "validation.json", outcome.report)[0]
    try:
        page = render_data_docs(outcome.report)
    except (ValueError, KeyError, TypeError) as e:  # the page is a convenience; the JSON is the record
        log.warning("could not render Data Docs: %s", e)
    else:
        outcome.docs_uri = lake.write_once(report_prefix + "data_docs.html", page.encode())[0]


def validate_and_record(df: pd.DataFrame, cfg: ProjectConfig, expectations_dir: Path, lake: Lake, report_prefix: str, *,
                        raise_on_failure: bool = True) -> ValidationOutcome:
    """The suite on `df`, its evidence in the lake before a failure raises."""
    return validate_frame(df, cfg, expectations_dir, raise_on_failure=raise_on_failure,
                          record=lambda outcome: record_validation(lake, report_prefix, outcome))


def step_validate(res: Resources, cfg: ProjectConfig, run: RunSpec, ex: Extracted) -> Validated:
    """The project's suite on the window's rows as they arrived (before cleaning filters)."""
    df = load_snapshot(res.lake, ex.window_uri)
    outcome = validate_and_record(strip_snapshot_columns(df), cfg, res.settings.expectations_dir, res.lake,
                                  layout.validation_prefix(cfg.name, run.as_of, ex.data_hash))
    summarize("validate", [f"suite {cfg.validation.suite}: {outcome.evaluated} expectations passed on {outcome.rows} rows "
                           f"({outcome.seconds:.1f}s)", f"report: {outcome.docs_uri}"])
    return outcome.summary()
