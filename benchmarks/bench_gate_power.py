"""The gate's power on independent comparison sets (make bench-gate, second part -> benchmarks/gate.md).

Why a second part: the first part judges 40 pairs on ONE comparison set (their errors are correlated)
and every "worse" pair there is worse by more than 0.039 AUC, so it cannot say what a small margin
costs. Here every pair gets its own comparison rows (other days, other keys), and the true difference
of each pair is known by construction:

* a base LightGBM is trained once on synthetic bankchurn rows (the feed calibrated to the public file);
* a "model" is the base model's logit plus noise of scale sigma that is a fixed function of the row's
  key and the model's seed (so it scores any row, deterministically, like a model, and two models with
  the same sigma and other seeds are equally good with different errors);
* the champion has sigma0; challengers get the sigma that moves the AUC on a 60,000-row truth set by
  0 (equal), -0.01, -0.02, -0.03 (worse) or +0.015 (better), found by bisection.

Each pair is evaluated ONCE by the pipeline's own evaluate() (paired bootstrap, the shipped 1,000
resamples, every slice), with 2,000 comparison rows (one 60-day window of bankchurn's test side) and
6,000 (what `split.comparison_days: 180` gives); then decide() judges it under several overall margins
(the intervals do not depend on the margin). Rates come with exact (Clopper-Pearson) 95% intervals.
"""

from __future__ import annotations

import datetime as dt
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

PAIRS = int(os.environ.get("BENCH_GATE_PAIRS", "20"))
SIZES = (2000, 6000)
MARGINS = (0.035, 0.02, 0.015, 0.01)
BANDS = {"equal": 0.0, "worse 0.01": -0.01, "worse 0.02": -0.02, "worse 0.03": -0.03, "better 0.015": +0.015}
SIGMA0 = 0.9
PARAMS = {"learning_rate": 0.05, "num_leaves": 16, "min_child_samples": 20, "n_estimators": 300, "subsample": 0.8, "colsample_bytree": 0.8}


def rows(n: int, seed: int, day0: dt.date, cfg: Any) -> pd.DataFrame:
    from pipelines.contracts import layout
    from pipelines.domain.synthetic import generate_bankchurn

    df = generate_bankchurn(day0, n, np.random.default_rng(seed), False).reset_index(drop=True)
    df[layout.ROW_KEY] = f"s{seed}:" + df[cfg.id_column].astype(str) + ":" + pd.Series(np.arange(len(df))).astype(str)
    df[layout.ROW_DATE] = [(day0 + dt.timedelta(days=int(i % 60))).isoformat() for i in range(len(df))]
    return df


def noise(keys: pd.Series, seed: int) -> np.ndarray:
    """A standard normal per row, a fixed function of (key, seed)."""
    from scipy.special import ndtri

    h = pd.util.hash_array(keys.astype(str).to_numpy(dtype=object), hash_key=f"gatepower{seed:07d}")
    u = (h.astype(np.float64) + 0.5) / 2.0**64
    return ndtri(u)


def scores(base_logit: np.ndarray, keys: pd.Series, sigma: float, seed: int) -> np.ndarray:
    return 1 / (1 + np.exp(-(base_logit + sigma * noise(keys, seed))))


def solve_sigma(y: np.ndarray, logit: np.ndarray, keys: pd.Series, target: float, champ_auc: float) -> float:
    """The sigma whose truth-set AUC is champ_auc + target (averaged over 3 seeds: the band is the
    model's quality, not one seed's luck)."""
    from sklearn.metrics import roc_auc_score

    def auc(sigma: float) -> float:
        return float(np.mean([roc_auc_score(y, scores(logit, keys, sigma, 9000 + s)) for s in range(3)]))

    lo, hi = 0.0, 6.0
    for _ in range(30):
        mid = (lo + hi) / 2
        if auc(mid) > champ_auc + target:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


def clopper_pearson(k: int, n: int) -> tuple[float, float]:
    from scipy.stats import binomtest

    ci = binomtest(k, n).proportion_ci(confidence_level=0.95, method="exact")
    return float(ci.low), float(ci.high)


def rate(k: int, n: int) -> str:
    lo, hi = clopper_pearson(k, n)
    return f"{k}/{n} [{lo:.0%}, {hi:.0%}]"


def main() -> list[str]:
    from sklearn.metrics import roc_auc_score

    from pipelines.config import load_project
    from pipelines.contracts import ChampionRef
    from pipelines.domain.estimators import build_pipeline
    from pipelines.domain.evaluate import Candidate, evaluate
    from pipelines.domain.policy import decide
    from pipelines.domain.replay import StoredScores
    from pipelines.domain.targets import encode_target

    started = time.time()
    cfg = load_project("bankchurn")
    train = rows(20_000, 1, dt.date(2025, 1, 1), cfg)
    base = build_pipeline(cfg, "lightgbm", PARAMS, 0).fit(train[cfg.input_columns], encode_target(cfg, train))

    def logit(df: pd.DataFrame) -> np.ndarray:
        p = np.clip(base.predict_proba(df[cfg.input_columns])[:, 1], 1e-6, 1 - 1e-6)
        return np.log(p / (1 - p))

    truth = rows(60_000, 2, dt.date(2025, 6, 1), cfg)
    ty, tl, tk = encode_target(cfg, truth), logit(truth), truth["_row_key"]
    champ_auc = float(np.mean([roc_auc_score(ty, scores(tl, tk, SIGMA0, 9000 + s)) for s in range(3)]))
    sigmas = {band: (SIGMA0 if target == 0 else solve_sigma(ty, tl, tk, target, champ_auc)) for band, target in BANDS.items()}
    realized = {band: float(np.mean([roc_auc_score(ty, scores(tl, tk, sigmas[band], 7000 + s)) for s in range(5)])) - champ_auc
                for band in BANDS}
    print(f"champion truth AUC {champ_auc:.4f} (sigma {SIGMA0}); bands: " +
          ", ".join(f"{b}: sigma {sigmas[b]:.3f}, truth delta {realized[b]:+.4f}" for b in BANDS), flush=True)

    outcomes: dict[tuple[int, str], list[dict[str, Any]]] = {}
    seed = 100
    for n in SIZES:
        for band in BANDS:
            for i in range(PAIRS):
                seed += 1
                comp = rows(n, seed, dt.date(2026, 1, 1) + dt.timedelta(days=seed), cfg)  # its own rows, days and keys
                lg, keys = logit(comp), comp["_row_key"]
                champ = StoredScores(scores(lg, keys, SIGMA0, 2 * seed))
                chal = StoredScores(scores(lg, keys, sigmas[band], 2 * seed + 1))
                prior = float(encode_target(cfg, comp).mean())
                ev, _ = evaluate(cfg, comp, run_id=f"b{seed}", as_of=dt.date(2026, 12, 1), data_hash="h", challenger=Candidate(chal, 0.3),
                                 baseline=Candidate(StoredScores(np.full(n, prior)), 0.5), champion=Candidate(champ, 0.3, "1"),
                                 champion_ref=ChampionRef(version="1", run_id="a", as_of="2026-11-01"))
                iv = ev.interval(cfg.primary_metric)
                row = {"delta": iv.delta if iv else None, "mde": ev.mde}
                for m in MARGINS:
                    policy = cfg.promotion.model_copy(update={"change_thresholds": [
                        t.model_copy(update={"margin": m}) if t.metric == "roc_auc" and t.slice == "overall" else t
                        for t in cfg.promotion.change_thresholds]})
                    d = decide(cfg.model_copy(update={"promotion": policy}), ev)
                    row[m] = d.decision
                    row[("failed", m)] = [f"{c.name}@{c.slice}" for c in d.checks if not c.passed and not c.skipped]
                outcomes.setdefault((n, band), []).append(row)
            print(f"  n={n} {band}: {sum(r[MARGINS[0]] == 'promoted' for r in outcomes[(n, band)])}/{PAIRS} promoted at "
                  f"{MARGINS[0]} ({time.time() - started:.0f} s)", flush=True)

    lines = ["## Power on independent comparison sets", "",
             f"Measured {dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M} UTC on this machine (2 cores), {Path(__file__).name}, "
             f"{time.time() - started:.0f} s. " + __doc__.split("Why a second part: ")[1].split("\n\n")[0].replace("\n", " "), "",
             f"Champion AUC on the truth set {champ_auc:.4f}. True differences of the bands (challenger - champion, truth set, "
             "mean of 5 seeds): " + ", ".join(f"{b} {realized[b]:+.4f}" for b in BANDS) + ".", "",
             f"{PAIRS} pairs per band and size, each on its own rows. Cells: pairs promoted / pairs, exact 95% interval. "
             "Everything else of bankchurn's policy (slices, Brier, fairness, baseline) applies as shipped.", ""]
    for n in SIZES:
        mdes = [r["mde"] for band in BANDS for r in outcomes[(n, band)] if r["mde"] is not None]
        lines += [f"### {n:,} comparison rows (median minimum detectable effect {np.median(mdes):.4f} AUC)", "",
                  "| overall margin | " + " | ".join(BANDS) + " |", "|---|" + "---:|" * len(BANDS)]
        for m in MARGINS:
            cells = [rate(sum(r[m] == "promoted" for r in outcomes[(n, band)]), PAIRS) for band in BANDS]
            lines.append(f"| {m} | " + " | ".join(cells) + " |")
        lines.append("")
    from collections import Counter

    for n in SIZES:
        for band in ("equal", "better 0.015"):
            why = Counter(x for r in outcomes[(n, band)] if r[0.015] != "promoted" for x in r[("failed", 0.015)])
            if why:
                lines.append(f"- {n:,} rows, {band}, margin 0.015: checks that failed on the pairs not promoted: "
                             + ", ".join(f"{k} x{v}" for k, v in why.most_common(6)))
    lines += ["", "Reading: in the `equal` column, 1 - promoted is the false-rejection rate; in a `worse` column worse than the "
              "margin, promoted is the false-promotion rate (within the margin, promotion is what non-inferiority allows); "
              "1 - promoted there is the detection rate.", ""]
    verdicts = []
    for n in SIZES:
        for m in MARGINS:
            fr = sum(r[m] != "promoted" for r in outcomes[(n, "equal")])
            fp = sum(r[m] == "promoted" for band, t in BANDS.items() if t < -m for r in outcomes[(n, band)])
            fp_n = sum(PAIRS for band, t in BANDS.items() if t < -m)
            ok = fr <= 0.1 * PAIRS and fp == 0
            verdicts.append(f"- {n:,} rows, margin {m}: false rejections {rate(fr, PAIRS)}, false promotions "
                            f"{rate(fp, fp_n) if fp_n else 'n/a (no band worse than the margin)'}: "
                            f"{'**meets** <= 10% and 0' if ok else 'does not meet <= 10% and 0'}")
    lines += ["Against the target (false rejections of equal models <= 10%, no promotion of a pair worse than the margin):", "",
              *verdicts, ""]
    return lines


if __name__ == "__main__":
    out = main()
    print("\n".join(out))
