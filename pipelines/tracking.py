"""The MLflow boundary: runs, logged models, registered versions and aliases, and safe model loading.

One `Registry` per process, built by `pipelines.resources` from the settings: its client is
configured once with the tracking URI (no global `mlflow.set_tracking_uri`, no environment writes).
One MLflow run per pipeline run, keyed by the tag `mlops.run_key = <project>/<as-of>` and a
fingerprint of its inputs: a rerun finds its run and version instead of creating duplicates.

Errors are never read as absence: only MLflow's RESOURCE_DOES_NOT_EXIST ("no such registered
model / version") means "not there"; every other error propagates and fails the task, which
Airflow retries. Models load only as skops, against the project's own allow-list of types
(`pipelines.model_types`), never the artifact's own list; pickle is refused before any byte of it
is deserialised.
"""

from __future__ import annotations

import importlib.metadata as md
import json
import logging
import re
import subprocess
import tempfile
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipelines import names
from pipelines.settings import REPO_ROOT

log = logging.getLogger(__name__)

# What a saved model needs to load: pinned to this environment's versions (explicit, so saving does
# not spend ~15 s inferring them in a subprocess).
_MODEL_DEPS = ("scikit-learn", "lightgbm", "skops", "pandas", "numpy", "scipy", "pyarrow", "pydantic", "pyyaml")


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


def _already_exists(e: BaseException) -> bool:
    from mlflow.exceptions import MlflowException

    return isinstance(e, MlflowException) and e.error_code == "RESOURCE_ALREADY_EXISTS"


def git_commit() -> str:
    try:
        out = subprocess.run(["git", "-C", str(REPO_ROOT), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5)
        return out.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def pip_requirements() -> list[str]:
    reqs = []
    for dist in _MODEL_DEPS:
        try:
            reqs.append(f"{dist}=={md.version(dist)}")
        except md.PackageNotFoundError:
            pass
    reqs.append(f"mlflow=={md.version('mlflow')}")
    return reqs


@contextmanager
def quiet_skops() -> Iterator[None]:
    """skops warns once per object on save and load (~1,000 lines a model); nothing a reader can act on."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", module=r"skops(\..*)?")
        warnings.filterwarnings("ignore", message=r".*(DeprecatedImport|deprecated).*")
        yield


def skops_io() -> Any:
    """`skops.io`, imported quietly: on import it locates every scipy ufunc by scanning all loaded
    modules, and inside an Airflow task that touches Airflow's deprecated-module shims (~1,160
    warnings per task log)."""
    with quiet_skops():
        import skops.io as sio
    return sio


class Registry:
    """MLflow tracking + model registry for all projects of one deployment."""

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
            if not _already_exists(e):  # created concurrently by another task: fine; anything else is not
                raise
            exp = c.get_experiment_by_name(project)
            return str(exp.experiment_id)

    # ---------------------------------------------------------------------------------- runs
    def find_runs(self, project: str, run_key: str) -> list[Any]:
        return list(self.client.search_runs([self.experiment_id(project)], filter_string=f"tags.`{names.RUN_KEY}` = '{run_key}'",
                                            order_by=["attributes.start_time DESC"]))

    def reusable_run(self, project: str, run_key: str, fingerprint: str) -> RunInfo | None:
        """The newest earlier run of the same run key and inputs that finished logging its model.
        Other runs of the key (other inputs, or attempts that died) are left alone: they may belong to
        a run still in flight elsewhere, and MLflow keeps the record of what happened."""
        for run in self.find_runs(project, run_key):
            tags = run.data.tags
            if tags.get(names.FINGERPRINT) == fingerprint and tags.get(names.MODEL_URI):
                return self._run_info(run)
        return None

    def start_run(self, project: str, run_name: str, tags: dict[str, str]) -> str:
        run = self.client.create_run(self.experiment_id(project), run_name=run_name,
                                     tags={names.PROJECT: project, "git_commit": git_commit(), **tags})
        return str(run.info.run_id)

    def log_params(self, run_id: str, params: dict[str, Any]) -> None:
        from mlflow.entities import Param

        items = [Param(k, str(v)[:500]) for k, v in params.items()]
        for i in range(0, len(items), 90):
            self.client.log_batch(run_id, params=items[i : i + 90])

    def log_metrics(self, run_id: str, metrics: dict[str, float | None], *, timestamp_ms: int | None = None, step: int = 0) -> None:
        from mlflow.entities import Metric

        ts = timestamp_ms if timestamp_ms is not None else int(time.time() * 1000)
        items = [Metric(metric_key(k), float(v), ts, step) for k, v in metrics.items() if v is not None and v == v]
        for i in range(0, len(items), 900):
            self.client.log_batch(run_id, metrics=items[i : i + 900])

    def set_tags(self, run_id: str, tags: dict[str, Any]) -> None:
        from mlflow.entities import RunTag

        items = [RunTag(k, str(v)[:5000]) for k, v in tags.items()]
        for i in range(0, len(items), 90):
            self.client.log_batch(run_id, tags=items[i : i + 90])

    def set_run_description(self, run_id: str, markdown: str) -> None:
        self.client.set_tag(run_id, names.RUN_NOTE, markdown[:60_000])

    def log_artifacts(self, run_id: str, artifacts: dict[str, Path | str | bytes], artifact_dir: str | None = None) -> None:
        """name -> file path, text or bytes."""
        with tempfile.TemporaryDirectory() as tmp:
            for name, content in artifacts.items():
                dest = Path(tmp) / name
                dest.parent.mkdir(parents=True, exist_ok=True)
                if isinstance(content, Path):
                    dest.write_bytes(content.read_bytes())
                elif isinstance(content, bytes):
                    dest.write_bytes(content)
                else:
                    dest.write_text(content)
            self.client.log_artifacts(run_id, tmp, artifact_dir)

    def log_dataset(self, run_id: str, *, name: str, source_uri: str, digest: str, rows: int, columns: list[str],
                    context: str) -> None:
        """Record a lake snapshot as the run's input (MLflow's Datasets view): source = lake URI."""
        from mlflow.entities import Dataset, DatasetInput, InputTag

        ds = Dataset(name=name, digest=digest[:36], source_type="lake", source=json.dumps({"uri": source_uri}),
                     schema=json.dumps({"columns": columns}), profile=json.dumps({"num_rows": rows}))
        self.client.log_inputs(run_id, [DatasetInput(ds, tags=[InputTag("mlflow.data.context", context)])])

    def log_model(self, run_id: str, project: str, model: Any, input_example: Any, allowed_types: frozenset[str]) -> str:
        """Save the model as skops (signature from the model's own predict), attach it to the run as an
        MLflow 3 logged model; returns its `models:/m-...` URI."""
        sio = skops_io()  # first: mlflow.sklearn may import it too
        import mlflow.sklearn
        from mlflow.entities import LoggedModelOutput
        from mlflow.models import infer_signature

        with quiet_skops():
            untrusted = sio.get_untrusted_types(data=sio.dumps(model))
        bad = sorted(set(untrusted) - allowed_types)
        if bad:
            raise UnsafeModelError(f"model holds types outside the skops allow-list (pipelines/model_types.py): {bad}")
        with warnings.catch_warnings():  # the int-column hint: our schema comes from real training rows
            warnings.simplefilter("ignore", UserWarning)
            signature = infer_signature(input_example, model.predict(input_example))
        lm = self.client.create_logged_model(self.experiment_id(project), name=names.MODEL_NAME, source_run_id=run_id,
                                             tags={names.PROJECT: project})
        with tempfile.TemporaryDirectory() as tmp, quiet_skops():  # its own catch_warnings scope
            warnings.simplefilter("ignore", UserWarning)
            path = Path(tmp) / names.MODEL_NAME
            mlflow.sklearn.save_model(model, str(path), signature=signature, input_example=input_example,
                                      pip_requirements=pip_requirements(), code_paths=[str(REPO_ROOT / "pipelines")],
                                      serialization_format="skops", skops_trusted_types=list(untrusted))
            self.client.log_model_artifacts(lm.model_id, str(path))
        self.client.finalize_logged_model(lm.model_id, "READY")
        self.client.log_outputs(run_id, [LoggedModelOutput(lm.model_id, step=0)])
        return f"models:/{lm.model_id}"

    def finish_run(self, run_id: str, status: str = "FINISHED") -> None:
        self.client.set_terminated(run_id, status)

    def run(self, run_id: str) -> RunInfo:
        return self._run_info(self.client.get_run(run_id))

    @staticmethod
    def _run_info(r: Any) -> RunInfo:
        return RunInfo(r.info.run_id, str(r.info.experiment_id), r.info.status, dict(r.data.metrics), dict(r.data.params),
                       dict(r.data.tags))

    # ------------------------------------------------------------------------------ registry
    def aliases(self, project: str) -> dict[str, str]:
        """alias -> version, read in ONE call (a consistent snapshot). {} when no model is registered."""
        try:
            rm = self.client.get_registered_model(project)
        except Exception as e:
            if is_not_found(e):
                return {}
            raise
        return {str(k): str(v) for k, v in (rm.aliases or {}).items()}

    def model_tags(self, project: str) -> dict[str, str]:
        try:
            return dict(self.client.get_registered_model(project).tags)
        except Exception as e:
            if is_not_found(e):
                return {}
            raise

    def set_model_tag(self, project: str, key: str, value: str) -> None:
        self.client.set_registered_model_tag(project, key, value)

    def delete_model_tag(self, project: str, key: str) -> None:
        self.client.delete_registered_model_tag(project, key)

    def version(self, project: str, version: str) -> VersionInfo:
        try:
            mv = self.client.get_model_version(project, str(version))
        except Exception as e:
            if is_not_found(e):
                raise VersionNotFound(f"{project} has no version {version}") from e
            raise
        return VersionInfo(str(mv.version), mv.run_id, dict(mv.tags), mv.source or "", getattr(mv, "model_id", None),
                           tuple(mv.aliases or ()))

    def alias_version(self, project: str, alias: str) -> VersionInfo | None:
        v = self.aliases(project).get(alias)
        return self.version(project, v) if v is not None else None

    def versions_of_run(self, project: str, run_id: str) -> list[VersionInfo]:
        found = self.client.search_model_versions(f"name = '{project}' and run_id = '{run_id}'")
        return [VersionInfo(str(m.version), m.run_id, dict(m.tags), m.source or "", getattr(m, "model_id", None)) for m in found]

    def register(self, project: str, model_uri: str, run_id: str, tags: dict[str, str]) -> tuple[str, bool]:
        """Register the run's model once: a rerun returns the existing version (reused=True)."""
        existing = self.versions_of_run(project, run_id)
        if existing:
            return max(existing, key=lambda m: int(m.version)).version, True
        try:
            self.client.create_registered_model(project, tags={names.PROJECT: project},
                                                description=f"{project}: champion/challenger registry (aliases champion, "
                                                            "challenger, previous)")
        except Exception as e:
            if not _already_exists(e):
                raise
        model_id, source = None, model_uri
        if model_uri.startswith("models:/m-"):
            # The artifact location itself: the registry would otherwise resolve the logged model
            # through MLflow's GLOBAL tracking URI, which this client never sets.
            model_id = model_uri.removeprefix("models:/")
            source = str(self.client.get_logged_model(model_id).artifact_location)
        mv = self.client.create_model_version(project, source, run_id=run_id, tags=tags, model_id=model_id)
        return str(mv.version), False

    def set_version_tags(self, project: str, version: str, tags: dict[str, Any]) -> None:
        for k, v in tags.items():
            self.client.set_model_version_tag(project, version, k, str(v)[:5000])

    def set_version_description(self, project: str, version: str, markdown: str) -> None:
        self.client.update_model_version(project, version, description=markdown[:60_000])

    def set_alias(self, project: str, alias: str, version: str) -> None:
        self.client.set_registered_model_alias(project, alias, version)

    def delete_alias(self, project: str, alias: str) -> None:
        self.client.delete_registered_model_alias(project, alias)

    # -------------------------------------------------------------------------------- models
    def model_artifact_uri(self, model_uri: str) -> str:
        """Where a `models:/m-...` logged model or a `models:/<name>/<version>` lives."""
        m = re.fullmatch(r"models:/([^/@]+)/(\d+)", model_uri)
        if m:
            v = self.version(m.group(1), m.group(2))
            if v.model_id:
                return str(self.client.get_logged_model(v.model_id).artifact_location)
            return str(self.client.get_model_version_download_uri(m.group(1), m.group(2)))
        if model_uri.startswith("models:/m-"):
            return str(self.client.get_logged_model(model_uri.removeprefix("models:/")).artifact_location)
        raise RegistryError(f"unsupported model URI {model_uri!r}: models:/m-<id> or models:/<name>/<version>")

    def load_model(self, model_uri: str, allowed_types: frozenset[str]) -> Any:
        """Download and load a model as skops against `allowed_types`; pickle and unknown types are refused."""
        import mlflow.artifacts

        with tempfile.TemporaryDirectory() as tmp:
            local = mlflow.artifacts.download_artifacts(artifact_uri=self.model_artifact_uri(model_uri), dst_path=tmp,
                                                        tracking_uri=self.uri)
            return load_skops_dir(Path(local), model_uri, allowed_types)


def load_skops_dir(path: Path, label: str, allowed_types: frozenset[str]) -> Any:
    """Load an MLflow sklearn-flavour folder saved as skops; refuse anything else before reading it."""
    import yaml

    sio = skops_io()
    try:
        mlmodel = yaml.safe_load((path / "MLmodel").read_text())
    except FileNotFoundError as e:
        raise UnsafeModelError(f"{label}: no MLmodel file in the artifact") from e
    flavor = (mlmodel or {}).get("flavors", {}).get("sklearn") or {}
    fmt = flavor.get("serialization_format")
    if fmt != "skops":
        raise UnsafeModelError(f"{label} is serialised as {fmt!r}; only skops models load here (pickle and "
                               "cloudpickle can run code on load)")
    file = path / str(flavor.get("pickled_model", "model.skops"))
    with quiet_skops():
        untrusted = sio.get_untrusted_types(file=file)
        bad = sorted(set(untrusted) - allowed_types)
        if bad:
            raise UnsafeModelError(f"{label} holds types outside the project's allow-list, refused: {bad}")
        return sio.load(file, trusted=list(untrusted))
