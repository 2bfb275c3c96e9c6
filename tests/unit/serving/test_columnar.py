"""Columnar validation: the record model's rules, errors that name row, field, value and rule, and
agreement with the pydantic record model on generated records."""

from __future__ import annotations

import math

import numpy as np
import pytest
from pydantic import ValidationError

from pipelines.config import load_project
from pipelines.config.settings import Settings
from pipelines.serving.columnar import MAX_ERRORS, BatchInvalid, BatchValidator
from pipelines.serving.schema import UNBOUNDED, record_model, suite_constraints

GOOD = {"CreditScore": 650, "Age": 42, "Tenure": 3, "Balance": 120000.5, "NumOfProducts": 2, "HasCrCard": 1,
        "IsActiveMember": 0, "EstimatedSalary": 80000, "Geography": "Germany", "Gender": "Female"}


@pytest.fixture(scope="module")
def setup():
    s = Settings.from_env()
    cfg = load_project("bankchurn", s)
    cons = suite_constraints(cfg, s.expectations_dir)
    return cfg, BatchValidator(cfg, cons, unbounded=UNBOUNDED), record_model(cfg, s.expectations_dir)


def test_a_good_batch_becomes_the_model_frame(setup):
    cfg, v, _ = setup
    out = v.validate([GOOD, {**GOOD, "Tenure": None, "CustomerId": 15634602}], ("body", "records"))
    assert list(out.frame.columns) == cfg.input_columns and len(out.frame) == 2
    assert out.frame["Age"].dtype == np.float64 and math.isnan(out.frame.loc[1, "Tenure"])
    assert out.ids == [None, 15634602]


def test_records_of_the_wrong_shape_are_named_first(setup):
    _, v, _ = setup
    batch = [GOOD, {**GOOD, "Geography": "Atlantis"}, {**GOOD, "Age": -5}, {k: x for k, x in GOOD.items() if k != "Balance"},
             {**GOOD, "Surname": "x"}, {**GOOD, "CreditScore": "high"}, {**GOOD, "Age": float("nan")}, {**GOOD, "Gender": 1},
             {**GOOD, "CustomerId": [1]}, "not a record", {**GOOD, "Balance": 10**400}, {**GOOD, "HasCrCard": True}]
    with pytest.raises(BatchInvalid) as e:
        v.validate(batch, ("body", "records"))
    got = {(tuple(x["loc"][2:]), x["type"]) for x in e.value.errors}
    assert got == {((4, "Surname"), "extra_forbidden"), ((9,), "model_attributes_type")}  # the shape first, then the values
    assert all(x["loc"][:2] == ["body", "records"] for x in e.value.errors)


def test_value_errors_are_all_reported_once_the_shape_is_right(setup):
    _, v, _ = setup
    batch = [GOOD, {**GOOD, "Geography": "Atlantis"}, {**GOOD, "Age": -5}, {k: x for k, x in GOOD.items() if k != "Balance"},
             {**GOOD, "CreditScore": "high"}, {**GOOD, "Age": float("inf")}, {**GOOD, "Gender": 1}, {**GOOD, "CustomerId": [1]},
             {**GOOD, "Balance": 10**400}, {**GOOD, "HasCrCard": True}]
    with pytest.raises(BatchInvalid) as e:
        v.validate(batch, ("body", "records"))
    got = {(x["loc"][2], x["loc"][3], x["type"]) for x in e.value.errors}
    assert got == {(1, "Geography", "literal_error"), (2, "Age", "greater_than_equal"), (3, "Balance", "missing"),
                   (4, "CreditScore", "float_type"), (5, "Age", "finite_number"), (6, "Gender", "string_type"),
                   (7, "CustomerId", "string_type"), (8, "Balance", "finite_number"), (9, "HasCrCard", "float_type")}
    bad_age = next(x for x in e.value.errors if x["loc"][2] == 2)
    assert bad_age["input"] == -5 and "greater than or equal" in bad_age["msg"]


def test_a_single_record_has_no_row_index_and_errors_are_capped(setup):
    _, v, _ = setup
    with pytest.raises(BatchInvalid) as e:
        v.validate([{**GOOD, "Age": 500}], ("body",))
    assert e.value.errors[0]["loc"] == ["body", "Age"]
    with pytest.raises(BatchInvalid) as e:
        v.validate([{**GOOD, "Age": -1, "Geography": "x"}] * 1000, ("body", "records"))
    assert len(e.value.errors) == MAX_ERRORS and e.value.total == 2000


def test_agrees_with_the_pydantic_record_model(setup):
    """The record model documents the API; the validator enforces it: they accept and refuse alike."""
    _, v, Record = setup
    rng = np.random.default_rng(0)
    fields = list(GOOD)
    candidates = [GOOD]
    mutations = [-1e13, -5, 0, 0.5, 17, 1e6, 1e13, None, "7", "France", True, "", "x" * 300]
    for _ in range(600):
        r = dict(GOOD)
        for f in rng.choice(fields, size=rng.integers(1, 3), replace=False):
            r[str(f)] = mutations[rng.integers(len(mutations))]
        candidates.append(r)
    disagree = []
    for r in candidates:
        try:
            Record.model_validate(r, strict=False)
            ok_pyd = True
        except ValidationError:
            ok_pyd = False
        try:
            v.validate([r], ("body",))
            ok_col = True
        except BatchInvalid:
            ok_col = False
        if ok_pyd != ok_col:
            disagree.append((r, ok_pyd, ok_col))
    # pydantic's lax mode turns "7" into 7.0 and True into 1.0 for a float; the API takes JSON numbers only
    lax = [d for d in disagree if any(isinstance(x, (str, bool)) and not isinstance(GOOD.get(k), str) for k, x in d[0].items())]
    assert disagree == lax and all(d[1] and not d[2] for d in lax)
