"""Every step in-process, in DAG order, for one as-of date: the CLI's `run` (no Airflow needed).
"""

from __future__ import annotations

import logging
from typing import Any

from pipelines.config import ProjectConfig
from pipelines.contracts import RunSpec
from pipelines.resources import Resources
from pipelines.steps.drift import step_drift
from pipelines.steps.evaluate import step_evaluate
from pipelines.steps.extract import step_extract
from pipelines.steps.register import step_register
from pipelines.steps.train import step_train
from pipelines.steps.validate import step_validate

log = logging.getLogger(__name__)
# ------------------------------------------------------------------------------------------- all
def run_all(res: Resources, cfg: ProjectConfig, run: RunSpec) -> dict[str, Any]:
    """All steps in-process, in DAG order (the CLI's `run`)."""
    ex = step_extract(res, cfg, run)
    val = step_validate(res, cfg, run, ex)
    tr = step_train(res, cfg, run, ex, val)
    evd = step_evaluate(res, cfg, run, ex, tr)
    reg = step_register(res, cfg, run, ex, tr, evd)
    dr = step_drift(res, cfg, run, ex, tr, evd)
    return {"extract": ex, "validate": val, "train": tr, "evaluate": evd, "register": reg, "drift": dr}
