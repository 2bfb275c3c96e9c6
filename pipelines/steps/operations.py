"""Manual registry operations (CLI): promote a version, roll back, compare two versions.

Promote and rollback take the same project lock as the register task, first complete any moves a
crashed holder journaled, re-read the aliases inside the lock, journal their own moves and record
who did what and why (version tags and `governance/<project>/` in the lake). `compare` scores two
versions with evaluate's own code and bootstrap settings, so it agrees with the recorded decisions.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from pipelines.config import ProjectConfig
from pipelines.contracts import AliasMove, Evaluation, layout, names
from pipelines.resources import Resources
from pipelines.resources.registry import VersionInfo, VersionNotFound
from pipelines.steps.evaluate import champion_ref
from pipelines.steps.promotion import journal_and_apply, lock_name, now, recover


class GovernanceError(RuntimeError):
    pass


def _audit(res: Resources, project: str, record: dict[str, Any]) -> None:
    res.lake.put_json(layout.governance_key(project, record["at"], record["action"]), record)


def promote_manually(res: Resources, cfg: ProjectConfig, version: str, reason: str, by: str | None = None) -> dict[str, Any]:
    """A manual override: champion <- version (old one -> previous), recorded with who and why."""
    if not reason.strip():
        raise GovernanceError("a manual promotion needs --reason")
    try:
        res.registry.version(cfg.name, version)
    except VersionNotFound as e:
        raise GovernanceError(str(e)) from e
    with res.locks.hold(lock_name(cfg.name), 60 * cfg.dag.lock_timeout_minutes):
        recover(res, cfg.name)
        current = res.registry.aliases(cfg.name).get(names.CHAMPION)
        if current == version:
            raise GovernanceError(f"v{version} is already champion of {cfg.name}")
        record = {"action": "manual_promotion", "project": cfg.name, "version": version, "from": current, "by": by or res.settings.user,
                  "reason": reason, "at": now()}
        res.registry.set_version_tags(cfg.name, version, {"manual_promotion_by": record["by"], "manual_promotion_reason": reason,
                                                          "manual_promotion_at": record["at"], names.DECISION: "promoted_manually"})
        moves = [AliasMove(alias=names.CHAMPION, version=version)]
        if current is not None:
            moves.append(AliasMove(alias=names.PREVIOUS, version=current))
        journal_and_apply(res, cfg.name, moves, f"manual_promotion:v{version}")
    _audit(res, cfg.name, record)
    return record


def rollback(res: Resources, cfg: ProjectConfig, reason: str = "rollback", by: str | None = None) -> dict[str, Any]:
    """champion <- previous; the rolled-back version becomes `previous` (a second rollback rolls forward)."""
    with res.locks.hold(lock_name(cfg.name), 60 * cfg.dag.lock_timeout_minutes):
        recover(res, cfg.name)
        aliases = res.registry.aliases(cfg.name)
        current, prev = aliases.get(names.CHAMPION), aliases.get(names.PREVIOUS)
        if prev is None:
            raise GovernanceError(f"{cfg.name} has no `previous` version to roll back to")
        record = {"action": "rollback", "project": cfg.name, "version": prev, "from": current, "by": by or res.settings.user,
                  "reason": reason, "at": now()}
        moves = [AliasMove(alias=names.CHAMPION, version=prev)]
        if current is not None:
            moves.append(AliasMove(alias=names.PREVIOUS, version=current))
        journal_and_apply(res, cfg.name, moves, f"rollback:v{prev}")
        if current is not None:
            res.registry.set_version_tags(cfg.name, current, {"rolled_back_at": record["at"], "rolled_back_by": record["by"],
                                                              "rollback_reason": reason})
        res.registry.set_version_tags(cfg.name, prev, {"restored_at": record["at"], "restored_by": record["by"]})
    _audit(res, cfg.name, record)
    return record


def set_rollout(res: Resources, cfg: ProjectConfig, mode: str, share: float = 0.0, reason: str = "", by: str | None = None
                ) -> dict[str, Any]:
    """Write the project's rollout tag (the prediction service picks it up at its next poll, no
    restart) and audit it. Shadow or canary needs a `challenger` that is not the champion."""
    from pydantic import ValidationError

    from pipelines.contracts.rollout import Rollout

    who, at = by or res.settings.user, now()
    try:
        rollout = Rollout(mode=mode, share=share, set_by=who, set_at=at, reason=reason or None)  # type: ignore[arg-type]
    except ValidationError as e:
        raise GovernanceError(f"rollout {mode} --share {share}: {e.errors()[0]['msg']}") from e
    aliases = res.registry.aliases(cfg.name)
    if mode != "off":
        chal = aliases.get(names.CHALLENGER)
        if chal is None or chal == aliases.get(names.CHAMPION):
            raise GovernanceError(f"{cfg.name} has no challenger distinct from the champion: nothing to roll out in {mode}")
    previous = res.registry.model_tags(cfg.name).get(names.ROLLOUT)
    res.registry.set_model_tag(cfg.name, names.ROLLOUT, rollout.to_tag())
    record = {"action": "rollout", "project": cfg.name, "mode": mode, "share": rollout.share, "champion": aliases.get(names.CHAMPION),
              "challenger": aliases.get(names.CHALLENGER), "previous_setting": previous, "by": who, "reason": reason, "at": at}
    _audit(res, cfg.name, record)
    return record


def resolve(res: Resources, project: str, ref: str) -> VersionInfo:
    """`champion` / `challenger` / `previous` or a version number."""
    if ref.isdigit():
        try:
            return res.registry.version(project, ref)
        except VersionNotFound as e:
            raise GovernanceError(str(e)) from e
    v = res.registry.alias_version(project, ref)
    if v is None:
        raise GovernanceError(f"{project} has no version with alias {ref!r}")
    return v


def compare(res: Resources, cfg: ProjectConfig, a: str = "champion", b: str = "challenger") -> Evaluation:
    """b scored against a on b's test rows minus a's training rows: evaluate's own code and settings."""
    from sklearn.dummy import DummyClassifier, DummyRegressor

    from pipelines.domain.evaluate import Candidate, evaluate, model_threshold
    from pipelines.domain.targets import encode_target
    from pipelines.steps.extract import load_snapshot

    va, vb = resolve(res, cfg.name, a), resolve(res, cfg.name, b)
    test_uri, train_uri = vb.tags.get(names.TEST_URI), vb.tags.get(names.TRAIN_URI)
    if not test_uri or not train_uri:
        raise GovernanceError(f"v{vb.version} has no snapshot tags ({names.TEST_URI}, {names.TRAIN_URI})")
    test, train = load_snapshot(res.lake, test_uri), load_snapshot(res.lake, train_uri)
    ma, mb = res.load_model(f"models:/{cfg.name}/{va.version}"), res.load_model(f"models:/{cfg.name}/{vb.version}")
    ref = champion_ref(res, va)
    keys = set(load_snapshot(res.lake, ref.train_uri)["_row_key"].astype(str)) if ref.train_uri else None
    dummy = (DummyRegressor(strategy="median") if cfg.regression else DummyClassifier(strategy="prior"))
    baseline = dummy.fit(train[cfg.input_columns], encode_target(cfg, train))
    ev, _ = evaluate(cfg, test, run_id=vb.run_id, as_of=dt.date.fromisoformat(vb.tags.get(names.AS_OF, "1970-01-01")),
                     data_hash=vb.tags.get(names.DATA_HASH, ""), challenger=Candidate(mb, model_threshold(mb, vb.threshold), vb.version),
                     baseline=Candidate(baseline, None if cfg.regression else 0.5), champion=Candidate(ma, model_threshold(ma, va.threshold),
                     va.version), champion_ref=ref, champion_train_keys=keys)
    return ev


def format_compare(ev: Evaluation, a: str, b: str) -> str:
    m = ev.primary_metric
    va, vb = ev.models["champion"].version, ev.models["challenger"].version
    head = (f"{a} v{va} (a) vs {b} v{vb} (b) on {ev.comparison_rows} comparison rows of v{vb}'s test set "
            f"({ev.excluded_seen_by_champion} excluded: in v{va}'s training rows); delta = b - a, "
            f"{int(100 * ev.intervals[0].confidence) if ev.intervals else 95}% paired bootstrap CI")
    cols = f"{'slice':<24}{'n':>6}  {'a_' + m:>10}{'b_' + m:>10}{'delta':>9}  {'CI':<19}"
    lines = [head, cols, "-" * len(cols)]
    for s in ev.challenger.slices:
        old = ev.models["champion"].slice(s.name)
        iv = ev.interval(m, s.name)
        new_v, old_v = s.metrics.get(m), old.metrics.get(m) if old else None
        delta = iv.delta if iv else (None if new_v is None or old_v is None else new_v - old_v)
        ci = f"[{iv.ci_low:+.4f},{iv.ci_high:+.4f}]" if iv and iv.ci_low is not None and iv.ci_high is not None else (
            "not judged" if not s.judged else "-")
        fmt = lambda v, w, f=".4f": ("-" if v is None else format(v, f)).rjust(w)  # noqa: E731
        lines.append(f"{s.name[:24]:<24}{s.n:>6}  {fmt(old_v, 10)}{fmt(new_v, 10)}{fmt(delta, 9, '+.4f')}  {ci:<19}")
    return "\n".join(lines)
