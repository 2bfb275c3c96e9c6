"""Promotion policy: a fail-closed gate deciding whether the challenger becomes `champion`, with
TFMA's semantics on MLflow aliases (MLflow cannot express slices or "may regress by at most e").

Checks, each recorded with value, threshold and pass/fail (the "blessing"):

* value thresholds per metric, overall or per slice ("*" = every judged slice), and on the
  temporal backtest where configured;
* beats the dummy baseline by a margin;
* fairness per sensitive feature: disparate impact floor and maximum metric gap between groups;
  a sensitive feature with fewer than two judged groups FAILS (it cannot be judged fair);
* slice coverage: every slice judged when the champion was promoted must still be judgeable on
  the comparison rows, unless the config marks it optional;
* change thresholds vs the champion on the same rows: `non_inferiority` / `superiority` decided by
  the paired bootstrap interval, or `point` bounds -- skipped, and recorded, for the first model.

A configured threshold whose metric or interval is missing fails. Any error yields `rejected`.
"""

from __future__ import annotations

import math

from pipelines.config import LOWER_IS_BETTER, ChangeThreshold, ProjectConfig, ValueThreshold
from pipelines.contracts import OVERALL, Check, Decision, Evaluation, ModelScores, SliceScore


def improvement(new: float, old: float, higher_is_better: bool) -> float:
    return (new - old) if higher_is_better else (old - new)


def relative_improvement(new: float, old: float, higher_is_better: bool) -> float:
    """improvement / |old|; with old == 0: 0 if nothing changed, else +-inf (any change is infinite)."""
    imp = improvement(new, old, higher_is_better)
    if old == 0:
        return 0.0 if imp == 0 else math.copysign(math.inf, imp)
    return imp / abs(old)


def _bound(t: ValueThreshold) -> str:
    return " and ".join(x for x in (f">= {t.lower}" if t.lower is not None else "", f"<= {t.upper}" if t.upper is not None else "") if x)


def _value_check(t: ValueThreshold, name: str, s: SliceScore | None, where: str = "") -> Check:
    check, bound = f"value:{where}{name}:{t.metric}", _bound(t)
    if s is not None and not s.judged:
        return Check(name=check, kind="value", passed=True, value=s.metrics.get(t.metric), threshold=bound, slice=name, skipped=True,
                     detail=f"{name}: {s.n} rows / {s.positives} positives under the minimum: reported, not judged")
    v = s.metrics.get(t.metric) if s is not None else None
    if v is None:
        return Check(name=check, kind="value", passed=False, value=None, threshold=bound, slice=name,
                     detail=f"{t.metric} on {where}{name} is missing")
    ok = (t.lower is None or v >= t.lower) and (t.upper is None or v <= t.upper)
    return Check(name=check, kind="value", passed=ok, value=v, threshold=bound, slice=name,
                 detail=f"{t.metric} on {where}{name} = {v:.4f}, must be {bound}")


def value_checks(cfg: ProjectConfig, challenger: ModelScores) -> list[Check]:
    out = []
    for t in cfg.promotion.value_thresholds:
        targets = [s.name for s in challenger.slices if s.name != OVERALL] if t.slice == "*" else [t.slice]
        out += [_value_check(t, name, challenger.slice(name)) for name in targets]
    return out


def backtest_checks(cfg: ProjectConfig, ev: Evaluation) -> list[Check]:
    if cfg.backtest is None or not cfg.backtest.thresholds:
        return []
    if ev.backtest is None:
        return [Check(name="value:backtest", kind="value", passed=False, value=None, threshold="", detail="no backtest was run")]
    s = SliceScore(name="backtest", n=ev.backtest.test_rows, judged=True, metrics=ev.backtest.metrics)
    return [_value_check(t, "overall", s, "backtest ") for t in cfg.backtest.thresholds]


def baseline_check(cfg: ProjectConfig, ev: Evaluation) -> Check:
    metric, margin = cfg.promotion.baseline.metric or cfg.primary_metric, cfg.promotion.baseline.margin
    new = ev.challenger.metrics.get(metric)
    base = ev.models["baseline"].metrics.get(metric) if "baseline" in ev.models else None
    if new is None or base is None:
        return Check(name=f"baseline:{metric}", kind="baseline", passed=False, value=None, threshold=f">= {margin}",
                     detail=f"{metric} missing for challenger or baseline")
    gain = improvement(new, base, metric not in LOWER_IS_BETTER)
    return Check(name=f"baseline:{metric}", kind="baseline", passed=gain >= margin, value=gain, threshold=f">= {margin}",
                 detail=f"{metric} {new:.4f} vs dummy baseline {base:.4f}: margin {gain:+.4f}")


def fairness_checks(cfg: ProjectConfig, ev: Evaluation) -> list[Check]:
    rule = cfg.promotion.fairness
    if rule is None:
        return []
    out = []
    by_feature = {f.feature: f for f in ev.fairness}
    for feat in cfg.sensitive_features:
        f = by_feature.get(feat)
        di_name, floor = f"fairness:{feat}:disparate_impact", f">= {rule.min_disparate_impact}"
        if f is None or len(f.judged_groups) < 2:
            n = 0 if f is None else len(f.judged_groups)
            out.append(Check(name=di_name, kind="fairness", passed=False, value=None, threshold=floor, slice=feat,
                             detail=f"only {n} group(s) of {feat} with >= {cfg.slices.min_size} rows: fairness cannot be judged"))
            continue
        di = f.disparate_impact
        out.append(Check(name=di_name, kind="fairness", passed=di is not None and di >= rule.min_disparate_impact, value=di, threshold=floor,
                         slice=feat, detail=f"disparate impact over {feat} = {di:.3f}" if di is not None else f"disparate impact over {feat} missing"))
        if rule.max_gap is not None:
            out.append(_gap_check(cfg, ev.challenger, feat))
    return out


def _gap_check(cfg: ProjectConfig, challenger: ModelScores, feat: str) -> Check:
    rule = cfg.promotion.fairness
    assert rule is not None and rule.max_gap is not None
    vals = {s.name: s.metrics.get(rule.gap_metric) for s in challenger.slices if s.name.startswith(f"{feat}=") and s.judged}
    vals = {n: v for n, v in vals.items() if v is not None}
    name = f"fairness:{feat}:{rule.gap_metric}_gap"
    if len(vals) < 2:
        return Check(name=name, kind="fairness", passed=False, value=None, threshold=f"<= {rule.max_gap}", slice=feat,
                     detail=f"fewer than 2 judged groups of {feat} with {rule.gap_metric}: the gap cannot be judged")
    lo, hi = min(vals, key=vals.__getitem__), max(vals, key=vals.__getitem__)
    gap = vals[hi] - vals[lo]
    return Check(name=name, kind="fairness", passed=gap <= rule.max_gap, value=gap, threshold=f"<= {rule.max_gap}", slice=feat,
                 detail=f"{rule.gap_metric} gap over {feat} = {gap:.3f} ({lo} {vals[lo]:.3f} .. {hi} {vals[hi]:.3f})")


def coverage_checks(cfg: ProjectConfig, ev: Evaluation) -> list[Check]:
    """Slices judged for the champion (when it was promoted) that cannot be judged now fail."""
    if ev.champion is None:
        return []
    now = {s.name: s for s in ev.challenger.slices}
    out = []
    for name in ev.champion.judged_slices:
        s = now.get(name)
        if s is not None and s.judged:
            continue
        why = "missing from the comparison rows" if s is None else f"{s.n} rows / {s.positives} positives, under the minimum"
        optional = cfg.slices.is_optional(name)
        out.append(Check(name=f"slices:{name}", kind="slices", passed=optional, value=None, threshold="judgeable", slice=name,
                         skipped=optional, detail=f"{name} was judged for champion v{ev.champion.version} but is {why} now"
                         + (" (optional slice)" if optional else ": the challenger cannot be judged on it")))
    return out


def _change_targets(t: ChangeThreshold, ev: Evaluation) -> list[str]:
    if t.slice != "*":
        return [t.slice]
    names = {s.name for s in ev.challenger.slices if s.judged and s.name != OVERALL}
    if ev.champion is not None:
        names |= {n for n in ev.champion.judged_slices if n != OVERALL}
    return sorted(names)


def _interval_check(t: ChangeThreshold, name: str, ev: Evaluation) -> Check:
    check = f"change:{name}:{t.metric}"
    margin = float(t.margin or 0.0)
    floor = -margin if t.mode == "non_inferiority" else margin
    bound = f"CI low of improvement > {floor:+g} ({t.mode})"
    iv = ev.interval(t.metric, name)
    if iv is None or iv.ci_low is None or iv.ci_high is None or iv.delta is None:
        return Check(name=check, kind="change", passed=False, value=None, threshold=bound, slice=name, rule=t.mode,
                     detail=f"no paired interval of {t.metric} on {name}")
    hib = t.higher_is_better
    imp, low, high = (iv.delta, iv.ci_low, iv.ci_high) if hib else (-iv.delta, -iv.ci_high, -iv.ci_low)
    ok = low > floor
    verdict = "non-inferior" if t.mode == "non_inferiority" else "superior"
    return Check(name=check, kind="change", passed=ok, value=low, threshold=bound, slice=name, rule=t.mode,
                 detail=f"{t.metric} on {name} ({iv.n} rows): improvement {imp:+.4f}, {iv.confidence:.0%} CI [{low:+.4f}, {high:+.4f}] "
                        f"{'>' if ok else '<='} {floor:+g}: {verdict if ok else 'not ' + verdict} by the interval")


def _point_check(t: ChangeThreshold, name: str, new: float | None, old: float | None) -> Check:
    hib = t.higher_is_better
    bounds = " and ".join(x for x in (f"abs >= {t.absolute:+g}" if t.absolute is not None else "",
                                       f"rel >= {t.relative:+g}" if t.relative is not None else "") if x)
    check = f"change:{name}:{t.metric}"
    if new is None or old is None:
        return Check(name=check, kind="change", passed=False, value=None, threshold=bounds, slice=name, rule="point",
                     detail=f"{t.metric} on {name} missing for challenger or champion")
    imp, rel = improvement(new, old, hib), relative_improvement(new, old, hib)
    ok = (t.absolute is None or imp >= t.absolute) and (t.relative is None or rel >= t.relative)
    return Check(name=check, kind="change", passed=ok, value=imp, threshold=bounds, slice=name, rule="point",
                 detail=f"{t.metric} on {name}: {new:.4f} vs champion {old:.4f} ({'higher' if hib else 'lower'} is better): "
                        f"improvement {imp:+.4f}, relative {rel:+.2%} (point estimate, no interval)")


def change_checks(cfg: ProjectConfig, ev: Evaluation) -> list[Check]:
    chal, champ = ev.challenger, ev.models["champion"]
    out = []
    for t in cfg.promotion.change_thresholds:
        for name in _change_targets(t, ev):
            s = chal.slice(name)
            if s is None or not s.judged:
                out.append(Check(name=f"change:{name}:{t.metric}", kind="change", passed=True, value=None, threshold="", slice=name,
                                 skipped=True, rule=t.mode, detail=f"{name} not judgeable on these rows (see the slice coverage check)"))
                continue
            if t.needs_interval:
                out.append(_interval_check(t, name, ev))
            else:
                o = champ.slice(name)
                out.append(_point_check(t, name, s.metrics.get(t.metric), o.metrics.get(t.metric) if o else None))
    return out


def decide(cfg: ProjectConfig, ev: Evaluation) -> Decision:
    """Never raises: an error becomes a `rejected` decision with the error as its reason."""
    cv = ev.champion_version
    try:
        absolute = (value_checks(cfg, ev.challenger) + backtest_checks(cfg, ev) + [baseline_check(cfg, ev)]
                    + fairness_checks(cfg, ev))
        first = "champion" not in ev.models
        relative = ([Check(name="change:*", kind="change", passed=True, value=None, threshold="", skipped=True,
                           detail="first model: no champion, change thresholds skipped")]
                    if first else coverage_checks(cfg, ev) + change_checks(cfg, ev))
        checks = absolute + relative
        failed_abs = [c for c in absolute if not c.passed]
        if failed_abs:
            return Decision(decision="rejected", promote=False, reason="fails: " + "; ".join(c.detail for c in failed_abs[:4]),
                            champion_version=cv, checks=checks)
        if first:
            n = sum(not c.skipped for c in absolute)
            return Decision(decision="promoted", promote=True, reason=f"first model: passes {n} absolute checks", champion_version=None,
                            checks=checks)
        failed_rel = [c for c in relative if not c.passed]
        if failed_rel:
            return Decision(decision="kept_champion", promote=False, champion_version=cv, checks=checks,
                            reason=f"vs champion v{cv}: " + "; ".join(c.detail for c in failed_rel[:4]))
        judged = [c for c in checks if not c.skipped]
        lead = next((c for c in relative if c.kind == "change" and not c.skipped and c.slice == OVERALL), None)
        head = lead.detail if lead else f"{len(judged)} checks"
        return Decision(decision="promoted", promote=True, champion_version=cv, checks=checks,
                        reason=f"passes all {len(judged)} judged checks vs champion v{cv}; deciding rule: {head}")
    except Exception as e:  # fail closed: a bug or a malformed report moves nothing
        return Decision(decision="rejected", promote=False, reason=f"policy error: {type(e).__name__}: {e}", champion_version=cv, checks=[])
