"""The evaluate step: the challenger against the current champion (or none) on the comparison rows,
computed once per (run, champion) and stored under an immutable key; the champion as the registry
describes it (`champion_ref`). The scoring itself is `pipelines.domain.evaluate`.
"""

from __future__ import annotations

import logging
from typing import Any

from pipelines.config import ProjectConfig
from pipelines.contracts import Evaluated, Evaluation, Extracted, RunSpec, Trained, layout, names
from pipelines.contracts.evaluation import ChampionRef
from pipelines.resources import Resources
from pipelines.resources.registry import VersionInfo
from pipelines.steps.summary import summarize

log = logging.getLogger(__name__)


# -------------------------------------------------------------------------------------- evaluate
def champion_ref(res: Resources, v: VersionInfo) -> ChampionRef:
    """How evaluate describes a champion: its lineage tags and the slices judged when it was promoted."""
    judged: list[str] = []
    ev_uri = v.tags.get(names.EVALUATION_URI)
    if ev_uri:
        ev = Evaluation.from_json(res.lake.get_json(res.lake.key_of(ev_uri)))
        judged = [s.name for s in ev.challenger.slices if s.judged]
    return ChampionRef(version=v.version, run_id=v.run_id, as_of=v.tags.get(names.AS_OF), train_uri=v.tags.get(names.TRAIN_URI),
                       evaluation_uri=ev_uri, threshold=v.threshold, judged_slices=judged)


SCORE_PREFIX = "score."


def store_scores(res: Resources, cfg: ProjectConfig, evaluation_key: str, rows: Any, scores: dict[str, Any]) -> dict[str, Any]:
    """The comparison rows as the decision saw them (key, date, inputs, label) with every model's
    score, stored once beside the evaluation: `pipelines policy replay` re-decides from them."""
    import pandas as pd

    keep = [c for c in (layout.ROW_KEY, layout.ROW_DATE, *cfg.input_columns, cfg.target) if c in rows.columns]
    frame = rows[keep].reset_index(drop=True).copy()
    for name, values in scores.items():
        if name != "y":
            frame[SCORE_PREFIX + name] = values
    key = evaluation_key.removesuffix(".json") + ".scores.parquet"
    res.lake.write_parquet_once(key, frame)  # a concurrent attempt wrote the same rows and scores first: kept
    days = pd.to_datetime(frame[layout.ROW_DATE]).dt.date if len(frame) else None
    return {"scores_uri": res.lake.uri(key), "comparison_first": days.min() if days is not None else None,
            "comparison_last": days.max() if days is not None else None}


def evaluate_against(res: Resources, cfg: ProjectConfig, ex: Extracted, tr: Trained, champ: VersionInfo | None
                     ) -> tuple[str, Evaluation, dict[str, Any] | None]:
    """The challenger vs `champ` (or none) on the comparison rows: computed once per (run, champion),
    stored under an immutable key; a second call reads it back."""
    from sklearn.dummy import DummyClassifier, DummyRegressor

    from pipelines.domain.evaluate import Candidate, comparison_rows, evaluate, model_threshold, temporal_backtest
    from pipelines.domain.targets import encode_target
    from pipelines.steps.extract import load_snapshot

    key = layout.evaluation_key(cfg.name, ex.as_of, ex.data_hash, tr.run_id, champ.version if champ else None)
    if res.lake.exists(key):
        return res.lake.uri(key), Evaluation.from_json(res.lake.get_json(key)), None
    train_df, test_df = load_snapshot(res.lake, ex.train_uri), load_snapshot(res.lake, ex.test_uri)
    model = res.load_model(tr.model_uri)
    dummy = DummyRegressor(strategy="median") if cfg.regression else DummyClassifier(strategy="prior")
    baseline = Candidate(dummy.fit(train_df[cfg.input_columns], encode_target(cfg, train_df)), None if cfg.regression else 0.5)
    champion = ref = keys = None
    if champ is not None:
        cm = res.load_model(f"models:/{cfg.name}/{champ.version}")
        champion, ref = Candidate(cm, model_threshold(cm, champ.threshold), champ.version), champion_ref(res, champ)
        keys = set(load_snapshot(res.lake, ref.train_uri)[layout.ROW_KEY].astype(str)) if ref.train_uri else None
    ev, scores = evaluate(cfg, test_df, run_id=tr.run_id, as_of=ex.as_of, data_hash=ex.data_hash,
                          challenger=Candidate(model, model_threshold(model, tr.threshold)), baseline=baseline, champion=champion,
                          champion_ref=ref, champion_train_keys=keys)
    if cfg.backtest is not None:
        import pandas as pd

        ev = ev.model_copy(update={"backtest": temporal_backtest(cfg, model, pd.concat([train_df, test_df], ignore_index=True))})
    ev = ev.model_copy(update=store_scores(res, cfg, key, comparison_rows(test_df, keys if champ is not None else None)[0], scores))
    uri, written = res.lake.write_json_once(key, ev.to_json())
    if not written:  # a concurrent attempt stored it first: that one is the record
        return uri, Evaluation.from_json(res.lake.get_json(key)), None
    return uri, ev, scores


def step_evaluate(res: Resources, cfg: ProjectConfig, run: RunSpec, ex: Extracted, tr: Trained) -> Evaluated:
    from pipelines.steps.publish import log_evaluation

    champ = res.registry.alias_version(cfg.name, names.CHAMPION)  # a registry error fails the task; only "no model" is None
    if champ is not None and champ.run_id == tr.run_id:
        log.info("this run's own model is already champion v%s: comparing against the baseline only", champ.version)
        champ = None
    uri, ev, scores = evaluate_against(res, cfg, ex, tr, champ)
    log_evaluation(res, cfg, tr, ev, scores)
    p = cfg.primary_metric
    iv = ev.interval(p)
    value = ev.challenger.metrics.get(p)
    summarize("evaluate", [f"challenger {p} {'-' if value is None else format(value, '.4f')} on {ev.comparison_rows} comparison rows "
                           f"({ev.excluded_seen_by_champion} excluded as seen by the champion)",
                           f"vs champion v{ev.champion_version}: challenger - champion {iv.delta:+.4f}, {iv.confidence:.0%} CI "
                           f"[{iv.ci_low or 0:+.4f}, {iv.ci_high or 0:+.4f}]" if iv and iv.delta is not None
                           else "no champion yet: compared with the baseline only", f"report: {uri}"])
    return Evaluated(evaluation_uri=uri, run_id=tr.run_id, champion_version=ev.champion_version, primary=ev.challenger.metrics.get(p),
                     comparison_rows=ev.comparison_rows)
