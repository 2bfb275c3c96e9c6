"""The MLflow client every registry part shares, and what they answer with: typed version and run
records and the errors. Errors are never read as absence: only MLflow's RESOURCE_DOES_NOT_EXIST
("no such registered model / version") means "not there"; every other error propagates and fails
the task, which Airflow retries.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipelines.contracts import names

log = logging.getLogger(__name__)


class RegistryError(RuntimeError):
    """The registry or tracking server answered with something we cannot act on."""


class VersionNotFound(RegistryError):
    pass


class UnsafeModelError(RegistryError):
    """A model artifact is not loadable safely (not skops, or holds types outside our allow-list)."""


@dataclass(frozen=True)
class VersionInfo:
    version: str
    run_id: str
    tags: dict[str, str]
    source: str = ""
    model_id: str | None = None
    aliases: tuple[str, ...] = ()

    @property
    def threshold(self) -> float | None:
        return threshold_of(self.tags)


@dataclass(frozen=True)
class RunInfo:
    run_id: str
    experiment_id: str
    status: str
    metrics: dict[str, float] = field(default_factory=dict)
    params: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)


def threshold_of(tags: dict[str, str]) -> float | None:
    """The decision threshold recorded on a run or version (None: regression, or not recorded)."""
    v = tags.get(names.THRESHOLD)
    return float(v) if v not in (None, "", "None") else None


def metric_key(name: str) -> str:
    """MLflow metric names allow [A-Za-z0-9_-. :/]; slice names like `Age=[18,30)` need mapping."""
    name = name.replace("=", "_").replace(",", "-")
    return re.sub(r"[^A-Za-z0-9_\-. :/]", "", name)


def is_not_found(e: BaseException) -> bool:
    """MLflow's own "does not exist" answer, and nothing else (a timeout or a 500 is not absence)."""
    from mlflow.exceptions import MlflowException

    return isinstance(e, MlflowException) and e.error_code == "RESOURCE_DOES_NOT_EXIST"


def already_exists(e: BaseException) -> bool:
    from mlflow.exceptions import MlflowException

    return isinstance(e, MlflowException) and e.error_code == "RESOURCE_ALREADY_EXISTS"


class MlflowClientBase:
    """One MlflowClient per registry, configured with the tracking URI (no global `mlflow.set_tracking_uri`,
    no environment writes), and the project's experiment (created once, in the model-training views)."""

    def __init__(self, tracking_uri: str, artifacts_root: str | None = None):
        self.uri = tracking_uri
        self.artifacts_root = artifacts_root
        self._client: Any = None

    @property
    def client(self) -> Any:
        if self._client is None:
            from mlflow import MlflowClient

            if self.uri.startswith("sqlite:///"):
                Path(self.uri.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
            self._client = MlflowClient(tracking_uri=self.uri, registry_uri=self.uri)
        return self._client

    # ---------------------------------------------------------------------------- experiments
    def experiment_id(self, project: str) -> str:
        c = self.client
        exp = c.get_experiment_by_name(project)
        if exp is not None:
            return str(exp.experiment_id)
        loc = f"{self.artifacts_root}/{project}" if self.artifacts_root else None
        tags = {names.PROJECT: project, names.EXPERIMENT_KIND_TAG: names.EXPERIMENT_KIND}
        try:
            return str(c.create_experiment(project, artifact_location=loc, tags=tags))
        except Exception as e:
            if not already_exists(e):  # created concurrently by another task: fine; anything else is not
                raise
            exp = c.get_experiment_by_name(project)
            return str(exp.experiment_id)
