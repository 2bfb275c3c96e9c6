"""The MLflow boundary fails closed and loads models only as skops against our own allow-list."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from mlflow.exceptions import MlflowException
from sklearn.linear_model import LogisticRegression

from pipelines.contracts import names
from pipelines.resources.model_types import ALLOWED_TYPES
from pipelines.resources.registry import UnsafeModelError, metric_key


class Payload:
    """Unpickling this runs `touch <marker>`: the attack a pickle-format model version carries."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):  # noqa: D105
        return (os.system, (f"touch {self.marker}",))


def _version(res, model, *, fmt: str = "skops", trusted=None) -> str:
    """Register `model` by hand, bypassing our own logging checks (as an attacker with registry access could)."""
    import tempfile

    import mlflow.sklearn

    reg = res.registry
    run_id = reg.start_run("bankchurn", "hand", {})
    lm = reg.client.create_logged_model(reg.experiment_id("bankchurn"), name="model", source_run_id=run_id)
    with tempfile.TemporaryDirectory() as tmp:
        mlflow.sklearn.save_model(model, f"{tmp}/m", serialization_format=fmt, skops_trusted_types=trusted)
        reg.client.log_model_artifacts(lm.model_id, f"{tmp}/m")
    reg.client.finalize_logged_model(lm.model_id, "READY")
    return reg.register("bankchurn", f"models:/{lm.model_id}", run_id, {})[0]


def test_no_registered_model_is_not_found_and_empty(res):
    assert res.registry.aliases("bankchurn") == {} and res.registry.alias_version("bankchurn", names.CHAMPION) is None
    assert res.registry.versions_of_run("bankchurn", "0" * 32) == []


def test_a_registry_error_is_never_read_as_no_champion(res, monkeypatch):
    def down(*a, **k):
        raise MlflowException("connection refused by 127.0.0.1:5000", error_code="TEMPORARILY_UNAVAILABLE")

    monkeypatch.setattr(res.registry.client, "get_registered_model", down)
    with pytest.raises(MlflowException, match="connection refused"):
        res.registry.alias_version("bankchurn", names.CHAMPION)
    with pytest.raises(MlflowException):
        res.registry.aliases("bankchurn")


def test_a_pickle_model_is_refused_before_any_code_runs(res, tmp_path):
    marker = tmp_path / "pwned"
    v = _version(res, Payload(marker), fmt="pickle")
    with pytest.raises(UnsafeModelError, match=rf"models:/bankchurn/{v} is serialised as 'pickle'"):
        res.load_model(f"models:/bankchurn/{v}")
    assert not marker.exists()


def test_a_skops_model_with_unknown_types_is_refused(res, tmp_path):
    import functools

    model = LogisticRegression().fit(np.array([[0.0], [1.0]]), [0, 1])
    model.evil = functools.partial(os.system, "true")  # a callable smuggled into a skops file
    import skops.io as sio

    v = _version(res, model, trusted=sio.get_untrusted_types(data=sio.dumps(model)))
    with pytest.raises(UnsafeModelError, match="outside the project's allow-list.*posix.system"):
        res.load_model(f"models:/bankchurn/{v}")


def test_our_own_models_load(res):
    model = LogisticRegression().fit(np.array([[0.0], [1.0]]), [0, 1])
    run_id = res.registry.start_run("bankchurn", "ok", {})
    uri = res.registry.log_model(run_id, "bankchurn", model, np.array([[0.5]]), ALLOWED_TYPES)
    v, reused = res.registry.register("bankchurn", uri, run_id, {"k": "v"})
    assert not reused and res.registry.register("bankchurn", uri, run_id, {})[0] == v  # once per run
    loaded = res.load_model(f"models:/bankchurn/{v}")
    assert loaded.predict_proba(np.array([[0.9]]))[0, 1] == pytest.approx(model.predict_proba(np.array([[0.9]]))[0, 1])
    exp = res.registry.client.get_experiment(res.registry.experiment_id("bankchurn"))
    assert exp.tags[names.EXPERIMENT_KIND_TAG] == names.EXPERIMENT_KIND  # model-training views in the MLflow UI


def test_metric_keys_are_mlflow_safe():
    assert metric_key("slice/Age=[18,30)/roc_auc") == "slice/Age_18-30/roc_auc"
    assert metric_key("slice/Geography=France/f1") == "slice/Geography_France/f1"
