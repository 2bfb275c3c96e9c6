"""The outcomes join: each edge case on a hand-built table where every answer is known, the counts'
identities on a random one, no outcome read before it arrives, and the decay rule's streak."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from pipelines.config import DecayRule
from pipelines.contracts import JoinCounts, MetricInterval, RealizedMetrics, RealizedReport
from pipelines.domain.outcomes import (
    OutcomeJoinError,
    decay_streak,
    join_outcomes,
    paired_realized,
    realized_metrics,
    window_breached,
)

AS_OF = dt.date(2026, 3, 1)
D = lambda n: (AS_OF - dt.timedelta(days=n)).isoformat()  # noqa: E731  n days before as-of


def preds(*rows: tuple[str, str, str, float, str]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["record_id", "model_version", "arm", "score", "predicted_on"])


def outs(*rows: tuple[str, object, str]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["record_id", "label", "arrived"])


def identities(c: JoinCounts) -> None:
    assert c.predictions == c.duplicate_predictions + c.matched + c.pending + c.missing + c.outcome_first, c
    assert c.outcomes == (c.duplicate_outcomes + c.conflicting_outcomes + c.matched_ids + c.outcome_first_ids + c.before_window
                          + c.never_predicted), c


def test_each_edge_case_counted_once(cfg) -> None:  # type: ignore[no-untyped-def]
    p = preds(
        ("a", "1", "champion", 0.9, D(40)),   # matched, on time (arrived 10 days later, delay 14)
        ("a", "1", "champion", 0.2, D(30)),   # duplicate prediction of (a, v1, champion): the first counts
        ("a", "2", "shadow", 0.8, D(40)),     # the shadow's own prediction of a: judged separately
        ("b", "1", "champion", 0.3, D(40)),   # matched, LATE (arrived 35 days after, delay 14)
        ("c", "1", "champion", 0.6, D(40)),   # no outcome, overdue -> missing (never a negative)
        ("d", "1", "champion", 0.4, D(5)),    # no outcome, not yet due -> pending
        ("e", "1", "champion", 0.7, D(10)),   # outcome arrived BEFORE the prediction -> not a forecast
        ("f", "1", "champion", 0.5, D(40)),   # conflicting outcome labels -> excluded (missing: overdue)
        ("g", "1", "champion", 0.5, D(40)),   # outcome arrives ON the as-of day: not read -> missing
        ("h", "1", "champion", 0.5, D(0)),    # predicted on the as-of day: not in the window
    )
    o = outs(
        ("a", 1, D(30)), ("a", 1, D(29)),      # a duplicate outcome (same label)
        ("b", 0, D(5)),
        ("e", 1, D(20)),
        ("f", 1, D(30)), ("f", 0, D(28)),      # conflicting
        ("g", 1, D(0)),                        # arrives as of the as-of day: invisible
        ("z", 0, D(20)),                       # never predicted
        ("y", 1, D(20)),                       # predicted before the window
    )
    j = join_outcomes(cfg, p, o, AS_OF, 14, earlier_ids={"y"})
    c = j.counts
    assert (c.predictions, c.duplicate_predictions, c.matched, c.late, c.pending, c.missing, c.outcome_first) == (9, 1, 3, 1, 1, 3, 1)
    assert (c.outcomes, c.duplicate_outcomes, c.conflicting_outcomes, c.matched_ids, c.outcome_first_ids, c.before_window,
            c.never_predicted) == (8, 1, 2, 2, 1, 1, 1)
    identities(c)
    got = {(r.record_id, r.model_version, r.arm): (r.score, r.y, r.late) for r in j.rows.itertuples()}
    assert got == {("a", "1", "champion"): (0.9, 1, False), ("a", "2", "shadow"): (0.8, 1, False), ("b", "1", "champion"): (0.3, 0, True)}


def test_no_outcome_is_read_before_it_arrives(cfg) -> None:  # type: ignore[no-untyped-def]
    """The same prediction judged as of every day: the outcome shows up exactly from the day after it arrived."""
    p = preds(("a", "1", "champion", 0.9, "2026-01-01"))
    o = outs(("a", 1, "2026-01-20"))
    seen = {d: join_outcomes(cfg, p, o, dt.date(2026, 1, d), 30).counts.matched for d in range(2, 32)}
    assert [d for d, m in seen.items() if m] == list(range(21, 32))


def test_rerun_gives_the_same_rows(cfg) -> None:  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(0)
    n = 400
    p = preds(*[(str(rng.integers(0, 150)), str(rng.integers(1, 3)), "champion", float(rng.random()), D(int(rng.integers(1, 60))))
                for _ in range(n)])
    o = outs(*[(str(rng.integers(0, 200)), int(rng.integers(0, 2)), D(int(rng.integers(0, 60)))) for _ in range(300)])
    a, b = join_outcomes(cfg, p, o, AS_OF, 14), join_outcomes(cfg, p.sample(frac=1, random_state=1), o.sample(frac=1, random_state=2), AS_OF, 14)
    identities(a.counts)
    assert a.counts == b.counts
    key = ["record_id", "model_version", "arm"]
    pd.testing.assert_frame_equal(a.rows.sort_values(key).reset_index(drop=True), b.rows.sort_values(key).reset_index(drop=True))
    assert not a.rows.duplicated(key).any()  # exactly once per prediction


def test_broken_inputs_are_refused(cfg) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(OutcomeJoinError, match="arrived"):
        join_outcomes(cfg, preds(("a", "1", "champion", 0.9, D(5))), pd.DataFrame({"record_id": ["a"], "label": [1]}), AS_OF, 14)
    with pytest.raises(OutcomeJoinError, match="no label"):  # a null label is never read as a negative
        join_outcomes(cfg, preds(("a", "1", "champion", 0.9, D(5))), outs(("a", None, D(2))), AS_OF, 14)


def _scored(cfg, n: int, noise: float, seed: int, version: str, arm: str) -> pd.DataFrame:  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.3).astype(int)
    s = 1 / (1 + np.exp(-(2.5 * y - 1.2 + np.random.default_rng(seed + 7).normal(0, noise, n))))
    return pd.DataFrame({"record_id": [str(i) for i in range(n)], "model_version": version, "arm": arm, "score": s, "y": y})


def test_realized_metrics_and_the_paired_comparison(cfg) -> None:  # type: ignore[no-untyped-def]
    rows = pd.concat([_scored(cfg, 1500, 0.6, 1, "3", "champion"), _scored(cfg, 1500, 2.0, 1, "4", "shadow")], ignore_index=True)
    est = {"3": MetricInterval(metric="roc_auc", value=0.95, ci_low=0.94, ci_high=0.96)}
    found = {r.version: r for r in realized_metrics(cfg, rows, {"3": 0.5, "4": 0.5}, est, resamples=100)}
    assert found["3"].rows == 1500 and found["3"].estimate == 0.95 and found["4"].estimate is None
    auc3, auc4 = found["3"].metrics["roc_auc"], found["4"].metrics["roc_auc"]
    assert auc3.ci_low < auc3.value < auc3.ci_high and auc3.value > auc4.ci_high  # the noisier shadow is clearly worse
    d = paired_realized(cfg, rows, "3", "4", {"3": 0.5, "4": 0.5})
    assert d is not None and d.n == 1500 and d.ci_high < 0  # challenger - champion, on the same ids
    assert paired_realized(cfg, rows.iloc[:1505], "3", "4", {}) is None  # 5 shared ids: too few to say


def _realized(version: str, auc: float, rows: int = 500, estimate: float | None = 0.85) -> RealizedMetrics:
    return RealizedMetrics(version=version, arm="champion", rows=rows, metrics={"roc_auc": MetricInterval(metric="roc_auc", value=auc, ci_low=None, ci_high=None)},
                           estimate=estimate)


def _report(day: int, r: RealizedMetrics) -> RealizedReport:
    c = JoinCounts(predictions=0, duplicate_predictions=0, matched=0, late=0, pending=0, missing=0, outcome_first=0, outcomes=0,
                   duplicate_outcomes=0, conflicting_outcomes=0, matched_ids=0, outcome_first_ids=0, never_predicted=0)
    return RealizedReport(project="bankchurn", as_of=dt.date(2026, 3, day), window_first=dt.date(2026, 2, 1), window_last=dt.date(2026, 2, 28),
                          primary_metric="roc_auc", label_delay_days=14, counts=c, versions=[r], champion=r.version)


def test_decay_rule() -> None:
    rule = DecayRule(metric="roc_auc", max_drop=0.03, consecutive=2, min_rows=200)
    assert window_breached(rule, _realized("1", 0.80))[0] is True  # 0.05 below its estimate
    assert window_breached(rule, _realized("1", 0.83))[0] is False
    assert window_breached(rule, _realized("1", 0.70, rows=50))[0] is None  # too few outcomes: not judged
    assert window_breached(rule, _realized("1", 0.70, estimate=None))[0] is None
    assert window_breached(DecayRule(metric="roc_auc", floor=0.75), _realized("1", 0.70, estimate=None))[0] is True
    bad, ok, thin = _realized("1", 0.80), _realized("1", 0.84), _realized("1", 0.5, rows=10)
    assert decay_streak(rule, [_report(2, bad)], True, "1") == 2
    assert decay_streak(rule, [_report(2, thin), _report(1, bad)], True, "1") == 2  # an unjudged window neither counts nor breaks
    assert decay_streak(rule, [_report(2, ok), _report(1, bad)], True, "1") == 1
    assert decay_streak(rule, [_report(2, bad)], False, "1") == 0
    assert decay_streak(rule, [_report(2, bad)], True, "2") == 1  # the old champion's breaches do not count against a new one
    with pytest.raises(ValueError, match="max_drop"):
        DecayRule(metric="roc_auc")
