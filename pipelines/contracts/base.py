"""The base of every typed hand-off: frozen, strict pydantic models that turn into JSON only at the
edges (`to_json()` / `from_json()`); undefined metric values are None, never NaN.
"""

from __future__ import annotations

import math
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict

OVERALL = "overall"
Outcome = Literal["promoted", "kept_champion", "rejected"]
C = TypeVar("C", bound="Contract")


def finite_or_none(v: Any) -> float | None:
    """A float, or None for missing / NaN / infinite values."""
    if v is None:
        return None
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


class Contract(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    def to_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json")

    @classmethod
    def from_json(cls: type[C], data: Any) -> C:
        return cls.model_validate(data)


Metrics = dict[str, float | None]


def clean_metrics(v: dict[str, Any]) -> dict[str, float | None]:
    return {k: finite_or_none(x) for k, x in v.items()}
