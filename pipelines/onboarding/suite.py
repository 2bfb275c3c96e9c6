"""The drafted GX suite: the exact column set, types, null fractions, numeric ranges with a margin
(value sets for small integer codes; counts with a thin tail get a range), categorical value sets,
row count -- and the distribution of every column, with tolerances sized for one daily partition
(`pipelines.onboarding.distribution`, the rule written into the suite's meta):

* categories, codes, binary flags: each share within bounds (a vanished, universal or, where the
  batch is large enough to tell, halved value fails);
* numeric columns: the 10/25/50/75/90% quantiles within bounds (a unit change, an offset, all
  zeros fail), the standard deviation above a floor (a constant column fails), the share of zeros
  within bounds where zeros are common, and a floor on distinct values (a column collapsed onto a
  few values fails).
"""

from __future__ import annotations

import json
from typing import Any

from pipelines.onboarding.distribution import (
    MIN_BATCH_ROWS, QUANTILES, Z, flag_bounds, location_bounds, null_floor, share_bounds, std_floor,
)
from pipelines.onboarding.profile import DATE_TYPES, MIN_SHARE, NUMERIC_TYPES, SPREAD_TOLERANCE, TEXT_TYPES, ColumnProfile

LOCATION_TOLERANCE = 1.5  # quantiles may move this many IQRs beyond the batch noise (real drift does; a unit change does not)


def tolerance_rule(tolerance: float, batch_rows: int, rows: int) -> dict[str, Any]:
    """The suite-level meta: how every distribution bound was drawn, so a reviewer can redo it."""
    return {"drafted_by": "pipelines init (pipelines/onboarding)", "profiled_rows": rows, "batch_rows": batch_rows,
            "tolerance_rule": (
                f"bounds are sized for one daily partition of {batch_rows} rows: a statistic may move by {Z} of its standard "
                f"errors at that size (resampled for quantiles, standard deviation and distinct values; binomial for shares), "
                f"widened for drift -- shares by x(1 - {tolerance}) .. x(1 + {2 * tolerance}) + 0.02, quantiles by "
                f"{LOCATION_TOLERANCE} IQR, standard deviation and distinct values down to x{1 - SPREAD_TOLERANCE}; a larger "
                "batch (the training window) varies less and passes the same bounds")}


def draft_suite(name: str, cols: dict[str, ColumnProfile], *, rows: int, tolerance: float = 0.3, id_column: str | None = None) -> Any:
    """A GX 1.x suite with exact columns, types, nulls, ranges, value sets and distribution checks."""
    import great_expectations as gx
    import great_expectations.expectations as gxe

    ex: list[Any] = [gxe.ExpectTableColumnsToMatchSet(column_set=list(cols), exact_match=True),
                     gxe.ExpectTableRowCountToBeBetween(min_value=MIN_BATCH_ROWS, max_value=max(100 * rows, 50_000_000))]
    if id_column:
        ex.append(gxe.ExpectColumnValuesToBeUnique(column=id_column))
    for c, p in cols.items():
        types = DATE_TYPES if p.date or p.kind == "time" else NUMERIC_TYPES if p.number else TEXT_TYPES
        ex.append(gxe.ExpectColumnValuesToBeInTypeList(column=c, type_list=types))
        if p.nulls == 0:
            ex.append(gxe.ExpectColumnValuesToNotBeNull(column=c))
        elif p.nulls < 1:
            ex.append(gxe.ExpectColumnValuesToNotBeNull(column=c, mostly=null_floor(p.nulls, p.batch_rows),
                                                        meta={"check": f"nulls were {p.nulls:.3f}: up to x1.5 + 0.02 in a {p.batch_rows}-row day"}))
        ex += _value_expectations(c, p, tolerance)
    batch = next((p.batch_rows for p in cols.values()), MIN_BATCH_ROWS)
    return gx.ExpectationSuite(name=name, expectations=ex, meta=tolerance_rule(tolerance, batch, rows))


def _share_checks(c: str, p: ColumnProfile, tolerance: float, what: str) -> list[Any]:
    import great_expectations.expectations as gxe

    out: list[Any] = []
    for value, share in p.shares.items():
        if share < MIN_SHARE:
            continue
        lo, hi = share_bounds(share, tolerance, p.batch_rows)
        v: Any = int(value) if p.kind == "numeric" else value
        meta = {"check": f"share of {what} {v!r} was {share:.3f}: within [{lo}, {hi}] in a {p.batch_rows}-row day"}
        if lo > 0:
            out.append(gxe.ExpectColumnValuesToBeInSet(column=c, value_set=[v], mostly=lo, meta=meta))
        if hi < 1.0:
            out.append(gxe.ExpectColumnValuesToNotBeInSet(column=c, value_set=[v], mostly=round(1 - hi, 4), meta=meta))
    return out


def _distribution_checks(c: str, p: ColumnProfile, tolerance: float, zero_in_range: bool) -> list[Any]:
    import great_expectations.expectations as gxe

    d = p.dist
    assert d is not None
    ranges = [list(location_bounds(d, q, LOCATION_TOLERANCE)) for q in QUANTILES]
    out: list[Any] = [gxe.ExpectColumnQuantileValuesToBeBetween(
        column=c, quantile_ranges={"quantiles": list(QUANTILES), "value_ranges": ranges},
        meta={"check": "quantiles " + ", ".join(f"{q:.0%}={d.quantiles[q]:g}" for q in QUANTILES) + f"; IQR {d.iqr:g}"})]
    floor = std_floor(d, SPREAD_TOLERANCE)
    if floor > 0:
        out.append(gxe.ExpectColumnStdevToBeBetween(column=c, min_value=floor,
                                                    meta={"check": f"standard deviation was {d.std:.4g}: a constant column fails"}))
    if zero_in_range and d.zero_share < 1 and str(0) not in p.shares:  # zeros where there were few or none: a join or fill bug
        lo, hi = share_bounds(d.zero_share, tolerance, p.batch_rows)
        meta = {"check": f"share of zeros was {d.zero_share:.3f}: within [{lo}, {hi}] in a {p.batch_rows}-row day"}
        if lo > 0 and d.zero_share >= MIN_SHARE:
            out.append(gxe.ExpectColumnValuesToBeInSet(column=c, value_set=[0], mostly=lo, meta=meta))
        out.append(gxe.ExpectColumnValuesToNotBeInSet(column=c, value_set=[0], mostly=round(1 - hi, 4), meta=meta))
    if d.unique_kind == "proportion":
        out.append(gxe.ExpectColumnProportionOfUniqueValuesToBeBetween(column=c, min_value=d.unique_floor,
                                                                        meta={"check": d.notes[-1]}))
    else:
        out.append(gxe.ExpectColumnUniqueValueCountToBeBetween(column=c, min_value=int(d.unique_floor), meta={"check": d.notes[-1]}))
    return out


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
        out += _share_checks(c, p, tolerance, "code" if p.values else "value")
        if p.dist is not None:
            out += _distribution_checks(c, p, tolerance, zero_in_range=p.low - 0.1 * (p.high - p.low) <= 0)
    elif p.kind == "binary" and p.rate is not None:
        out.append(gxe.ExpectColumnValuesToBeInSet(column=c, value_set=[0, 1]))
        lo, hi = flag_bounds(p.rate, tolerance, p.batch_rows)
        out.append(gxe.ExpectColumnMeanToBeBetween(column=c, min_value=lo, max_value=hi,
                                                   meta={"check": f"binary-flag rate {p.rate:.3f}: within [{lo}, {hi}] in a "
                                                                  f"{p.batch_rows}-row day"}))
    elif p.kind == "categorical":
        out.append(gxe.ExpectColumnValuesToBeInSet(column=c, value_set=p.values))
        out += _share_checks(c, p, tolerance, "category")
    return out


def suite_json(suite: Any) -> str:
    return json.dumps(suite.to_json_dict(), indent=2, sort_keys=True) + "\n"
