"""Argument types of the command line and the stores it builds: settings and stores are built once
per command here and handed to the steps (the command line's composition root).
"""

from __future__ import annotations

import argparse
import datetime as dt
from typing import Any

from pipelines.config.settings import Settings


def date_arg(s: str) -> dt.date:
    try:
        return dt.date.fromisoformat(s)
    except ValueError as e:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {s!r}") from e


def positive_int(s: str) -> int:
    v = int(s)
    if v < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {v}")
    return v


def resources_of(s: Settings) -> Any:
    from pipelines.resources import Resources

    return Resources.from_settings(s)


def project_of(s: Settings, project: str) -> Any:
    from pipelines.config import load_project

    return load_project(project, s)
