"""Policy replay: re-decide a recorded evaluation under a proposed promotion policy, from the rows and
scores the decision was made on, and say what flipped and which check changed.

Pure: the caller supplies the recorded decision, its evaluation and (where stored) the comparison rows
with every model's score; nothing here reads or writes a store. Re-scoring uses `evaluate` itself with
the stored scores standing in for the models, so a proposed policy that needs an interval the original
one did not (a new metric, a new slice rule, another confidence) gets it computed on the same rows,
with the proposed bootstrap settings; replaying under the policy a decision was made with reproduces it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from pipelines.config import ProjectConfig
from pipelines.contracts import Decision, Evaluation
from pipelines.domain.evaluate import Candidate, evaluate
from pipelines.domain.policy import decide

SCORE_PREFIX = "score."
RUN_RULE = "the policy said:"  # a recorded reason with this marker was overridden by a run rule (promote=false, backfill)


class StoredScores:
    """Stands in for a model: returns the scores it was given, for exactly the rows it was given."""

    def __init__(self, scores: np.ndarray):
        self.scores = np.asarray(scores, dtype=float)

    def _check(self, X: pd.DataFrame) -> None:
        if len(X) != len(self.scores):
            raise ValueError(f"stored scores are for {len(self.scores)} rows, asked for {len(X)}")

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        self._check(X)
        return np.column_stack([1 - self.scores, self.scores])

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        self._check(X)
        return self.scores


@dataclass(frozen=True)
class Replayed:
    version: str
    as_of: str
    recorded: str                 # the policy's outcome as recorded (before any run rule)
    replayed: str
    basis: str                    # "stored scores" | "recorded evaluation"
    changed: list[str]            # checks whose result differs: "name (slice): PASS -> FAIL"
    reason: str

    @property
    def flipped(self) -> bool:
        return self.recorded != self.replayed


def policy_outcome(d: Decision) -> str:
    """What the policy itself decided: a run rule (promote=false, an older window) may have turned a
    `promoted` into `kept_champion`; replay compares policies, so it reads through that."""
    return "promoted" if d.decision == "kept_champion" and RUN_RULE in d.reason else d.decision


def rescore(cfg: ProjectConfig, ev: Evaluation, rows: pd.DataFrame) -> Evaluation:
    """`ev` recomputed under `cfg` (the proposed policy) from the stored comparison rows and scores."""
    def cand(name: str) -> Candidate:
        m = ev.models[name]
        return Candidate(StoredScores(rows[SCORE_PREFIX + name].to_numpy()), m.threshold, m.version)

    champion = cand("champion") if "champion" in ev.models and SCORE_PREFIX + "champion" in rows else None
    new, _ = evaluate(cfg, rows, run_id=ev.run_id, as_of=ev.as_of, data_hash=ev.data_hash, challenger=cand("challenger"),
                      baseline=cand("baseline"), champion=champion, champion_ref=ev.champion if champion else None)
    return new.model_copy(update={"backtest": ev.backtest, "test_rows": ev.test_rows, "excluded_seen_by_champion": ev.excluded_seen_by_champion,
                                  "comparison_first": ev.comparison_first, "comparison_last": ev.comparison_last, "scores_uri": ev.scores_uri})


def replay(cfg: ProjectConfig, version: str, recorded: Decision, ev: Evaluation, rows: pd.DataFrame | None, as_of: Any = None) -> Replayed:
    """Re-decide one version under `cfg`'s promotion policy (`as_of`: the decision's date, default the evaluation's)."""
    basis = "stored scores" if rows is not None else "recorded evaluation"
    new_ev = rescore(cfg, ev, rows) if rows is not None else ev
    d = decide(cfg, new_ev)
    before = {(c.name, c.slice): c for c in recorded.checks}
    changed = []
    for c in d.checks:
        old = before.pop((c.name, c.slice), None)
        now_ = "not judged" if c.skipped else ("PASS" if c.passed else "FAIL")
        was = "absent" if old is None else ("not judged" if old.skipped else ("PASS" if old.passed else "FAIL"))
        if was != now_:
            changed.append(f"{c.name} ({c.slice}): {was} -> {now_}")
    changed += [f"{name} ({sl}): {'PASS' if c.passed else 'FAIL'} -> absent" for (name, sl), c in before.items()]
    return Replayed(version=version, as_of=str(as_of or ev.as_of), recorded=policy_outcome(recorded), replayed=d.decision, basis=basis,
                    changed=changed, reason=d.reason)


def replay_markdown(project: str, policy_name: str, results: list[Replayed], since: Any = None) -> str:
    flips = [r for r in results if r.flipped]
    lines = [f"# Policy replay: {project} under {policy_name}", "",
             f"{len(results)} recorded decisions re-decided{f' since {since}' if since else ''}; "
             f"**{len(flips)} flip{'' if len(flips) == 1 else 's'}**. The registry was not touched.", ""]
    if flips:
        lines += ["| version | as of | recorded | replayed | checks that changed | basis |", "|---|---|---|---|---|---|"]
        for r in flips:
            lines.append(f"| v{r.version} | {r.as_of} | {r.recorded} | **{r.replayed}** | {'; '.join(r.changed[:4]) or '-'} | {r.basis} |")
        lines.append("")
    same = [r for r in results if not r.flipped]
    if same:
        lines.append("Unchanged: " + ", ".join(f"v{r.version} ({r.recorded})" for r in same))
    return "\n".join(lines) + "\n"
