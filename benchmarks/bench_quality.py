"""Model quality on the real public data (make bench-quality): the pipeline's own train and evaluate
steps, default config and trial budget, on 5 seeded stratified 80/20 holdouts (seeds 0-4) and on the
seed-42 split the portfolio most likely used. Writes benchmarks/quality.md."""

from __future__ import annotations

import datetime as dt
import sys
import time
from pathlib import Path

import pandas as pd
from sklearn.model_selection import train_test_split

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DATA = ROOT.parent / "shared" / "data"
PUBLISHED = {"bankchurn": {"roc_auc": 0.853, "f1": 0.604, "accuracy": 0.857},
             "telecom": {"roc_auc": 0.840, "f1": 0.618, "accuracy": 0.812}}
FILES = {"bankchurn": "Churn_Modelling.csv", "telecom": "users_behavior.csv"}


NOTES = """
### Reading this table

- The published figures come from ONE split (most likely stratified 80/20 with seed 42, see
  ../shared/data/README.md); the seed-42 column is the like-for-like comparison. Split-to-split spread
  on these sizes is large: an untuned LightGBM gives telecom ROC AUC 0.816 +- 0.019 over seeds 0-4 and
  0.838 on seed 42 (data README), so a 5-split mean below a single-split figure is not a regression.
- bankchurn's decision threshold maximises F1 on out-of-fold predictions (the config's rule, because
  churn is the minority class that retention must reach). That trades accuracy for recall: F1 and
  ROC AUC beat the portfolio, accuracy does not. A project that prizes accuracy sets
  `threshold: {strategy: maximize, metric: accuracy}` (telecom does).
"""


def run(project: str, seed: int) -> dict[str, float]:
    import logging

    from pipelines.config import load_project
    from pipelines.evaluate import classification_metrics
    from pipelines.train import train

    logging.getLogger("pipelines").setLevel(logging.WARNING)
    cfg = load_project(project)
    df = pd.read_csv(DATA / FILES[project])
    tr, te = train_test_split(df, test_size=0.2, random_state=seed, stratify=df[cfg.target])
    res = train(cfg, tr.reset_index(drop=True), study_name=f"bench-{project}-{seed}", storage=None)
    p = res.model.predict_proba(te[cfg.input_columns])[:, 1]
    m = classification_metrics(te[cfg.target].to_numpy(), p, res.threshold)
    return {"roc_auc": m["roc_auc"], "f1": m["f1"], "accuracy": m["accuracy"], "threshold": res.threshold, "family": res.family,
            "seconds": res.duration_s}


def main() -> None:
    lines = ["# Model quality on the real public data\n",
             f"Measured {dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M} UTC by `make bench-quality` ({Path(__file__).name}): the pipeline's",
             "own `train` (Optuna over the project's families, default `n_trials` and CV folds, threshold rule from the",
             "project YAML) and metrics, on the real CSVs in ../shared/data. Stratified 80/20 holdouts.\n"]
    verdicts = []
    for project in ("bankchurn", "telecom"):
        t0 = time.time()
        rows = {seed: run(project, seed) for seed in (42, 0, 1, 2, 3, 4)}
        five = pd.DataFrame([rows[s] for s in range(5)])
        pub = PUBLISHED[project]
        lines += [f"## {project} ({FILES[project]})\n",
                  "| metric | published (portfolio) | seed-42 split | 5 splits mean | 5 splits sd | beaten (mean) |",
                  "|---|---:|---:|---:|---:|---|"]
        for k in ("roc_auc", "f1", "accuracy"):
            beat = five[k].mean() > pub[k]
            verdicts.append((project, k, beat, rows[42][k] > pub[k]))
            lines.append(f"| {k} | {pub[k]:.3f} | {rows[42][k]:.3f} | {five[k].mean():.3f} | {five[k].std():.3f} | {'yes' if beat else 'no'} |")
        lines.append(f"| threshold | | {rows[42]['threshold']:.2f} | {five['threshold'].mean():.2f} | {five['threshold'].std():.2f} | |")
        fams = ", ".join(f"{s}: {rows[s]['family']}" for s in rows)
        lines += ["", f"Chosen families: {fams}. Wall time for 6 searches: {time.time() - t0:.0f} s.\n"]
    missed = [f"{p} {k}" for p, k, beat, _ in verdicts if not beat]
    missed42 = [f"{p} {k}" for p, k, _, beat42 in verdicts if not beat42]
    lines.append("**Every published figure beaten (5-split mean).**" if not missed else
                 f"**Not beaten on the 5-split mean: {', '.join(missed)}; on the seed-42 split: {', '.join(missed42) or 'none'}.**")
    lines.append(NOTES)
    out = "\n".join(lines) + "\n"
    (ROOT / "benchmarks" / "quality.md").write_text(out)
    print(out)


if __name__ == "__main__":
    main()
