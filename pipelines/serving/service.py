"""The served models: per project `@champion`, and `@challenger` while a rollout (shadow or canary,
`contracts.rollout`) is on, re-resolved by a background poll together with the rollout tag; a new
version is loaded (skops, the project's own allow-list) beside the old one and swapped by one
reference assignment; a version that fails to load is logged and the old one keeps serving.

The challenger can never break an answer: if it failed to load, canary records go to the champion;
if it raises while scoring, its records are re-scored by the champion (counted per arm); in shadow it
runs after the response has been sent.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import pandas as pd
from fastapi import HTTPException

from pipelines.config import ProjectConfig
from pipelines.config.settings import ServingSettings
from pipelines.contracts import names
from pipelines.contracts.rollout import ARM_CHALLENGER, ARM_CHAMPION, ARM_SHADOW, Rollout, in_canary
from pipelines.domain.scoring import predict_arrays, prediction_log_columns
from pipelines.resources import Resources
from pipelines.serving.columnar import BatchValidator, Validated
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


@dataclass(frozen=True)
class Scored:
    """One model's answers for some rows: probabilities (classification) or values (regression)."""

    slot: ModelSlot
    arm: str
    rows: np.ndarray           # positions in the request
    probability: np.ndarray | None
    label: np.ndarray | None
    value: np.ndarray | None


def score(slot: ModelSlot, X: pd.DataFrame, regression: bool) -> tuple[np.ndarray | None, np.ndarray | None, np.ndarray | None]:
    """(probability, label, value) of one slot's model (`pipelines.domain.scoring`)."""
    return predict_arrays(slot.model, X, regression)


def load_slot(res: Resources, project: str, version: str) -> ModelSlot:
    """A registered version, loaded with skops against the project's allow-list."""
    from pipelines.domain.evaluate import model_threshold

    info = res.registry.version(project, version)
    model = res.load_model(f"models:/{project}/{version}")
    return ModelSlot(info.version, model, model_threshold(model, info.threshold), info.tags, info.run_id,
                     dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"))


def routing_keys(cfg: ProjectConfig, checked: Validated, records: list[dict[str, Any]]) -> list[str]:
    """What a record is routed by: its id where the project has one and the record carries it,
    else its values (the same record always meets the same arm)."""
    cols = cfg.input_columns
    ids = checked.ids or [None] * len(records)
    return [f"id:{i}" if i is not None else "|".join(repr(r.get(c)) for c in cols) for i, r in zip(ids, records)]


def answers(cfg: ProjectConfig, part: Scored, request_id: str, risk_bands: tuple[float, float]) -> list[dict[str, Any]]:
    """The response's predictions for one arm's rows, built column-wise (no model object per row)."""
    slot = part.slot
    base = {"project": cfg.name, "model_version": slot.version, "request_id": request_id, "arm": part.arm}
    if part.value is not None:
        empty = {"probability": None, "label": None, "class_label": None, "risk_level": None, "threshold": None}
        return [{**base, **empty, "prediction": v} for v in np.round(part.value, 4).tolist()]
    assert part.probability is not None and part.label is not None
    lo, hi = risk_bands
    risk = np.where(part.probability < lo, "low", np.where(part.probability < hi, "medium", "high"))
    names_ = (cfg.negative_label or f"not {cfg.positive_label}", cfg.positive_label)
    return [{**base, "probability": p, "label": lab, "class_label": names_[lab], "risk_level": r, "threshold": slot.threshold,
             "prediction": None}
            for p, lab, r in zip(np.round(part.probability, 6).tolist(), part.label.tolist(), risk.tolist())]


def log_chunk(checked: Validated, part: Scored, request_id: str) -> dict[str, Any]:
    """One arm's rows for the prediction log (`pipelines.domain.scoring.prediction_log_columns`)."""
    whole = len(part.rows) == len(checked.frame)
    ids = checked.ids
    record_ids = None if ids is None else np.asarray(
        [None if i is None else str(i) for i in (ids if whole else [ids[j] for j in part.rows])], dtype=object)
    return prediction_log_columns(dt.datetime.now(dt.timezone.utc).isoformat(), request_id, record_ids, part.slot.version, part.arm,
                                  (part.probability, part.label, part.value),
                                  checked.frame if whole else checked.frame.iloc[part.rows])


@dataclass
class Service:
    settings: ServingSettings
    configs: dict[str, ProjectConfig]
    validators: dict[str, BatchValidator] = field(default_factory=dict)
    res: Resources | None = None
    metrics: Metrics = field(default_factory=Metrics)
    slots: dict[str, ModelSlot] = field(default_factory=dict)         # champions
    challengers: dict[str, ModelSlot] = field(default_factory=dict)   # only while a rollout is on
    rollouts: dict[str, Rollout] = field(default_factory=dict)
    predictions: PredictionLog | None = None

    def __post_init__(self) -> None:
        self.predictions = PredictionLog(self.metrics, self.settings.log_buffer)

    # -------------------------------------------------------------------------------- loading
    def refresh(self, project: str) -> str:
        """Re-resolve @champion, the rollout tag and (when a rollout is on) @challenger; load a new
        version beside the old one, then swap. Never raises: the service keeps what it serves and says
        why (log + metric). Returns what happened to the champion."""
        assert self.res is not None
        current = self.slots.get(project)
        try:
            aliases, tags = self.res.registry.snapshot(project)
            self._refresh_rollout(project, tags.get(names.ROLLOUT))
            champ = aliases.get(names.CHAMPION)
            if champ is None:
                state = "none"
            elif current is not None and current.version == champ:
                state = "unchanged"
            else:
                slot = load_slot(self.res, project, champ)
                self.slots[project] = slot  # one reference assignment: atomic for readers
                if current is not None:
                    self.metrics.model_info.labels(project, current.version).set(0)
                self.metrics.model_info.labels(project, slot.version).set(1)
                self.metrics.reloads.labels(project, "loaded").inc()
                log.info("serving %s v%s (was %s)", project, slot.version, f"v{current.version}" if current else "none")
                state = "loaded"
        except Exception as e:  # a background poll must outlive any registry or artifact failure
            self.metrics.reloads.labels(project, "failed").inc()
            log.error("resolving/loading %s@champion failed, still serving %s: %s: %s", project,
                      f"v{current.version}" if current else "nothing", type(e).__name__, e)
            return "failed"
        self._refresh_challenger(project, aliases.get(names.CHALLENGER), aliases.get(names.CHAMPION))
        return state

    def _refresh_rollout(self, project: str, tag: str | None) -> None:
        try:
            rollout = Rollout.from_tag(tag)
        except ValueError as e:
            self.metrics.reloads.labels(project, "bad_rollout").inc()
            log.error("%s: the rollout tag %r is not valid, keeping %s: %s", project, tag, self.rollouts.get(project, Rollout()).mode, e)
            return
        if self.rollouts.get(project, Rollout()).mode != rollout.mode or self.rollouts.get(project, Rollout()).share != rollout.share:
            log.info("%s: rollout %s%s", project, rollout.mode, f" share {rollout.share:g}" if rollout.mode == "canary" else "")
        self.rollouts[project] = rollout

    def _refresh_challenger(self, project: str, challenger: str | None, champion: str | None) -> None:
        rollout = self.rollouts.get(project, Rollout())
        have = self.challengers.get(project)
        if rollout.mode == "off" or challenger is None or challenger == champion:
            if have is not None:
                self.challengers.pop(project, None)
                log.info("%s: challenger v%s unloaded (rollout %s)", project, have.version, rollout.mode)
            return
        if have is not None and have.version == challenger:
            return
        try:
            self.challengers[project] = load_slot(self.res, project, challenger)  # type: ignore[arg-type]
        except Exception as e:  # never let the challenger take the champion down with it
            self.challengers.pop(project, None)
            self.metrics.reloads.labels(project, "challenger_failed").inc()
            log.error("loading %s@challenger v%s failed; the champion answers everything: %s: %s", project, challenger,
                      type(e).__name__, e)
            return
        self.metrics.reloads.labels(project, "challenger_loaded").inc()
        log.info("%s: challenger v%s loaded for the %s rollout", project, challenger, rollout.mode)

    def refresh_all(self) -> dict[str, str]:
        return {p: self.refresh(p) for p in self.configs}

    # ------------------------------------------------------------------------------ predicting
    def _score_arm(self, project: str, slot: ModelSlot, arm: str, X: pd.DataFrame, rows: np.ndarray) -> Scored:
        started = time.perf_counter()
        p, label, value = score(slot, X, self.configs[project].regression)
        self.metrics.arm_latency.labels(project, arm).observe(time.perf_counter() - started)
        self.metrics.arm_records.labels(project, arm, slot.version).inc(len(rows))
        return Scored(slot, arm, rows, p, label, value)

    def predict(self, project: str, records: list[Any], request_id: str, loc: tuple[Any, ...]
                ) -> tuple[ModelSlot, list[dict[str, Any]], Callable[[], None]]:
        """Validate, route, score. Returns the champion slot, one answer per record (in order), and the
        work to do after the response is sent (prediction log, metrics, the shadow arm)."""
        checked = self.validators[project].validate(records, loc)  # raises BatchInvalid (422)
        champion = self.slots.get(project)  # taken once: a swap mid-request does not affect this request
        if champion is None:
            raise HTTPException(503, f"no model loaded for {project!r} (no champion yet, or it failed to load)")
        rollout, challenger = self.rollouts.get(project, Rollout()), self.challengers.get(project)
        X, n = checked.frame, len(checked.frame)
        everything = np.arange(n)
        parts: list[Scored] = []
        if rollout.mode == "canary" and challenger is not None:
            keys = routing_keys(self.configs[project], checked, records)
            canary = np.fromiter((in_canary(k, rollout.share) for k in keys), bool, n)
            if canary.any():
                rows = np.flatnonzero(canary)
                try:
                    parts.append(self._score_arm(project, challenger, ARM_CHALLENGER, X.iloc[rows] if len(rows) < n else X, rows))
                except Exception as e:  # the champion answers instead; counted and logged, never a 5xx
                    self.metrics.arm_errors.labels(project, ARM_CHALLENGER).inc()
                    log.error("%s challenger v%s failed on %d records, the champion answered: %s: %s", project, challenger.version,
                              len(rows), type(e).__name__, e)
                    canary[:] = False
            if not canary.all():
                rows = np.flatnonzero(~canary)
                parts.append(self._score_arm(project, champion, ARM_CHAMPION, X.iloc[rows] if len(rows) < n else X, rows))
        else:
            parts.append(self._score_arm(project, champion, ARM_CHAMPION, X, everything))
        out: list[dict[str, Any]] = [{}] * n
        for part in parts:
            for pos, ans in zip(part.rows.tolist(), answers(self.configs[project], part, request_id, self.settings.risk_bands)):
                out[pos] = ans
        shadow = challenger if rollout.mode == "shadow" else None

        def after() -> None:
            for part in parts:
                self._log(project, checked, part, request_id)
            if shadow is not None:
                self._shadow(project, shadow, checked, request_id)

        return champion, out, after

    def _shadow(self, project: str, challenger: ModelSlot, checked: Validated, request_id: str) -> None:
        try:
            part = self._score_arm(project, challenger, ARM_SHADOW, checked.frame, np.arange(len(checked.frame)))
        except Exception as e:  # after the response: nothing to fall back to, only to count
            self.metrics.arm_errors.labels(project, ARM_SHADOW).inc()
            log.error("%s shadow challenger v%s failed: %s: %s", project, challenger.version, type(e).__name__, e)
            return
        self._log(project, checked, part, request_id)

    def _log(self, project: str, checked: Validated, part: Scored, request_id: str) -> None:
        for v in (part.probability if part.probability is not None else part.value).tolist():  # type: ignore[union-attr]
            self.metrics.predicted.labels(project).observe(v)
        assert self.predictions is not None
        self.predictions.append(project, log_chunk(checked, part, request_id), len(part.rows))
