"""Promotion policy: a fail-closed gate deciding whether the challenger becomes `champion`, with
TFMA's semantics on MLflow aliases (MLflow cannot express slices or "may regress by at most e").

Checks, each recorded with value, threshold and pass/fail (the "blessing"):

* value thresholds per metric, overall or per slice ("*" = every judged slice);
* beats the dummy baseline by a margin;
* fairness per sensitive feature: disparate impact floor and maximum metric gap between groups;
* change thresholds vs the champion (absolute and relative, direction-aware) -- skipped, and
  recorded as skipped, for the first model;
* significance: the paired bootstrap CI of the improvement must lie above the tolerance.

A configured threshold whose metric is missing fails. Slices under the minimum size are reported
but not judged. Any error yields `rejected`: nothing moves.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from pipelines.config import LOWER_IS_BETTER, ChangeThreshold, ProjectConfig

Outcome = Literal["promoted", "kept_champion", "rejected"]
OVERALL = "overall"


@dataclass
class Check:
    name: str
    kind: str  # value | baseline | fairness | change | significance
    passed: bool
    value: float | None
    threshold: str
    detail: str
    slice: str = OVERALL
    skipped: bool = False


@dataclass
class Decision:
    decision: Outcome
    promote: bool
    reason: str
    champion_version: str | None
    checks: list[Check] = field(default_factory=list)

    @property
    def validation_status(self) -> str:
        """passed = every judged check passed (the model is blessed), whatever the alias outcome."""
        return "passed" if self.checks and all(c.passed for c in self.checks) else "failed"

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "validation_status": self.validation_status}


def _num(v: Any) -> float | None:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(f) else f


def _slices(model: dict[str, Any]) -> dict[str, dict[str, Any]]:
    out = {s["slice"]: s for s in model.get("slices", [])}
    out.setdefault(OVERALL, {"slice": OVERALL, "judged": True, **model.get("metrics", {})})
    return out


def _targets(spec_slice: str, slices: dict[str, dict[str, Any]]) -> list[str]:
    if spec_slice == "*":
        return [name for name, s in slices.items() if name != OVERALL]
    return [spec_slice]


def improvement(new: float, old: float, higher_is_better: bool) -> float:
    return (new - old) if higher_is_better else (old - new)


def relative_improvement(new: float, old: float, higher_is_better: bool) -> float:
    """improvement / |old|; with old == 0: 0 if nothing changed, else +-inf (any change is infinite)."""
    imp = improvement(new, old, higher_is_better)
    if old == 0:
        return 0.0 if imp == 0 else math.copysign(math.inf, imp)
    return imp / abs(old)


def value_checks(cfg: ProjectConfig, challenger: dict[str, Any]) -> list[Check]:
    slices = _slices(challenger)
    out = []
    for t in cfg.promotion.value_thresholds:
        bound = " and ".join(x for x in (f">= {t.lower}" if t.lower is not None else "", f"<= {t.upper}" if t.upper is not None else "") if x)
        for name in _targets(t.slice, slices):
            s = slices.get(name)
            check = f"value:{name}:{t.metric}"
            if s is not None and not s.get("judged", True):
                out.append(Check(check, "value", True, _num(s.get(t.metric)), bound,
                                 f"{name}: {s.get('n')} rows / {s.get('positives')} positives under the minimum "
                                 f"({cfg.slices.min_size} rows, {cfg.slices.min_positives} per class): reported, not judged", name, skipped=True))
                continue
            v = _num(s.get(t.metric)) if s is not None else None
            if v is None:
                out.append(Check(check, "value", False, None, bound, f"{t.metric} on {name} is missing", name))
                continue
            ok = (t.lower is None or v >= t.lower) and (t.upper is None or v <= t.upper)
            out.append(Check(check, "value", ok, v, bound, f"{t.metric} on {name} = {v:.4f}, must be {bound}", name))
    return out


def baseline_check(cfg: ProjectConfig, report: dict[str, Any]) -> Check:
    metric = cfg.promotion.baseline.metric or cfg.primary_metric
    margin = cfg.promotion.baseline.margin
    hib = metric not in LOWER_IS_BETTER
    new = _num(report["models"]["challenger"]["metrics"].get(metric))
    base = _num(report["models"].get("baseline", {}).get("metrics", {}).get(metric))
    if new is None or base is None:
        return Check(f"baseline:{metric}", "baseline", False, None, f">= {margin}", f"{metric} missing for challenger or baseline")
    gain = improvement(new, base, hib)
    return Check(f"baseline:{metric}", "baseline", gain >= margin, gain, f">= {margin}",
                 f"{metric} {new:.4f} vs dummy baseline {base:.4f}: margin {gain:+.4f}")


def fairness_checks(cfg: ProjectConfig, report: dict[str, Any]) -> list[Check]:
    rule = cfg.promotion.fairness
    if rule is None:
        return []
    out = []
    by_feature = {f["feature"]: f for f in report.get("fairness", [])}
    slices = _slices(report["models"]["challenger"])
    for feat in cfg.sensitive_features:
        f = by_feature.get(feat)
        if f is not None and len(f.get("judged_groups", [])) < 2:
            out.append(Check(f"fairness:{feat}:disparate_impact", "fairness", True, None, f">= {rule.min_disparate_impact}",
                             f"fewer than 2 groups of {feat} with enough rows: disparate impact not judged", feat, skipped=True))
            continue
        di = _num(f.get("disparate_impact")) if f else None
        out.append(Check(f"fairness:{feat}:disparate_impact", "fairness", di is not None and di >= rule.min_disparate_impact,
                         di, f">= {rule.min_disparate_impact}",
                         f"disparate impact over {feat} = {di:.3f}" if di is not None else f"disparate impact over {feat} is missing", feat))
        if rule.max_gap is not None:
            vals = {n: _num(s.get(rule.gap_metric)) for n, s in slices.items() if n.startswith(f"{feat}=") and s.get("judged")}
            vals = {n: v for n, v in vals.items() if v is not None}
            if len(vals) < 2:
                out.append(Check(f"fairness:{feat}:{rule.gap_metric}_gap", "fairness", True, None, f"<= {rule.max_gap}",
                                 f"fewer than 2 judged groups of {feat}: gap not judged", feat, skipped=True))
                continue
            gap = max(vals.values()) - min(vals.values())
            lo, hi = min(vals, key=vals.__getitem__), max(vals, key=vals.__getitem__)
            out.append(Check(f"fairness:{feat}:{rule.gap_metric}_gap", "fairness", gap <= rule.max_gap, gap, f"<= {rule.max_gap}",
                             f"{rule.gap_metric} gap over {feat} = {gap:.3f} ({lo} {vals[lo]:.3f} .. {hi} {vals[hi]:.3f})", feat))
    return out


def _change_check(t: ChangeThreshold, name: str, new: float | None, old: float | None) -> Check:
    hib = t.higher_is_better
    bounds = " and ".join(x for x in (f"abs >= {t.absolute:+g}" if t.absolute is not None else "",
                                       f"rel >= {t.relative:+g}" if t.relative is not None else "") if x)
    check = f"change:{name}:{t.metric}"
    if new is None or old is None:
        return Check(check, "change", False, None, bounds, f"{t.metric} on {name} missing for challenger or champion", name)
    imp = improvement(new, old, hib)
    rel = relative_improvement(new, old, hib)
    ok = (t.absolute is None or imp >= t.absolute) and (t.relative is None or rel >= t.relative)
    direction = "higher" if hib else "lower"
    return Check(check, "change", ok, imp, bounds,
                 f"{t.metric} on {name}: {new:.4f} vs champion {old:.4f} ({direction} is better): improvement {imp:+.4f}, "
                 f"relative {rel:+.2%}", name)


def change_checks(cfg: ProjectConfig, report: dict[str, Any]) -> list[Check]:
    chal, champ = _slices(report["models"]["challenger"]), _slices(report["models"]["champion"])
    out = []
    for t in cfg.promotion.change_thresholds:
        for name in _targets(t.slice, chal):
            s = chal.get(name)
            if s is not None and not s.get("judged", True):
                out.append(Check(f"change:{name}:{t.metric}", "change", True, None, "",
                                 f"{name}: {s.get('n')} rows < min size: reported, not judged", name, skipped=True))
                continue
            o = champ.get(name)
            out.append(_change_check(t, name, _num(s.get(t.metric)) if s else None, _num(o.get(t.metric)) if o else None))
    return out


def significance_check(cfg: ProjectConfig, report: dict[str, Any]) -> Check | None:
    rule = cfg.promotion.significance
    if not rule.enabled:
        return None
    metric = rule.metric or cfg.primary_metric
    b = report.get("bootstrap") or {}
    if b.get("metric", cfg.primary_metric) != metric or _num(b.get("ci_low")) is None:
        return Check(f"significance:{metric}", "significance", False, None, f"CI > {rule.tolerance}", f"no bootstrap CI for {metric}")
    hib = metric not in LOWER_IS_BETTER
    # CI of (challenger - champion); as an improvement it flips for lower-is-better metrics.
    low = b["ci_low"] if hib else -b["ci_high"]
    high = b["ci_high"] if hib else -b["ci_low"]
    return Check(f"significance:{metric}", "significance", low > rule.tolerance, low, f"CI low > {rule.tolerance}",
                 f"{metric} improvement {b['delta'] if hib else -b['delta']:+.4f}, {b['confidence']:.0%} CI "
                 f"[{low:+.4f}, {high:+.4f}] must exclude {rule.tolerance}")


def decide(cfg: ProjectConfig, report: dict[str, Any]) -> Decision:
    """Never raises: an error becomes a `rejected` decision with the error as its reason."""
    champion_version = report.get("champion_version")
    try:
        challenger = report["models"]["challenger"]
        absolute = value_checks(cfg, challenger) + [baseline_check(cfg, report)] + fairness_checks(cfg, report)
        first = "champion" not in report["models"]
        if first:
            relative: list[Check] = [Check("change:*", "change", True, None, "", "first model: no champion, change thresholds skipped",
                                           skipped=True)]
        else:
            relative = change_checks(cfg, report)
            sig = significance_check(cfg, report)
            if sig is not None:
                relative.append(sig)
        checks = absolute + relative
        failed_abs = [c for c in absolute if not c.passed]
        if failed_abs:
            return Decision("rejected", False, "fails: " + "; ".join(c.detail for c in failed_abs[:4]), champion_version, checks)
        if first:
            return Decision("promoted", True, f"first model: passes {sum(not c.skipped for c in absolute)} absolute checks", None, checks)
        failed_rel = [c for c in relative if not c.passed]
        if failed_rel:
            return Decision("kept_champion", False, f"vs champion v{champion_version}: " + "; ".join(c.detail for c in failed_rel[:4]),
                            champion_version, checks)
        judged = [c for c in relative if not c.skipped]
        head = judged[0].detail if judged else ""
        return Decision("promoted", True, f"passes {len(judged)} checks vs champion v{champion_version}: {head}", champion_version, checks)
    except Exception as e:  # fail closed
        return Decision("rejected", False, f"policy error: {type(e).__name__}: {e}", champion_version, [])


def render_markdown(cfg: ProjectConfig, record: dict[str, Any]) -> str:
    """decision.md: every check with value, threshold and result, readable in the MLflow UI."""
    lines = [
        f"# Promotion decision: {cfg.name} v{record.get('version')}",
        "",
        f"**Decision: {record['decision']}** (validation {record.get('validation_status')}) -- {record['reason']}",
        "",
        f"- as-of date: {record.get('as_of')}; champion at decision: v{record.get('champion_version') or '-'}",
        f"- decided at: {record.get('decided_at')}; MLflow run: `{record.get('run_id')}`",
        "",
        "| check | slice | value | threshold | result |",
        "|---|---|---:|---|---|",
    ]
    for c in record.get("checks", []):
        val = "" if c["value"] is None else f"{c['value']:+.4f}" if c["kind"] in ("change", "baseline", "significance") else f"{c['value']:.4f}"
        res = "skipped" if c["skipped"] else ("PASS" if c["passed"] else "**FAIL**")
        lines.append(f"| {c['name']} | {c['slice']} | {val} | {c['threshold']} | {res} |")
    lines += ["", "Details:", ""] + [f"- {c['name']}: {c['detail']}" for c in record.get("checks", [])]
    return "\n".join(lines) + "\n"
