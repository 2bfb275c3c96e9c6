"""The drafted GX suite: the exact column set, types, null fractions, numeric ranges with a margin
(value sets for small integer codes; counts with a thin tail get a range), categorical value sets,
row count, and every category's share and every binary flag's rate within a tolerance.
"""

from __future__ import annotations

import json
from typing import Any

from pipelines.onboarding.profile import DATE_TYPES, MIN_SHARE, NUMERIC_TYPES, TEXT_TYPES, ColumnProfile


def share_bounds(share: float, tolerance: float) -> tuple[float, float]:
    """A category's share may shrink to (1 - t) x and grow to (1 + 2t) x (+2 points): a vanishing or
    halved category (the typical upstream bug) fails; a group growing with real drift still passes,
    and the drift monitor reports it."""
    return round(max(0.0, share * (1 - tolerance)), 4), round(min(1.0, share * (1 + 2 * tolerance) + 0.02), 4)


def draft_suite(name: str, cols: dict[str, ColumnProfile], *, rows: int, tolerance: float = 0.3, id_column: str | None = None) -> Any:
    """A GX 1.x suite with exact columns, types, nulls, ranges, value sets and distribution checks."""
    import great_expectations as gx
    import great_expectations.expectations as gxe

    ex: list[Any] = [gxe.ExpectTableColumnsToMatchSet(column_set=list(cols), exact_match=True),
                     gxe.ExpectTableRowCountToBeBetween(min_value=30, max_value=max(100 * rows, 50_000_000))]
    if id_column:
        ex.append(gxe.ExpectColumnValuesToBeUnique(column=id_column))
    for c, p in cols.items():
        types = DATE_TYPES if p.date or p.kind == "time" else NUMERIC_TYPES if p.number else TEXT_TYPES
        ex.append(gxe.ExpectColumnValuesToBeInTypeList(column=c, type_list=types))
        if p.nulls == 0:
            ex.append(gxe.ExpectColumnValuesToNotBeNull(column=c))
        elif p.nulls < 1:
            ex.append(gxe.ExpectColumnValuesToNotBeNull(column=c, mostly=round(max(0.0, 1 - min(1.0, 1.5 * p.nulls + 0.02)), 3)))
        ex += _value_expectations(c, p, tolerance)
    return gx.ExpectationSuite(name=name, expectations=ex)


def _value_expectations(c: str, p: ColumnProfile, tolerance: float) -> list[Any]:
    import great_expectations.expectations as gxe

    out: list[Any] = []
    if p.kind == "numeric" and p.low is not None and p.high is not None:
        if p.values:
            out.append(gxe.ExpectColumnValuesToBeInSet(column=c, value_set=p.values))
        else:
            span = p.high - p.low  # room above for heavy tails (a new day's maximum), a little below
            low = p.low - 0.1 * span if p.low < 0 else max(0.0, p.low - 0.1 * span)
            out.append(gxe.ExpectColumnValuesToBeBetween(column=c, min_value=round(low, 4), max_value=round(p.high + 0.5 * span, 4)))
    elif p.kind == "binary" and p.rate is not None:
        out.append(gxe.ExpectColumnValuesToBeInSet(column=c, value_set=[0, 1]))
        lo, hi = round(p.rate * (1 - tolerance), 4), round(1 - (1 - p.rate) * (1 - tolerance), 4)
        out.append(gxe.ExpectColumnMeanToBeBetween(column=c, min_value=lo, max_value=hi,
                                                   meta={"check": f"binary-flag rate {p.rate:.3f}, tolerance {tolerance:.0%}"}))
    elif p.kind == "categorical":
        out.append(gxe.ExpectColumnValuesToBeInSet(column=c, value_set=p.values))
        for value, share in p.shares.items():
            if share < MIN_SHARE:
                continue
            lo, hi = share_bounds(share, tolerance)
            meta = {"check": f"share of {value!r} was {share:.3f}, tolerance {tolerance:.0%}"}
            out.append(gxe.ExpectColumnValuesToBeInSet(column=c, value_set=[value], mostly=lo, meta=meta))
            if hi < 1.0:
                out.append(gxe.ExpectColumnValuesToNotBeInSet(column=c, value_set=[value], mostly=round(1 - hi, 4), meta=meta))
    return out


def suite_json(suite: Any) -> str:
    return json.dumps(suite.to_json_dict(), indent=2, sort_keys=True) + "\n"
