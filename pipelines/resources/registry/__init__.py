"""The MLflow boundary: runs, logged models, registered versions and aliases, and safe model loading.

One `Registry` per process, built by the composition root (`pipelines.resources`) from the
settings. It is split by concern, each part a class over the same client: `runs.RunLog` (runs and
what is logged to them), `versions.VersionRegistry` (registered versions, their tags, aliases),
`models.ModelStore` (saving and loading models as skops); `Registry` is all three, so callers keep
one object (`res.registry`). Errors are never read as absence (see `client.is_not_found`).
"""

from __future__ import annotations

from pipelines.resources.registry.client import (
    RegistryError,
    RunInfo,
    UnsafeModelError,
    VersionInfo,
    VersionNotFound,
    is_not_found,
    metric_key,
    threshold_of,
)
from pipelines.resources.registry.models import ModelStore, load_skops_dir, pip_requirements, quiet_skops, skops_io
from pipelines.resources.registry.runs import RunLog, git_commit


class Registry(RunLog, ModelStore):
    """MLflow tracking + model registry for all projects of one deployment."""


__all__ = ["ModelStore", "Registry", "RegistryError", "RunInfo", "RunLog", "UnsafeModelError", "VersionInfo", "VersionNotFound",
           "git_commit", "is_not_found", "load_skops_dir", "metric_key", "pip_requirements", "quiet_skops", "skops_io",
           "threshold_of"]
