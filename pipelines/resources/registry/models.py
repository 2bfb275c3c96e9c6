"""Logged models: saved as skops with explicit pip requirements (no 15 s inference in a subprocess),
loaded only as skops against the project's own allow-list of types (`pipelines.resources.model_types`),
never the artifact's own list; pickle is refused before any byte of it is deserialised.
"""

from __future__ import annotations

import importlib.metadata as md
import re
import tempfile
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from pipelines.config.settings import REPO_ROOT
from pipelines.contracts import names
from pipelines.resources.registry.client import RegistryError, UnsafeModelError
from pipelines.resources.registry.versions import VersionRegistry

# What a saved model needs to load: pinned to this environment's versions (explicit, so saving does
# not spend ~15 s inferring them in a subprocess).
_MODEL_DEPS = ("scikit-learn", "lightgbm", "skops", "pandas", "numpy", "scipy", "pyarrow", "pydantic", "pyyaml")


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


class ModelStore(VersionRegistry):
    """Save a model with its run, resolve where a version's model lives, load it safely."""

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
            raise UnsafeModelError(f"model holds types outside the skops allow-list (pipelines/resources/model_types.py): {bad}")
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
