"""The resources: every store the pipeline reads or writes, behind one boundary each -- the data lake
(`lake.py`: a folder or S3/MinIO), the MLflow registry (`registry/`), named locks (file or Postgres
advisory), the alert sink, log redaction, the model-type allow-list, database and secret setup --
and the composition root, `Resources`, which builds them once from the settings.

Belongs here: code that talks to a store and knows nothing of what a step means by the data.
May import: `pipelines.config`, `pipelines.contracts` (the lake layout, the MLflow names) and this
package. Never `pipelines.domain`, `steps` or an edge.

An edge (a DAG task adapter, the CLI, the serving app, a test) calls `Resources.from_env()` or
`Resources.from_settings(settings)`; steps take the `Resources` they are given and never look
anything up themselves, so a test swaps any store by building `Resources` with another one
(Dagster's resources, Kedro's catalog).
"""
from __future__ import annotations

from dataclasses import dataclass

from pipelines.config.settings import Settings
from pipelines.resources.alerts import AlertSink
from pipelines.resources.lake import Lake, open_lake
from pipelines.resources.locks import Locks, open_locks
from pipelines.resources.model_types import ALLOWED_TYPES
from pipelines.resources.redaction import Redactor
from pipelines.resources.registry import Registry


@dataclass
class Resources:
    settings: Settings
    lake: Lake
    registry: Registry
    locks: Locks
    alerts: AlertSink
    redactor: Redactor
    allowed_model_types: frozenset[str] = ALLOWED_TYPES

    @classmethod
    def from_settings(cls, settings: Settings) -> Resources:
        lake = open_lake(settings)
        redactor = Redactor(settings.secrets)
        return cls(
            settings=settings,
            lake=lake,
            registry=Registry(settings.mlflow_tracking_uri, settings.artifacts_root),
            locks=open_locks(settings.lock_url, settings.home),
            alerts=AlertSink(lake, settings.alert_webhook_url, redactor),
            redactor=redactor,
        )

    @classmethod
    def from_env(cls) -> Resources:
        return cls.from_settings(Settings.from_env())

    @property
    def optuna_storage(self) -> str:
        return self.settings.optuna_storage

    def load_model(self, model_uri: str) -> object:
        """A model from the registry, loaded only as skops against the project's allow-list."""
        return self.registry.load_model(model_uri, self.allowed_model_types)
