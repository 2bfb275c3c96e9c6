"""Champion/challenger governance on MLflow aliases: the locked compare-and-set that moves
`champion`, decision reports and model cards, and the manual operations (promote, rollback, compare).

Two layers keep aliases consistent when runs overlap: the register task runs in an Airflow pool of
size 1 per project (serialises tasks across workers/machines), and every alias move happens inside
`registry_lock` (a file lock, serialising processes on one machine, e.g. `dag.test` or the CLI)
after re-reading the champion. If the champion changed since evaluate, the challenger is re-scored
against the new champion on the same test rows and the decision recomputed -- never overwritten.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import getpass
import json
import logging
import os
from collections.abc import Callable, Iterator
from typing import Any

from pipelines import tracking
from pipelines.config import ProjectConfig
from pipelines.policy import Decision, decide, render_markdown
from pipelines.settings import get_settings
from pipelines.storage import Lake, run_prefix

log = logging.getLogger(__name__)


class GovernanceError(RuntimeError):
    pass


@contextlib.contextmanager
def registry_lock(project: str, timeout_s: float = 600.0) -> Iterator[None]:
    path = get_settings().home / "locks" / f"{project}-registry.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as f:
        import time

        deadline = time.monotonic() + timeout_s
        while True:
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise GovernanceError(f"could not take the registry lock {path} within {timeout_s:.0f}s") from None
                time.sleep(0.2)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def decide_and_move(
    cfg: ProjectConfig,
    version: str,
    report: dict[str, Any],
    rescore: Callable[[tracking.AliasedVersion], dict[str, Any]],
    *,
    allow_promotion: bool = True,
    as_of: dt.date | None = None,
) -> tuple[Decision, dict[str, Any]]:
    """Decide under the lock; move `champion` (old one -> `previous`) as the very last action.

    `rescore(champion)` re-evaluates the challenger against another champion on the same rows.
    Returns the decision and the report it was made on.
    """
    with registry_lock(cfg.name):
        current = tracking.alias_version(cfg.name, tracking.CHAMPION)
        now = current.version if current else None
        if now == version:
            d = Decision("promoted", False, f"v{version} is already champion", now, [])
            return d, report
        if now != report.get("champion_version"):
            log.warning("champion moved from v%s to v%s since evaluate: re-scoring v%s against v%s on the same rows",
                        report.get("champion_version"), now, version, now)
            report = rescore(current) if current is not None else {**report, "champion_version": None}
            if current is None:
                report["models"].pop("champion", None)
                report.pop("bootstrap", None)
        decision = decide(cfg, report)
        if decision.promote and not allow_promotion:
            decision.promote, decision.decision = False, "kept_champion"
            decision.reason = f"promotion disabled for this run (promote=false); the policy said: {decision.reason}"
        champ_as_of = current.tags.get("as_of") if current is not None else None
        if decision.promote and as_of is not None and champ_as_of and champ_as_of > as_of.isoformat():
            # Backfills (and reruns of old dates) register and evaluate, but a model trained on an
            # older window never replaces a champion trained on a newer one.
            decision.promote, decision.decision = False, "kept_champion"
            decision.reason = (f"champion v{current.version} is as of {champ_as_of}, newer than this run's {as_of}: "
                               f"older windows never replace a newer champion; the policy said: {decision.reason}")
        tracking.set_alias(cfg.name, tracking.CHALLENGER, version)
        if decision.promote:
            if current is not None:
                tracking.set_alias(cfg.name, tracking.PREVIOUS, current.version)
            tracking.set_alias(cfg.name, tracking.CHAMPION, version)  # last: only after every check passed
        return decision, report


def model_card(cfg: ProjectConfig, version: str, record: dict[str, Any], report: dict[str, Any], extracted: dict[str, Any],
               trained: dict[str, Any]) -> str:
    cis = report.get("metric_cis", {})
    m = report["models"]["challenger"]["metrics"]
    rows = [f"| {k} | {m.get(k, float('nan')):,.4f} | [{c['ci_low']:,.4f}, {c['ci_high']:,.4f}] |" for k, c in cis.items()]
    slices = [f"| {s['slice']} | {s['n']} | {s.get(cfg.primary_metric, float('nan')):.4f} | {'yes' if s['judged'] else 'no (too small)'} |"
              for s in report["models"]["challenger"]["slices"]]
    fair = [f"- {f['feature']}: disparate impact {f['disparate_impact']:.3f}; selection rates "
            + ", ".join(f"{g} {r:.3f}" for g, r in f["selection_rates"].items()) for f in report.get("fairness", [])]
    b = report.get("bootstrap")
    return "\n".join([
        f"# Model card: {cfg.name} v{version}",
        "",
        "## Intended use",
        cfg.description or "(no description in the project config)",
        (f"Regression of `{cfg.target}`." if cfg.regression else
         f"Binary classification of `{cfg.target}` (positive = {cfg.positive_label}); label at threshold "
         f"{trained['threshold']:.2f} (chosen by the `{cfg.threshold.strategy}` rule on out-of-fold predictions)."),
        "",
        "## Training data",
        f"- window: {extracted['window_start']} .. {extracted['window_end']} (as of {extracted['as_of']}), "
        f"{extracted['rows']} rows from {extracted['partitions']} daily partitions",
        f"- data hash: `{extracted['data_hash']}`; split: {extracted['train_rows']} train / {extracted['test_rows']} test "
        f"({cfg.split.strategy} split, seed {cfg.split.seed})",
        f"- features: {', '.join(cfg.features)}; engineered: {', '.join(s.transformer for s in cfg.feature_engineering) or 'none'}",
        "",
        "## How it was chosen",
        f"Optuna TPE (seed {cfg.search.seed}) over {', '.join(cfg.search.families)}; {cfg.search.cv_folds}-fold CV on "
        f"{cfg.primary_metric}; best family: {trained.get('family')}. MLflow run `{trained['run_id']}`.",
        "",
        "## Test metrics (95% bootstrap CIs)",
        "| metric | value | CI |", "|---|---:|---|", *rows,
        "",
        f"Versus champion v{report.get('champion_version')}: {b['metric']} {b['delta']:+.4f} [{b['ci_low']:+.4f}, {b['ci_high']:+.4f}]"
        if b else "No champion at evaluation: first model.",
        "",
        "## Slices",
        f"| slice | rows | {cfg.primary_metric} | judged |", "|---|---:|---:|---|", *slices,
        "",
        "## Fairness", *(fair or ["- no sensitive features configured"]),
        "",
        "## Decision",
        f"**{record['decision']}** (validation {record['validation_status']}): {record['reason']}",
        "",
        "## Limitations",
        "- Trained on the window above only; behaviour outside its ranges (see the GX suite) is untested.",
        "- Slices under the minimum size are reported but not judged; their metrics are noisy.",
        "- Group selection rates reflect different base rates; disparate impact is monitored, not equalised.",
        "- Synthetic training data (if fed by the generator) imitates public statistics; validate on real data.",
        "",
    ])


def write_decision(cfg: ProjectConfig, lake: Lake, as_of: dt.date, version: str, decision: Decision, report: dict[str, Any],
                   extracted: dict[str, Any], trained: dict[str, Any]) -> dict[str, Any]:
    record = {**decision.to_dict(), "version": version, "as_of": as_of.isoformat(), "run_id": trained["run_id"],
              "decided_at": _now()}
    md = render_markdown(cfg, record)
    card = model_card(cfg, version, record, report, extracted, trained)
    prefix = run_prefix(cfg.name, as_of)
    lake.put_json(prefix + "decision.json", record)
    lake.put_text(prefix + "decision.md", md)
    lake.put_text(prefix + "model_card.md", card)
    short = record["reason"] if len(record["reason"]) <= 250 else record["reason"][:247] + "..."
    tracking.set_version_tags(cfg.name, version, {
        "decision": decision.decision, "decision_reason": short, "validation_status": decision.validation_status,
        "champion_at_decision": str(decision.champion_version),
    })
    tracking.log_to_run(trained["run_id"], tags={"mlops.decision": decision.decision, "mlops.validation_status": decision.validation_status,
                                                 "mlops.model_version": version},
                        artifacts={"decision.json": json.dumps(record, indent=2, default=str), "decision.md": md, "model_card.md": card})
    return record


def _audit(lake: Lake, project: str, record: dict[str, Any]) -> None:
    lake.put_json(f"governance/{project}/{record['at'].replace(':', '')}-{record['action']}.json", record)


def _who(by: str | None) -> str:
    return by or os.environ.get("MLOPS_USER") or getpass.getuser()


def promote_manually(cfg: ProjectConfig, lake: Lake, version: str, reason: str, by: str | None = None) -> dict[str, Any]:
    """A manual override: champion <- version (old -> previous), recorded with who and why."""
    if not reason.strip():
        raise GovernanceError("a manual promotion needs --reason")
    c = tracking.client()
    try:
        c.get_model_version(cfg.name, version)
    except Exception as e:
        raise GovernanceError(f"{cfg.name} has no version {version}") from e
    with registry_lock(cfg.name):
        current = tracking.alias_version(cfg.name, tracking.CHAMPION)
        if current is not None and current.version == version:
            raise GovernanceError(f"v{version} is already champion of {cfg.name}")
        record = {"action": "manual_promotion", "project": cfg.name, "version": version, "from": current.version if current else None,
                  "by": _who(by), "reason": reason, "at": _now()}
        tracking.set_version_tags(cfg.name, version, {"manual_promotion_by": record["by"], "manual_promotion_reason": reason,
                                                      "manual_promotion_at": record["at"], "decision": "promoted_manually"})
        if current is not None:
            tracking.set_alias(cfg.name, tracking.PREVIOUS, current.version)
        tracking.set_alias(cfg.name, tracking.CHAMPION, version)
    _audit(lake, cfg.name, record)
    return record


def rollback(cfg: ProjectConfig, lake: Lake, reason: str = "rollback", by: str | None = None) -> dict[str, Any]:
    """champion <- previous; the rolled-back version becomes `previous` (so a second rollback rolls forward)."""
    with registry_lock(cfg.name):
        current = tracking.alias_version(cfg.name, tracking.CHAMPION)
        prev = tracking.alias_version(cfg.name, tracking.PREVIOUS)
        if prev is None:
            raise GovernanceError(f"{cfg.name} has no `previous` version to roll back to")
        record = {"action": "rollback", "project": cfg.name, "version": prev.version, "from": current.version if current else None,
                  "by": _who(by), "reason": reason, "at": _now()}
        tracking.set_alias(cfg.name, tracking.CHAMPION, prev.version)
        if current is not None:
            tracking.set_alias(cfg.name, tracking.PREVIOUS, current.version)
            tracking.set_version_tags(cfg.name, current.version, {"rolled_back_at": record["at"], "rolled_back_by": record["by"],
                                                                  "rollback_reason": reason})
        tracking.set_version_tags(cfg.name, prev.version, {"restored_at": record["at"], "restored_by": record["by"]})
    _audit(lake, cfg.name, record)
    return record


def resolve(project: str, ref: str) -> tracking.AliasedVersion:
    """`champion` / `challenger` / `previous` or a version number."""
    if ref.isdigit():
        mv = tracking.client().get_model_version(project, ref)
        return tracking.AliasedVersion(str(mv.version), mv.run_id, dict(mv.tags))
    v = tracking.alias_version(project, ref)
    if v is None:
        raise GovernanceError(f"{project} has no version with alias {ref!r}")
    return v


def compare(cfg: ProjectConfig, lake: Lake, a: str = "champion", b: str = "challenger", resamples: int = 300) -> dict[str, Any]:
    """Both versions scored on b's test rows: global and per-slice metrics, deltas (b - a), CIs."""
    import numpy as np

    from pipelines.evaluate import paired_bootstrap_delta, score, slice_masks, slice_metrics

    va, vb = resolve(cfg.name, a), resolve(cfg.name, b)
    test_uri = vb.tags.get("mlops.test_uri")
    if not test_uri:
        raise GovernanceError(f"v{vb.version} has no test snapshot tag (mlops.test_uri)")
    test = lake.get_parquet(lake.key_of(test_uri))
    y = test[cfg.target].to_numpy(dtype=float) if cfg.regression else test[cfg.target].astype(int).to_numpy()
    ma, mb = tracking.load_model(f"models:/{cfg.name}/{va.version}"), tracking.load_model(f"models:/{cfg.name}/{vb.version}")
    ta, tb = tracking.threshold_of(va.tags), tracking.threshold_of(vb.tags)
    pa, pb = score(ma, test[cfg.input_columns], cfg.regression), score(mb, test[cfg.input_columns], cfg.regression)
    sa = {s["slice"]: s for s in slice_metrics(cfg, test, y, pa, ta)}
    sb = {s["slice"]: s for s in slice_metrics(cfg, test, y, pb, tb)}
    rows = []
    for name, mask in slice_masks(cfg, test).items():
        r = {"slice": name, "n": int(mask.sum()), "judged": sb[name]["judged"]}
        for metric in (cfg.primary_metric, "f1", "accuracy"):
            r[f"a_{metric}"], r[f"b_{metric}"] = sa[name].get(metric), sb[name].get(metric)
        if r["judged"] and (cfg.regression or len(np.unique(y[mask])) == 2):
            ci = paired_bootstrap_delta(cfg.primary_metric, y[mask], pb[mask], pa[mask], threshold_a=tb, threshold_b=ta,
                                        n_resamples=resamples, seed=cfg.split.seed)
            r.update({"delta": ci["delta"], "ci_low": ci["ci_low"], "ci_high": ci["ci_high"]})
        rows.append(r)
    return {"a": {"ref": a, "version": va.version}, "b": {"ref": b, "version": vb.version}, "test_uri": test_uri,
            "rows": len(y), "metric": cfg.primary_metric, "slices": rows}


def format_compare(res: dict[str, Any]) -> str:
    m = res["metric"]
    head = (f"{res['a']['ref']} v{res['a']['version']} (a) vs {res['b']['ref']} v{res['b']['version']} (b) on {res['rows']} test rows "
            f"of v{res['b']['version']}; delta = b - a, 95% paired bootstrap CI")
    cols = f"{'slice':<22}{'n':>6}  {'a_' + m:>10}{'b_' + m:>10}{'delta':>9}  {'CI':<19}{'a_f1':>7}{'b_f1':>7}{'a_acc':>7}{'b_acc':>7}"
    lines = [head, cols, "-" * len(cols)]

    def f(v: Any, w: int, fmt: str = ".4f") -> str:
        return format(v, fmt).rjust(w) if isinstance(v, float) and v == v else "-".rjust(w)

    for r in res["slices"]:
        ci = f"[{r['ci_low']:+.4f},{r['ci_high']:+.4f}]" if "ci_low" in r else ("not judged" if not r["judged"] else "-")
        lines.append(f"{r['slice'][:22]:<22}{r['n']:>6}  {f(r['a_' + m], 10)}{f(r['b_' + m], 10)}{f(r.get('delta'), 9, '+.4f')}  "
                     f"{ci:<19}{f(r['a_f1'], 7, '.3f')}{f(r['b_f1'], 7, '.3f')}{f(r['a_accuracy'], 7, '.3f')}{f(r['b_accuracy'], 7, '.3f')}")
    return "\n".join(lines)
