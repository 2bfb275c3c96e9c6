"""The promotion gate's registry writes: a write-ahead decision, then alias moves that a retry (or
any later holder of the project's registry lock) completes after a crash at any point.

Under the project's registry lock (Postgres advisory lock on the server stack, a file lock on the
embedded default):

1. complete any journaled moves left by a crashed holder (`recover`);
2. if this version already has a decision: complete its moves if still pending; never decide twice;
3. re-read the champion (compare-and-set): if it moved since evaluate, re-score on the same rows;
4. decide (pipelines.domain.policy), then WRITE the decision (lake record, version tags) BEFORE any alias
   moves, with the moves it intends;
5. journal the moves on the registered model (tag `mlops.pending_moves`), apply them (champion
   first, then previous: every intermediate state keeps a champion and a rollback target that is
   not the champion), mark the decision applied, clear the journal.

A decision whose moves were never journaled and whose registry state changed meanwhile (an
operator moved an alias while the register task was down) is marked superseded and decided again
against the new champion: recorded moves never overwrite someone else's.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Callable

from pipelines.config import ProjectConfig
from pipelines.contracts import AliasMove, Decision, DecisionRecord, Evaluation, RunSpec, layout, names
from pipelines.domain.policy import decide
from pipelines.resources import Resources
from pipelines.resources.lake import Lake, LakeKeyNotFound

log = logging.getLogger(__name__)

RECORDED, APPLIED, SUPERSEDED = "recorded", "applied", "superseded"


class PromotionError(RuntimeError):
    pass


def now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def lock_name(project: str) -> str:
    return f"registry:{project}"


def planned_moves(version: str, promote: bool, champion: str | None) -> list[AliasMove]:
    """Champion first (the old one stays `previous` until then, so a rollback target always exists
    and differs from the champion), then previous, then clear `challenger` (it names the newest
    candidate that is not champion)."""
    if not promote:
        return [AliasMove(alias=names.CHALLENGER, version=version)]
    moves = [AliasMove(alias=names.CHAMPION, version=version)]
    if champion is not None and champion != version:
        moves.append(AliasMove(alias=names.PREVIOUS, version=champion))
    return [*moves, AliasMove(alias=names.CHALLENGER, version=None)]


def apply_moves(res: Resources, project: str, moves: list[AliasMove]) -> None:
    current = res.registry.aliases(project)
    for m in moves:
        if m.version is None:
            if m.alias in current:
                res.registry.delete_alias(project, m.alias)
        elif current.get(m.alias) != m.version:
            res.registry.set_alias(project, m.alias, m.version)
            log.info("%s: alias %s -> v%s", project, m.alias, m.version)


def journal_and_apply(res: Resources, project: str, moves: list[AliasMove], label: str) -> None:
    """Journal the moves on the registered model, apply them, clear the journal (call under the lock)."""
    res.registry.set_model_tag(project, names.PENDING_MOVES, json.dumps({"label": label, "moves": [m.to_json() for m in moves]}))
    apply_moves(res, project, moves)
    res.registry.delete_model_tag(project, names.PENDING_MOVES)


def recover(res: Resources, project: str) -> str | None:
    """Complete journaled moves a crashed holder of the lock left behind (call under the lock)."""
    raw = res.registry.model_tags(project).get(names.PENDING_MOVES)
    if not raw:
        return None
    journal = json.loads(raw)
    moves = [AliasMove.from_json(m) for m in journal["moves"]]
    log.warning("%s: completing alias moves journaled by an interrupted operation (%s): %s", project, journal.get("label"),
                [(m.alias, m.version) for m in moves])
    apply_moves(res, project, moves)
    label = str(journal.get("label", ""))
    if label.startswith("decision:v"):
        res.registry.set_version_tags(project, label.removeprefix("decision:v"), {names.DECISION_STATE: APPLIED})
    res.registry.delete_model_tag(project, names.PENDING_MOVES)
    return label


def record_key(project: str, version: str, attempt: int) -> str:
    return layout.decision_prefix(project, version) + f"decision-{attempt}.json"


def latest_record(lake: Lake, project: str, version: str) -> tuple[DecisionRecord | None, int]:
    """The newest decision record of a version and its attempt number (0: none)."""
    attempt, found = 0, None
    while True:
        try:
            data = lake.get_json(record_key(project, version, attempt + 1))
        except LakeKeyNotFound:
            return found, attempt
        found, attempt = DecisionRecord.from_json(data), attempt + 1


def _target_reached(aliases: dict[str, str], moves: list[AliasMove]) -> bool:
    return all(aliases.get(m.alias) == m.version if m.version else m.alias not in aliases for m in moves)


def _resume(res: Resources, rec: DecisionRecord) -> bool:
    """Finish a recorded decision's moves if the registry still is as it was decided on. False: superseded."""
    aliases = res.registry.aliases(rec.project)
    if _target_reached(aliases, rec.moves):
        res.registry.set_version_tags(rec.project, rec.version, {names.DECISION_STATE: APPLIED})
        return True
    promoting = any(m.alias == names.CHAMPION for m in rec.moves)
    if promoting and (aliases.get(names.CHAMPION) != rec.champion_before or aliases.get(names.PREVIOUS) != rec.previous_before):
        return False
    journal_and_apply(res, rec.project, rec.moves, f"decision:v{rec.version}")
    res.registry.set_version_tags(rec.project, rec.version, {names.DECISION_STATE: APPLIED})
    return True


def _gate(cfg: ProjectConfig, run: RunSpec, ev: Evaluation, champion_as_of: str | None) -> Decision:
    """The policy's decision, then the run's own limits: promote=false, and the backfill rule."""
    d = decide(cfg, ev)
    if d.promote and not run.promote:
        return d.model_copy(update={"promote": False, "decision": "kept_champion",
                                    "reason": f"promotion disabled for this run (promote=false); the policy said: {d.reason}"})
    if d.promote and champion_as_of and champion_as_of > run.as_of.isoformat():
        # Backfills (and reruns of old dates) register and evaluate, but a model trained on an older
        # window never replaces a champion trained on a newer one.
        return d.model_copy(update={"promote": False, "decision": "kept_champion",
                                    "reason": f"champion v{ev.champion_version} is as of {champion_as_of}, newer than this run's "
                                              f"{run.as_of}: older windows never replace a newer champion; the policy said: {d.reason}"})
    return d


def decide_and_move(res: Resources, cfg: ProjectConfig, run: RunSpec, version: str, run_id: str, evaluation_uri: str,
                    ev: Evaluation, rescore: Callable[[str | None], tuple[str, Evaluation]]) -> tuple[DecisionRecord, Evaluation, bool]:
    """Decide once, write ahead, move aliases. Returns (record, the evaluation it was made on, reused)."""
    project = cfg.name
    with res.locks.hold(lock_name(project), 60 * cfg.dag.lock_timeout_minutes):
        recover(res, project)
        rec, attempt = latest_record(res.lake, project, version)
        state = res.registry.version(project, version).tags.get(names.DECISION_STATE)
        if rec is not None and state != SUPERSEDED:
            if state == APPLIED or _resume(res, rec):
                log.info("%s v%s: decision %r already recorded (%s); its moves are applied", project, version, rec.decision.decision,
                         record_key(project, version, attempt))
                return rec, Evaluation.from_json(res.lake.get_json(res.lake.key_of(rec.evaluation_uri))), True
            log.warning("%s v%s: the recorded decision was made against champion v%s / previous v%s, but the registry changed "
                        "before its moves were committed: superseded, deciding again", project, version, rec.champion_before,
                        rec.previous_before)
            res.registry.set_version_tags(project, version, {names.DECISION_STATE: SUPERSEDED})
        aliases = res.registry.aliases(project)
        champion, previous = aliases.get(names.CHAMPION), aliases.get(names.PREVIOUS)
        if champion != ev.champion_version and champion != version:
            log.warning("%s: champion is v%s now, not v%s as at evaluate: re-scoring v%s against it on the same rows", project,
                        champion, ev.champion_version, version)
            evaluation_uri, ev = rescore(champion)
        if champion == version:
            d = Decision(decision="promoted", promote=False, reason=f"v{version} is already champion (promoted by another operation)",
                         champion_version=champion)
        else:
            champ_as_of = res.registry.version(project, champion).tags.get(names.AS_OF) if champion else None
            d = _gate(cfg, run, ev, champ_as_of)
        rec = DecisionRecord(project=project, version=version, run_id=run_id, as_of=run.as_of, evaluation_uri=evaluation_uri, decision=d,
                             champion_before=champion, previous_before=previous,
                             moves=planned_moves(version, d.promote, champion) if champion != version else [],
                             decided_at=now(), promote_allowed=run.promote)
        key = record_key(project, version, attempt + 1)
        uri = res.lake.write_json_once(key, rec.to_json())[0]
        res.registry.set_version_tags(project, version, {
            names.DECISION: d.decision, names.DECISION_REASON: _short(d.reason), names.PROMOTION_CHECKS: d.promotion_checks,
            names.CHECKS_SUMMARY: d.checks_summary, names.CHAMPION_AT_DECISION: str(champion), names.DECISION_URI: uri,
            names.DECISION_STATE: RECORDED, names.EVALUATION_URI: evaluation_uri})
        journal_and_apply(res, project, rec.moves, f"decision:v{version}")
        res.registry.set_version_tags(project, version, {names.DECISION_STATE: APPLIED})
    return rec, ev, False


def _short(text: str, n: int = 250) -> str:
    return text if len(text) <= n else text[: n - 3] + "..."
