"""Request and response models of the prediction API, built per project from its config and its GX
suite: types, required fields, value sets and ranges; extra fields refused; NaN, Infinity and
out-of-range numbers refused with 422 naming the field, so the OpenAPI spec documents every project
precisely.
"""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, create_model

from pipelines.config import ProjectConfig

BATCH_LIMIT = 1000
UNBOUNDED = 1e12  # numeric fields the suite gives no range: still finite and sane
# ----------------------------------------------------------------------------- request models
def suite_constraints(cfg: ProjectConfig, expectations_dir: Any) -> dict[str, dict[str, Any]]:
    """Ranges, value sets and nullability per column, read from the project's GX suite JSON."""
    out: dict[str, dict[str, Any]] = {}
    suite = json.loads((expectations_dir / cfg.validation.suite).read_text())
    for e in suite.get("expectations", []):
        kw = e.get("kwargs", {})
        col = kw.get("column")
        if not col:
            continue
        c = out.setdefault(col, {})
        if e["type"] == "expect_column_values_to_be_between":
            c["ge"], c["le"] = kw.get("min_value"), kw.get("max_value")
        elif e["type"] == "expect_column_values_to_be_in_set" and "mostly" not in kw:
            c["values"] = kw.get("value_set")  # with `mostly` it is a share check, not the value set
        elif e["type"] == "expect_column_values_to_not_be_null":
            c["required"] = kw.get("mostly", 1.0) >= 1.0
    return out


def _numeric_field(col: str, c: dict[str, Any]) -> dict[str, Any]:
    values = c.get("values")
    if values and all(isinstance(v, (int, float)) for v in values):
        return {"ge": min(values), "le": max(values), "description": f"one of {values}"}
    ge = c.get("ge") if c.get("ge") is not None else -UNBOUNDED
    le = c.get("le") if c.get("le") is not None else UNBOUNDED
    return {"ge": ge, "le": le, "description": f"numeric feature {col} in [{ge}, {le}]"}


def record_model(cfg: ProjectConfig, expectations_dir: Any) -> type[BaseModel]:
    """A strict pydantic model of one input record for this project."""
    cons = suite_constraints(cfg, expectations_dir)
    fields: dict[str, Any] = {}
    for col in cfg.features:
        c = cons.get(col, {})
        if col in cfg.categorical_features:
            typ: Any = Literal[tuple(str(v) for v in c["values"])] if c.get("values") else str  # type: ignore[misc]
            kw: dict[str, Any] = {"description": f"categorical feature {col}", **({} if c.get("values") else {"max_length": 200})}
        else:
            typ, kw = float, _numeric_field(col, c)
        fields[col] = (typ, Field(**kw)) if c.get("required", False) else (typ | None, Field(None, **kw))
    for col in cfg.input_columns[len(cfg.features):]:  # raw inputs only feature engineering reads (e.g. a date)
        fields[col] = (str, Field(description=f"raw input {col} (used by feature engineering)", max_length=64))
    if cfg.id_column:
        fields[cfg.id_column] = (int | str | None, Field(None, description=f"the record's id ({cfg.id_column}): logged with the "
                                                          "prediction for the outcome join; a canary routes by it", max_length=64))
    config = ConfigDict(extra="forbid", allow_inf_nan=False)
    return create_model(f"{cfg.name.title()}Record", __config__=config, **fields)  # type: ignore[call-overload, no-any-return]


def batch_model(cfg: ProjectConfig, record: type[BaseModel]) -> type[BaseModel]:
    return create_model(f"{cfg.name.title()}Batch", __config__=ConfigDict(extra="forbid"),  # type: ignore[call-overload, no-any-return]
                        records=(list[record], Field(min_length=1, max_length=BATCH_LIMIT,  # type: ignore[valid-type]
                                                     description=f"1 to {BATCH_LIMIT} records")))


def request_schemas(record: type[BaseModel], batch_limit: int = BATCH_LIMIT) -> tuple[dict[str, Any], dict[str, Any]]:
    """The OpenAPI request bodies of /predict and /predict_batch, from the record model. The routes
    validate with `columnar.BatchValidator` (same rules, one pass per column); the spec stays the
    record model's, so clients and schemathesis see every type, range and value set."""
    one = record.model_json_schema()
    many = {"type": "object", "additionalProperties": False, "required": ["records"],
            "properties": {"records": {"type": "array", "items": one, "minItems": 1, "maxItems": batch_limit,
                                       "description": f"1 to {batch_limit} records"}}}
    return one, many


class Prediction(BaseModel):
    project: str
    model_version: str
    request_id: str
    arm: Literal["champion", "challenger"] = "champion"
    probability: float | None = None
    label: int | None = None
    class_label: str | None = None
    risk_level: Literal["low", "medium", "high"] | None = None
    threshold: float | None = None
    prediction: float | None = None


class BatchPrediction(BaseModel):
    project: str
    model_version: str
    request_id: str
    count: int
    predictions: list[Prediction]
