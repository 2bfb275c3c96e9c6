"""The served models: one slot per project holding `@champion`, re-resolved by a background poll; a
new version is loaded (skops, the project's own allow-list) beside the old one and swapped by one
reference assignment; a version that fails to load is logged and the old one keeps serving.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
from fastapi import HTTPException

from pipelines.config import ProjectConfig
from pipelines.config.settings import ServingSettings
from pipelines.contracts import names
from pipelines.resources import Resources
from pipelines.serving.schema import Prediction
from pipelines.serving.telemetry import Metrics, PredictionLog

log = logging.getLogger("pipelines.serving")


# ----------------------------------------------------------------------------- model slots
@dataclass(frozen=True)
class ModelSlot:
    version: str
    model: Any
    threshold: float | None
    tags: dict[str, str]
    run_id: str
    loaded_at: str


@dataclass
class Service:
    settings: ServingSettings
    configs: dict[str, ProjectConfig]
    res: Resources | None = None
    metrics: Metrics = field(default_factory=Metrics)
    slots: dict[str, ModelSlot] = field(default_factory=dict)
    predictions: PredictionLog | None = None

    def __post_init__(self) -> None:
        self.predictions = PredictionLog(self.metrics, self.settings.log_buffer)

    def refresh(self, project: str) -> str:
        """Re-resolve @champion; load a new version beside the old one, then swap. Never raises: the
        service keeps what it serves and says why (log + metric)."""
        assert self.res is not None
        current = self.slots.get(project)
        try:
            champ = self.res.registry.alias_version(project, names.CHAMPION)
            if champ is None:
                return "none"
            if current is not None and current.version == champ.version:
                return "unchanged"
            from pipelines.domain.evaluate import model_threshold

            model = self.res.load_model(f"models:/{project}/{champ.version}")
            slot = ModelSlot(champ.version, model, model_threshold(model, champ.threshold), champ.tags, champ.run_id,
                             dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"))
        except Exception as e:  # a background poll must outlive any registry or artifact failure
            self.metrics.reloads.labels(project, "failed").inc()
            log.error("resolving/loading %s@champion failed, still serving %s: %s: %s", project,
                      f"v{current.version}" if current else "nothing", type(e).__name__, e)
            return "failed"
        self.slots[project] = slot  # one reference assignment: atomic for readers
        if current is not None:
            self.metrics.model_info.labels(project, current.version).set(0)
        self.metrics.model_info.labels(project, slot.version).set(1)
        self.metrics.reloads.labels(project, "loaded").inc()
        log.info("serving %s v%s (was %s)", project, slot.version, f"v{current.version}" if current else "none")
        return "loaded"

    def refresh_all(self) -> dict[str, str]:
        return {p: self.refresh(p) for p in self.configs}

    def risk(self, p: float) -> str:
        lo, hi = self.settings.risk_bands
        return "low" if p < lo else "medium" if p < hi else "high"

    def predict(self, project: str, records: list[dict[str, Any]], request_id: str) -> tuple[ModelSlot, list[Prediction]]:
        slot = self.slots.get(project)  # taken once: a swap mid-request does not affect this request
        if slot is None:
            raise HTTPException(503, f"no model loaded for {project!r} (no champion yet, or it failed to load)")
        cfg = self.configs[project]
        X = pd.DataFrame.from_records(records, columns=cfg.input_columns)
        for col in cfg.numeric_features:
            X[col] = pd.to_numeric(X[col], errors="coerce")
        out = []
        if cfg.regression:
            for v in slot.model.predict(X):
                self.metrics.predicted.labels(project).observe(float(v))
                out.append(Prediction(project=project, model_version=slot.version, request_id=request_id, prediction=round(float(v), 4)))
        else:
            neg = cfg.negative_label or f"not {cfg.positive_label}"
            for p, label in zip(slot.model.predict_proba(X)[:, 1], slot.model.predict(X)):  # predict applies the model's threshold
                self.metrics.predicted.labels(project).observe(float(p))
                out.append(Prediction(project=project, model_version=slot.version, request_id=request_id, probability=round(float(p), 6),
                                      label=int(label), class_label=cfg.positive_label if int(label) else neg,
                                      risk_level=self.risk(float(p)), threshold=slot.threshold))  # type: ignore[arg-type]
        now = dt.datetime.now(dt.timezone.utc).isoformat()
        assert self.predictions is not None
        self.predictions.append(project, [{"timestamp": now, "request_id": request_id, "model_version": slot.version,
                                           "inputs": json.dumps(r, default=str), "probability": o.probability, "label": o.label,
                                           "prediction": o.prediction} for r, o in zip(records, out)])
        return slot, out
