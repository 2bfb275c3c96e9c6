"""The register step: register the version once, decide once (write-ahead, under the project's
registry lock: `pipelines.steps.promotion`), publish the decision, move aliases last; a retry converges.
"""

from __future__ import annotations

import time

from pipelines.config import ProjectConfig
from pipelines.contracts import Evaluated, Evaluation, Extracted, Registered, RunSpec, Trained, layout, names
from pipelines.resources import Resources
from pipelines.steps.evaluate import evaluate_against
from pipelines.steps.summary import summarize


# -------------------------------------------------------------------------------------- register
def step_register(res: Resources, cfg: ProjectConfig, run: RunSpec, ex: Extracted, tr: Trained, evd: Evaluated) -> Registered:
    """Register once, decide once (write-ahead), move aliases last; a retry converges."""
    from pipelines.steps.promotion import PromotionError, decide_and_move
    from pipelines.steps.publish import publish_decision

    started = time.monotonic()
    ev = Evaluation.from_json(res.lake.get_json(res.lake.key_of(evd.evaluation_uri)))
    if ev.run_id != tr.run_id or evd.run_id != tr.run_id:
        raise PromotionError(f"the evaluation {evd.evaluation_uri} belongs to MLflow run {ev.run_id}, not to this run's {tr.run_id}: "
                             "refusing to register on it")
    version, reused = res.registry.register(cfg.name, tr.model_uri, tr.run_id, {
        names.AS_OF: run.as_of.isoformat(), names.DATA_HASH: ex.data_hash, names.RUN_KEY: run.run_key, names.FAMILY: tr.family,
        names.THRESHOLD: "" if tr.threshold is None else str(tr.threshold), names.TRAIN_URI: ex.train_uri, names.TEST_URI: ex.test_uri,
        names.WINDOW: ex.window, names.EVALUATION_URI: evd.evaluation_uri,
        names.DECISION: "pending", names.DECISION_STATE: "pending"})  # visibly undecided until the gate records its decision

    def rescore(champion: str | None) -> tuple[str, Evaluation]:
        uri, e, _ = evaluate_against(res, cfg, ex, tr, res.registry.version(cfg.name, champion) if champion else None)
        return uri, e

    rec, ev, again = decide_and_move(res, cfg, run, version, tr.run_id, evd.evaluation_uri, ev, rescore)
    publish_decision(res, cfg, rec, ev, ex, tr)
    champion = res.registry.aliases(cfg.name).get(names.CHAMPION)
    d = rec.decision
    summarize("register", [f"{cfg.name} v{version}{' (already registered)' if reused else ''}: {d.decision.upper()}"
                           + (" (recorded earlier; nothing decided twice)" if again else ""),
                           f"why: {d.reason[:400]}", f"promotion checks {d.promotion_checks}: {d.checks_summary}; champion is now "
                           f"v{champion}; register took {time.monotonic() - started:.1f}s"]
              + [f"failed: {c.detail[:200]}" for c in d.failed[:3]])
    return Registered(version=version, decision=d.decision, champion=champion, reused=again,
                      decision_uri=res.lake.uri(layout.decision_prefix(cfg.name, version)))
