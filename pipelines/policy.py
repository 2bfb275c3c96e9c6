"""Promotion policy: a fail-closed gate deciding whether the challenger becomes `champion`.

First model (no champion): every metric floor holds and the primary metric beats the dummy baseline
by the margin. Later models additionally: the primary metric is not worse than the champion's
beyond `tolerance`, and no judged slice (enough rows) regresses beyond `slice_tolerance`.
A missing metric fails its check; any error yields `rejected`. Every check is recorded, like TFX's
Evaluator blessing, so the decision can be read back from the registry.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from pipelines.config import LOWER_IS_BETTER, ProjectConfig

Outcome = Literal["promoted", "kept_champion", "rejected"]


@dataclass
class Check:
    name: str
    passed: bool
    value: float | None
    threshold: float | None
    detail: str


@dataclass
class Decision:
    decision: Outcome
    promote: bool
    reason: str
    champion_version: str | None
    checks: list[Check] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _num(v: Any) -> float | None:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(f) else f


def _improvement(metric: str, new: float, old: float) -> float:
    """new - old, signed so that positive always means better."""
    return (old - new) if metric in LOWER_IS_BETTER else (new - old)


def _floor_checks(cfg: ProjectConfig, metrics: dict[str, Any]) -> list[Check]:
    out = []
    for metric, floor in sorted(cfg.promotion.metric_floors.items()):
        v = _num(metrics.get(metric))
        if v is None:
            out.append(Check(f"floor:{metric}", False, None, floor, f"{metric} is missing"))
            continue
        ok = v <= floor if metric in LOWER_IS_BETTER else v >= floor
        op = "<=" if metric in LOWER_IS_BETTER else ">="
        out.append(Check(f"floor:{metric}", ok, v, floor, f"{metric} {v:.4f} {op} {floor}"))
    return out


def _comparison_checks(cfg: ProjectConfig, report: dict[str, Any]) -> list[Check]:
    pm = cfg.primary_metric
    chal = report["models"]["challenger"]
    champ = report["models"]["champion"]
    checks = []
    new, old = _num(chal["metrics"].get(pm)), _num(champ["metrics"].get(pm))
    if new is None or old is None:
        checks.append(Check(f"vs_champion:{pm}", False, None, -cfg.promotion.tolerance, f"{pm} missing for a model"))
    else:
        gain = _improvement(pm, new, old)
        ci = report.get("bootstrap") or {}
        ci_txt = f" (CI [{ci['ci_low']:+.4f}, {ci['ci_high']:+.4f}])" if "ci_low" in ci else ""
        checks.append(Check(f"vs_champion:{pm}", gain >= -cfg.promotion.tolerance, gain, -cfg.promotion.tolerance,
                            f"{pm} {new:.4f} vs champion {old:.4f}: change {gain:+.4f}{ci_txt}, tolerance {cfg.promotion.tolerance}"))
    sm = cfg.promotion.slice_metric or pm
    old_slices = {s["slice"]: s for s in champ["slices"]}
    for s in chal["slices"]:
        if s["slice"] == "overall" or not s["judged"]:
            continue
        o = old_slices.get(s["slice"])
        a, b = _num(s.get(sm)), _num(o.get(sm)) if o else None
        if a is None or b is None:
            # A slice without both values (e.g. a single class in it) cannot be judged: record it.
            checks.append(Check(f"slice:{s['slice']}:{sm}", True, None, None, "not comparable (metric undefined)"))
            continue
        gain = _improvement(sm, a, b)
        checks.append(Check(f"slice:{s['slice']}:{sm}", gain >= -cfg.promotion.slice_tolerance, gain, -cfg.promotion.slice_tolerance,
                            f"{sm} {a:.4f} vs champion {b:.4f} on {s['n']} rows: change {gain:+.4f}"))
    return checks


def decide(cfg: ProjectConfig, report: dict[str, Any]) -> Decision:
    """Never raises: an error becomes a `rejected` decision with the error as its reason."""
    champion_version = report.get("champion_version")
    try:
        pm = cfg.primary_metric
        chal = report["models"]["challenger"]["metrics"]
        checks = _floor_checks(cfg, chal)
        new, base = _num(chal.get(pm)), _num(report["models"]["baseline"]["metrics"].get(pm))
        if new is None or base is None:
            checks.append(Check(f"beats_baseline:{pm}", False, None, cfg.promotion.baseline_margin, f"{pm} missing"))
        else:
            gain = _improvement(pm, new, base)
            checks.append(Check(f"beats_baseline:{pm}", gain >= cfg.promotion.baseline_margin, gain, cfg.promotion.baseline_margin,
                                f"{pm} {new:.4f} vs dummy baseline {base:.4f}: margin {gain:+.4f}"))
        absolute_ok = all(c.passed for c in checks)
        if not absolute_ok:
            failed = [c.detail for c in checks if not c.passed]
            return Decision("rejected", False, "fails absolute checks: " + "; ".join(failed), champion_version, checks)
        if "champion" not in report["models"]:
            return Decision("promoted", True, f"first model: passes {len(checks)} absolute checks", None, checks)
        comp = _comparison_checks(cfg, report)
        checks += comp
        failed = [c for c in comp if not c.passed]
        if failed:
            return Decision("kept_champion", False, f"vs champion v{champion_version}: " + "; ".join(c.detail for c in failed[:5]),
                            champion_version, checks)
        head = comp[0].detail if comp else ""
        return Decision("promoted", True, f"not worse than champion v{champion_version} beyond tolerance: {head}", champion_version, checks)
    except Exception as e:  # fail closed
        return Decision("rejected", False, f"policy error: {type(e).__name__}: {e}", champion_version, [])
