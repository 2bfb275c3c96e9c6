"""The promotion gate's error rates on real data (make bench-gate -> benchmarks/gate.md).

bankchurn's public file (data/Churn_Modelling.csv) is spread over 60 days like `feed --from-csv`,
after holding out 2,000 rows as the TRUTH set that no model and no comparison ever sees. Each
pair is a champion trained on the window ending day 44 and a challenger on the window ending day
60 (the windows overlap by 28 days, as consecutive runs do):

* 20 EQUAL pairs: the same model family and settings, other seeds and 90% subsamples -- equally
  good on unseen rows (their truth-set AUCs differ by ~0.00x);
* 20 WORSE pairs: the challenger trained with 25% or 15% of its labels flipped (an upstream join
  or labelling bug) -- worse on the truth set by more than the shipped overall margin (checked and
  reported per pair).

Each pair is judged twice, by the pipeline's own evaluate() and decide():

* BEFORE (the code at commit daa08f9): every run re-splits its window at random (seed 42), so the
  champion is scored on rows it trained on; change thresholds are point deltas (the YAML of that
  commit, read from git: roc_auc >= -0.005, slices >= -0.03, log loss >= -5%);
* AFTER (now): the hash split keeps a row on one side in every run and evaluate() drops rows the
  champion trained on; non-inferiority decided by the paired bootstrap interval (the current YAML).

False rejection = an equal challenger not promoted; false promotion = a worse one promoted.
"""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import yaml
from sklearn.dummy import DummyClassifier
from sklearn.metrics import roc_auc_score

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pipelines.config import ProjectConfig, load_project  # noqa: E402
from pipelines.contracts import (
    ChampionRef,  # noqa: E402
    layout,  # noqa: E402
)
from pipelines.domain.estimators import build_pipeline  # noqa: E402
from pipelines.domain.evaluate import Candidate, evaluate  # noqa: E402
from pipelines.domain.policy import decide  # noqa: E402
from pipelines.domain.rows import hash_test_mask  # noqa: E402

OLD_COMMIT = "daa08f9"
PARAMS = {"learning_rate": 0.05, "num_leaves": 64, "min_child_samples": 10, "n_estimators": 300, "subsample": 0.8, "colsample_bytree": 0.8}
DAY0 = dt.date(2026, 1, 1)


def old_config(new: ProjectConfig) -> ProjectConfig:
    raw = yaml.safe_load(subprocess.run(["git", "show", f"{OLD_COMMIT}:pipelines/projects/bankchurn.yaml"], capture_output=True, text=True,
                                        check=True, cwd=ROOT).stdout)
    promo = raw["promotion"]
    promo.pop("significance", None)
    return new.model_copy(update={"promotion": new.promotion.model_validate({**promo, "bootstrap": new.promotion.bootstrap.model_dump()}),
                                  "slices": new.slices.model_copy(update={"optional": []})})


def frame() -> tuple[pd.DataFrame, pd.DataFrame]:
    df = pd.read_csv(ROOT / "data" / "Churn_Modelling.csv")
    truth = df.sample(2000, random_state=7)
    rest = df.drop(truth.index).sample(frac=1.0, random_state=1).reset_index(drop=True)
    rest["_day"] = np.arange(len(rest)) % 60
    rest[layout.ROW_KEY] = rest["CustomerId"].astype(str)
    rest[layout.ROW_DATE] = [(DAY0 + dt.timedelta(days=int(d))).isoformat() for d in rest["_day"]]
    return rest, truth.reset_index(drop=True)


def window(rest: pd.DataFrame, last_day: int, days: int = 44) -> pd.DataFrame:
    return rest[(rest["_day"] > last_day - days) & (rest["_day"] <= last_day)].reset_index(drop=True)


def split(df: pd.DataFrame, protocol: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    if protocol == "before":  # the old extract: a fresh seeded random 80/20 of whatever the window holds
        from sklearn.model_selection import train_test_split

        tr, te = train_test_split(df, test_size=0.2, random_state=42, stratify=df["Exited"])
        return tr.reset_index(drop=True), te.reset_index(drop=True)
    test = hash_test_mask(df[layout.ROW_KEY], 0.2, 42)
    return df[~test].reset_index(drop=True), df[test].reset_index(drop=True)


def fit(cfg: ProjectConfig, train: pd.DataFrame, seed: int, kind: str = "equal"):  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(seed)
    train = train.sample(frac=0.9, random_state=seed)
    y = train["Exited"].to_numpy().copy()
    if kind.startswith("noisy"):
        flip = rng.random(len(y)) < (0.25 if kind == "noisy" else 0.15)
        y[flip] = 1 - y[flip]
    return build_pipeline(cfg, "lightgbm", PARAMS, seed).fit(train[cfg.input_columns], y)


def judge(cfg: ProjectConfig, champ, chal, champ_train: pd.DataFrame, test: pd.DataFrame, base) -> tuple[str, float | None]:  # type: ignore[no-untyped-def]
    ref = ChampionRef(version="1", run_id="a", as_of=(DAY0 + dt.timedelta(days=45)).isoformat(), judged_slices=[])
    ev, _ = evaluate(cfg, test, run_id="b", as_of=DAY0 + dt.timedelta(days=61), data_hash="h", challenger=Candidate(chal, 0.5),
                     baseline=Candidate(base, 0.5), champion=Candidate(champ, 0.5, "1"), champion_ref=ref,
                     champion_train_keys=set(champ_train[layout.ROW_KEY]))
    iv = ev.interval(cfg.primary_metric)
    return decide(cfg, ev).decision, None if iv is None else iv.delta


def run_pair(i: int, kind: str, rest: pd.DataFrame, truth: pd.DataFrame, new: ProjectConfig, old: ProjectConfig) -> dict:
    out: dict = {"pair": i, "kind": kind}
    for protocol, cfg, evaluator_cfg in (("before", old, old), ("after", new, new)):
        a_train, _ = split(window(rest, 44), protocol)
        b_train, b_test = split(window(rest, 59), protocol)
        champ = fit(cfg, a_train, seed=100 + i)
        chal = fit(cfg, b_train, seed=200 + i, kind="equal" if kind == "equal" else ("noisy" if i % 2 else "noisy_mild"))
        base = DummyClassifier(strategy="prior").fit(b_train[cfg.input_columns], b_train["Exited"])
        # before: the champion's training rows are NOT removed (the old evaluate scored it on the new test rows)
        keys = a_train if protocol == "after" else a_train.iloc[0:0]
        decision, delta = judge(evaluator_cfg, champ, chal, keys, b_test, base)
        seen = int(b_test[layout.ROW_KEY].isin(set(a_train[layout.ROW_KEY])).sum())
        truth_delta = roc_auc_score(truth["Exited"], chal.predict_proba(truth[cfg.input_columns])[:, 1]) - roc_auc_score(
            truth["Exited"], champ.predict_proba(truth[cfg.input_columns])[:, 1])
        out[protocol] = {"decision": decision, "delta": delta, "truth": truth_delta, "seen": seen, "test_rows": len(b_test)}
    return out


def main() -> None:
    started = time.time()
    new = load_project("bankchurn")
    old = old_config(new)
    rest, truth = frame()
    pairs = [run_pair(i, "equal", rest, truth, new, old) for i in range(20)] + [run_pair(i, "worse", rest, truth, new, old) for i in range(20, 40)]
    lines = ["# Promotion gate: false rejections and false promotions on real data\n",
             f"Measured {dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M} UTC on this machine (2 cores) by `make bench-gate`",
             f"({Path(__file__).name}, {time.time() - started:.0f} s). Data: data/Churn_Modelling.csv, 8,000 rows spread over 60 days",
             "(2,000 held out as the truth set). Champion window: days 1-44; challenger window: days 16-59. Model: LightGBM",
             "(64 leaves, 300 rounds: flexible enough to remember its training rows).", "",
             "Each pair is judged twice" + __doc__.split("Each pair is judged twice")[1].split("False rejection")[0].rstrip()
             .replace("\n  ", " "), ""]
    summary = {}
    for protocol in ("before", "after"):
        eq = [p[protocol] for p in pairs if p["kind"] == "equal"]
        wo = [p[protocol] for p in pairs if p["kind"] == "worse"]
        summary[protocol] = (sum(r["decision"] != "promoted" for r in eq), sum(r["decision"] == "promoted" for r in wo),
                             float(np.mean([r["seen"] / r["test_rows"] for r in eq + wo])))
    lines += ["| rules | comparison rows the champion trained on | false rejections (20 equal pairs) | false promotions (20 worse pairs) |",
              "|---|---:|---:|---:|"]
    for protocol, label in (("before", f"before ({OLD_COMMIT}: random re-split, point deltas)"),
                            ("after", "after (hash split + exclusion, non-inferiority by interval)")):
        fr, fp, seen = summary[protocol]
        lines.append(f"| {label} | {seen:.0%} | {fr}/20 = {fr / 20:.0%} | {fp}/20 = {fp / 20:.0%} |")
    lines += ["", "Targets: false rejections <= 10%, false promotions 0.", "", "## Every pair", "",
              "| pair | kind | truth delta (AUC, unseen rows) | before: measured delta | before: decision | after: measured delta | after: decision |",
              "|---:|---|---:|---:|---|---:|---|"]
    for p in pairs:
        b, a = p["before"], p["after"]
        lines.append(f"| {p['pair']} | {p['kind']} | {a['truth']:+.4f} | {b['delta']:+.4f} | {b['decision']} | {a['delta']:+.4f} | {a['decision']} |")
    margin = next(t.margin for t in new.promotion.change_thresholds if t.metric == "roc_auc" and t.slice == "overall")
    worst_equal = max(abs(p["after"]["truth"]) for p in pairs if p["kind"] == "equal")
    best_worse = max(p["after"]["truth"] for p in pairs if p["kind"] == "worse")
    lines += ["", f"Equal pairs differ by at most {worst_equal:.4f} AUC on the truth set; every worse pair is below the champion by more than "
              f"{-best_worse:.4f} (the shipped overall margin is {margin})." + ("" if -best_worse > margin else
              " NOT every worse pair is worse by more than the margin: those pairs are not a fair test of false promotion."), ""]
    import bench_gate_power  # the second part: independent comparison sets, bands of known true differences

    lines += bench_gate_power.main()
    (ROOT / "benchmarks" / "gate.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
