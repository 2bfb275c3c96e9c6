"""How a saved model answers, and how an answer is logged, in one place for the HTTP service and the
batch scorer: one `predict_proba` call per batch, the label from it exactly as the model's own
`predict` would give it; one prediction-log schema (what the outcomes join reads).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

Answers = tuple[np.ndarray | None, np.ndarray | None, np.ndarray | None]  # (probability, label, value)


def predict_arrays(model: Any, X: pd.DataFrame, regression: bool) -> Answers:
    """(probability, label, value). A FixedThresholdClassifier's label is computed from the one
    predict_proba call exactly as its `predict` would (score >= threshold picks classes_[1]), which
    halves the model time of a request; any other classifier uses its own `predict`."""
    if regression:
        return None, None, np.asarray(model.predict(X), dtype=float)
    p = np.asarray(model.predict_proba(X))[:, 1]
    t = getattr(model, "threshold", None)
    if isinstance(t, (int, float)) and getattr(model, "pos_label", None) is None and hasattr(model, "classes_"):
        labels = np.asarray(model.classes_)[(p >= t).astype(int)]
    else:
        labels = np.asarray(model.predict(X))
    return p, labels.astype(int), None


def prediction_log_columns(at: str, request_id: str, record_ids: np.ndarray | None, version: str, arm: str, scored: Answers,
                           inputs: pd.DataFrame) -> dict[str, np.ndarray]:
    """One model's answers as prediction-log columns: when, which request, the record id, who answered
    (version, arm), the answer (`predict_arrays`) and every model input (`input.<column>`)."""
    p, label, value = scored
    n = len(inputs)
    columns = {"timestamp": np.full(n, at, dtype=object), "request_id": np.full(n, request_id, dtype=object),
               "record_id": record_ids if record_ids is not None else np.full(n, None, dtype=object),
               "model_version": np.full(n, version, dtype=object), "arm": np.full(n, arm, dtype=object),
               "probability": p if p is not None else np.full(n, np.nan),
               "label": label.astype(float) if label is not None else np.full(n, np.nan),
               "prediction": value if value is not None else np.full(n, np.nan)}
    for c in inputs.columns:
        columns[f"input.{c}"] = inputs[c].to_numpy()
    return columns
