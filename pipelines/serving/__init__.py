"""The prediction service, an edge over the stores: one FastAPI app serving every project's
`champion` and following the alias without restarts (`app.py`), the request schema built from each
project's config and GX suite (`schema.py`), the served model slots (`service.py`), the ASGI guard
that caps bodies while streaming (`guard.py`), and the metrics and prediction log (`telemetry.py`).

May import: every layer below the edges. The app's public names are re-exported here.
"""

from __future__ import annotations

from pipelines.serving.app import InsecureServingError, create_app, is_loopback, serve
from pipelines.serving.schema import BATCH_LIMIT, BatchPrediction, Prediction, batch_model, record_model, suite_constraints

__all__ = ["BATCH_LIMIT", "BatchPrediction", "InsecureServingError", "Prediction", "batch_model", "create_app", "is_loopback",
           "record_model", "serve", "suite_constraints"]
