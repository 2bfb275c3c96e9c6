"""The MLflow boundary: runs, logged models, registered versions and aliases.

One MLflow run per pipeline run, keyed by `mlops.run_key = <project>/<as-of date>`: a rerun finds
its run (and its version) instead of creating duplicates. Aliases only (`champion`, `challenger`,
`previous`), never the deprecated stages.
"""

from __future__ import annotations

import importlib.metadata as md
import json
import logging
import re
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipelines.settings import REPO_ROOT, get_settings

log = logging.getLogger(__name__)

RUN_KEY = "mlops.run_key"
FINGERPRINT = "mlops.fingerprint"
MODEL_URI_TAG = "mlops.model_uri"
CHAMPION, CHALLENGER, PREVIOUS = "champion", "challenger", "previous"

# What a saved model needs to load: pinned to this environment's versions (explicit, so
# log_model does not spend ~15 s inferring them in a subprocess).
_MODEL_DEPS = ("scikit-learn", "lightgbm", "skops", "pandas", "numpy", "scipy", "pyarrow", "pydantic", "pyyaml")


def client() -> Any:
    import mlflow
    from mlflow import MlflowClient

    s = get_settings()
    mlflow.set_tracking_uri(s.mlflow_tracking_uri)
    mlflow.set_registry_uri(s.mlflow_tracking_uri)
    if s.mlflow_tracking_uri.startswith("sqlite:///"):
        Path(s.mlflow_tracking_uri.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    return MlflowClient(tracking_uri=s.mlflow_tracking_uri, registry_uri=s.mlflow_tracking_uri)


def experiment_id(project: str) -> str:
    c = client()
    exp = c.get_experiment_by_name(project)
    if exp is not None:
        return str(exp.experiment_id)
    s = get_settings()
    loc = f"{s.artifacts_root}/{project}" if s.artifacts_root else None
    try:
        return str(c.create_experiment(project, artifact_location=loc, tags={"mlops.project": project}))
    except Exception:  # created concurrently by another task
        exp = c.get_experiment_by_name(project)
        if exp is None:
            raise
        return str(exp.experiment_id)


def metric_key(name: str) -> str:
    """MLflow metric names allow [A-Za-z0-9_-. :/]; slice names like `Age=[18,30)` need mapping."""
    name = name.replace("=", "_").replace(",", "-")
    return re.sub(r"[^A-Za-z0-9_\-. :/]", "", name)


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


def find_runs(project: str, run_key: str) -> list[Any]:
    c = client()
    return list(
        c.search_runs(
            [experiment_id(project)],
            filter_string=f"tags.`{RUN_KEY}` = '{run_key}'",
            order_by=["attributes.start_time DESC"],
        )
    )


def versions_of_run(project: str, run_id: str) -> list[Any]:
    c = client()
    try:
        return list(c.search_model_versions(f"name = '{project}' and run_id = '{run_id}'"))
    except Exception:  # registered model does not exist yet
        return []


@dataclass(frozen=True)
class LoggedModel:
    run_id: str
    model_uri: str
    reused: bool


def reusable_run(project: str, run_key: str, fingerprint: str) -> LoggedModel | None:
    """A finished earlier attempt of the same run with the same inputs: reuse its model as is.

    Earlier attempts with other inputs, or that never finished training, are deleted (soft) when
    they hold no registered version, so the run key keeps pointing at one run.
    """
    c = client()
    found = None
    for run in find_runs(project, run_key):
        tags = run.data.tags
        if found is None and tags.get(FINGERPRINT) == fingerprint and tags.get(MODEL_URI_TAG):
            found = LoggedModel(run.info.run_id, tags[MODEL_URI_TAG], reused=True)
        elif not versions_of_run(project, run.info.run_id):
            c.delete_run(run.info.run_id)
            log.info("deleted stale MLflow run %s of %s (other inputs or unfinished)", run.info.run_id, run_key)
    return found


def log_training(
    project: str,
    run_key: str,
    fingerprint: str,
    model: Any,
    input_example: Any,
    params: dict[str, Any],
    metrics: dict[str, float],
    tags: dict[str, str],
    artifacts_dir: Path | None = None,
) -> LoggedModel:
    """Start the pipeline run's MLflow run, log the trained Pipeline (skops, signature, example)."""
    import mlflow
    from mlflow.models import infer_signature


    client()
    with mlflow.start_run(experiment_id=experiment_id(project), run_name=run_key.replace("/", "-")) as run:
        mlflow.set_tags({RUN_KEY: run_key, FINGERPRINT: fingerprint, "mlops.project": project, "git_commit": git_commit(), **tags})
        mlflow.log_params({k: str(v)[:500] for k, v in params.items()})
        mlflow.log_metrics({metric_key(k): float(v) for k, v in metrics.items()})
        if artifacts_dir is not None:
            mlflow.log_artifacts(str(artifacts_dir))
        import warnings

        with warnings.catch_warnings():  # the int-column hint: our schema comes from real training rows
            warnings.simplefilter("ignore", UserWarning)
            signature = infer_signature(input_example, model.predict(input_example))
        info = mlflow.sklearn.log_model(
            model,
            name="model",
            signature=signature,
            input_example=input_example,
            pip_requirements=pip_requirements(),
            code_paths=[str(REPO_ROOT / "pipelines")],
            serialization_format="skops",
            skops_trusted_types=_skops_trusted(model),
        )
        mlflow.set_tag(MODEL_URI_TAG, info.model_uri)
        return LoggedModel(run.info.run_id, info.model_uri, reused=False)


def _skops_trusted(model: Any) -> list[str]:
    """Types skops must trust to load this model: checked against an allow-list, never blindly."""
    import skops.io as sio

    from pipelines.features import trusted_types

    untrusted = sio.get_untrusted_types(data=sio.dumps(model))
    allowed = tuple(trusted_types())
    bad = [t for t in untrusted if not (t in allowed or t.split(".")[0] in ("sklearn", "lightgbm", "numpy", "scipy", "builtins", "collections"))]
    if bad:
        raise TypeError(f"model holds types outside the skops allow-list: {bad}")
    return list(untrusted)


def log_to_run(run_id: str, *, metrics: dict[str, float] | None = None, tags: dict[str, str] | None = None,
               artifacts: dict[str, Path | str | bytes] | None = None, artifact_dir: str | None = None) -> None:
    """Add metrics, tags and artifacts (name -> file path, text or bytes) to an existing run."""
    c = client()
    if metrics:
        from mlflow.entities import Metric
        import time

        ts = int(time.time() * 1000)
        items = [Metric(metric_key(k), float(v), ts, 0) for k, v in metrics.items() if v is not None and v == v]
        for i in range(0, len(items), 900):
            c.log_batch(run_id, metrics=items[i : i + 900])
    for k, v in (tags or {}).items():
        c.set_tag(run_id, k, str(v)[:5000])
    if artifacts:
        with tempfile.TemporaryDirectory() as tmp:
            for name, content in artifacts.items():
                dest = Path(tmp) / name
                if isinstance(content, Path):
                    dest.write_bytes(content.read_bytes())
                elif isinstance(content, bytes):
                    dest.write_bytes(content)
                else:
                    dest.write_text(content)
            c.log_artifacts(run_id, tmp, artifact_dir)


def finish_run(run_id: str, status: str = "FINISHED") -> None:
    client().set_terminated(run_id, status)


def load_model(model_uri: str) -> Any:
    import mlflow

    client()
    return mlflow.sklearn.load_model(model_uri)


@dataclass(frozen=True)
class AliasedVersion:
    version: str
    run_id: str
    tags: dict[str, str]


def alias_version(project: str, alias: str) -> AliasedVersion | None:
    c = client()
    try:
        mv = c.get_model_version_by_alias(project, alias)
    except Exception:  # no registered model, or the alias is not set
        return None
    return AliasedVersion(str(mv.version), mv.run_id, dict(mv.tags))


def register_version(project: str, run_id: str, model_uri: str, tags: dict[str, str]) -> tuple[str, bool]:
    """Register the run's model once: a rerun returns the existing version (reused=True)."""
    import mlflow

    c = client()
    existing = versions_of_run(project, run_id)
    if existing:
        v = max(existing, key=lambda m: int(m.version))
        return str(v.version), True
    try:
        c.create_registered_model(project, tags={"mlops.project": project}, description=f"{project}: champion/challenger registry")
    except Exception:
        pass  # already exists
    mv = mlflow.register_model(model_uri, project, tags=tags)
    return str(mv.version), False


def set_version_tags(project: str, version: str, tags: dict[str, str]) -> None:
    c = client()
    for k, v in tags.items():
        c.set_model_version_tag(project, version, k, str(v)[:5000])


def set_alias(project: str, alias: str, version: str) -> None:
    client().set_registered_model_alias(project, alias, version)


def version_tags(project: str, version: str) -> dict[str, str]:
    return dict(client().get_model_version(project, version).tags)


def run_info(run_id: str) -> dict[str, Any]:
    r = client().get_run(run_id)
    return {"metrics": dict(r.data.metrics), "params": dict(r.data.params), "tags": dict(r.data.tags), "status": r.info.status,
            "experiment_id": str(r.info.experiment_id)}


def threshold_of(tags: dict[str, str]) -> float | None:
    """The decision threshold recorded on a run or version (None: regression, or not recorded)."""
    v = tags.get("mlops.threshold")
    return float(v) if v not in (None, "", "None") else None


def dumps(obj: Any) -> str:
    return json.dumps(obj, indent=2, sort_keys=True, default=str)
