"""The `dag:` block: schedule, retries, owners and time limits of the project's DAGs.
"""

from __future__ import annotations

import datetime as dt

from pydantic import Field

from pipelines.config.base import Strict


class DagConfig(Strict):
    start_date: dt.date
    schedule_days: int = Field(2, ge=1, le=365)
    retries: int = Field(2, ge=0, le=10)
    retry_delay_minutes: float = Field(1.0, gt=0)
    tags: list[str] = []
    owner: str = "mlops"
    # Time limits: every task (train: the search budget plus `train_margin_minutes`), the whole run,
    # and waiting for the project's registry lock.
    task_timeout_minutes: float = Field(30, gt=0, le=1440)
    train_margin_minutes: float = Field(15, gt=0, le=1440)
    dagrun_timeout_minutes: float = Field(240, gt=0, le=10080)
    lock_timeout_minutes: float = Field(5, gt=0, le=120)
