"""What people read: the decision (markdown), the model card, the short summary shown as the model
version's and the run's description in MLflow, the styled comparison page and the plots.

Pure rendering over the typed contracts; nothing here reads or writes a store.
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from pipelines.config import LOWER_IS_BETTER, ProjectConfig
from pipelines.contracts import Check, DecisionRecord, Evaluation, Extracted, Trained


def _v(version: str | None) -> str:
    return f"v{version}" if version else "(none)"


def _f(v: float | None, fmt: str = ".4f") -> str:
    return "-" if v is None else format(v, fmt)


def _value(c: Check) -> str:
    if c.value is None:
        return ""
    return f"{c.value:+.4f}" if c.kind in ("change", "baseline") else f"{c.value:.4f}"


def marginal(c: Check) -> bool:
    """A passed check that sits close to its bound: worth a look although it passed."""
    if not c.passed or c.skipped or c.value is None:
        return False
    if c.kind == "change" and c.rule in ("non_inferiority", "superiority"):
        floor = float(c.threshold.split(">")[1].split("(")[0]) if ">" in c.threshold else 0.0
        return c.value - floor < 0.005
    return False


def decision_markdown(cfg: ProjectConfig, rec: DecisionRecord, ev: Evaluation | None = None) -> str:
    """decision.md: every check with value, threshold and result, readable in the MLflow UI."""
    d = rec.decision
    lines = [f"# Promotion decision: {cfg.name} v{rec.version}", "",
             f"**{d.decision.upper()}** -- {d.reason}", "",
             f"- promotion checks: **{d.promotion_checks}** ({d.checks_summary})",
             f"- as-of date: {rec.as_of}; champion at decision: {_v(rec.champion_before)}; previous: {_v(rec.previous_before)}",
             "- alias moves: " + (", ".join(f"{m.alias} -> {'v' + m.version if m.version else '(removed)'}" for m in rec.moves) or "none"),
             f"- decided at: {rec.decided_at}; MLflow run: `{rec.run_id}`; evaluation: `{rec.evaluation_uri}`"]
    if ev is not None:
        lines += [f"- comparison rows: {ev.comparison_rows} of {ev.test_rows} test rows ({ev.excluded_seen_by_champion} excluded: in the "
                  f"champion's training snapshot)" + (f", dated {ev.comparison_first} to {ev.comparison_last}" if ev.comparison_first else "")]
        if ev.mde is not None:
            lines.append(f"- minimum detectable effect on these rows: {ev.mde:.4f} {ev.primary_metric} (half-width of the paired "
                         f"interval): a true difference smaller than this is not told from noise")
        if ev.scores_uri:
            lines.append(f"- the comparison rows' keys, labels and scores (for `pipelines policy replay`): `{ev.scores_uri}`")
        if ev.fresh is not None:
            fd = ev.fresh.delta
            lines.append(f"- fresh rows (partitions since the champion's as-of {ev.fresh.since}): {ev.fresh.n}"
                         + (f"; challenger - champion {ev.primary_metric} {_f(fd.delta, '+.4f')} [{_f(fd.ci_low, '+.4f')}, "
                            f"{_f(fd.ci_high, '+.4f')}] (informative, not judged)" if fd else ""))
    lines += ["", "| check | rule | slice | value | threshold | result |", "|---|---|---|---:|---|---|"]
    for c in d.checks:
        res = "not judged" if c.skipped else ("PASS" if c.passed else "**FAIL**")
        lines.append(f"| {c.name} | {c.rule or c.kind} | {c.slice} | {_value(c)} | {c.threshold} | {res} |")
    lines += ["", "Details:", ""] + [f"- {c.name}: {c.detail}" for c in d.checks]
    return "\n".join(lines) + "\n"


class SliceDelta(NamedTuple):
    slice: str
    n: int
    challenger: float | None
    champion: float | None
    delta: float | None
    ci_low: float | None
    ci_high: float | None


def slice_deltas(ev: Evaluation) -> list[SliceDelta]:
    """The primary metric per judged slice: both models, the delta and its paired interval."""
    out = []
    p = ev.primary_metric
    champ = ev.models.get("champion")
    for s in ev.challenger.slices:
        if not s.judged:
            continue
        old = champ.slice(s.name) if champ else None
        iv = ev.interval(p, s.name)
        new_v, old_v = s.metrics.get(p), old.metrics.get(p) if old else None
        delta = iv.delta if iv else (None if new_v is None or old_v is None else new_v - old_v)
        out.append(SliceDelta(s.name, s.n, new_v, old_v, delta, iv.ci_low if iv else None, iv.ci_high if iv else None))
    return out


def decision_summary(cfg: ProjectConfig, rec: DecisionRecord, ev: Evaluation | None, links: dict[str, str]) -> str:
    """The short markdown shown as the model version's and the run's description."""
    d = rec.decision
    failed = [c for c in d.checks if not c.passed]
    near = [c for c in d.checks if marginal(c)]
    lines = [f"**{d.decision.replace('_', ' ').upper()}** (v{rec.version}, as of {rec.as_of}): {d.reason}", "",
             f"Promotion checks {d.promotion_checks}: {d.checks_summary}. Champion at decision: v{rec.champion_before or '-'}."]
    if ev is not None:
        iv = ev.interval(ev.primary_metric)
        if iv is not None:
            span = f", {ev.comparison_first} to {ev.comparison_last}" if ev.comparison_first else ""
            lines.append(f"Challenger - champion {ev.primary_metric} on {ev.comparison_rows} comparison rows{span}: {_f(iv.delta, '+.4f')}, "
                         f"{iv.confidence:.0%} CI [{_f(iv.ci_low, '+.4f')}, {_f(iv.ci_high, '+.4f')}]; minimum detectable effect "
                         f"{_f(ev.mde)}.")
    if failed:
        lines += ["", "Failed checks:"] + [f"- {c.detail}" for c in failed[:8]]
    if near:
        lines += ["", "Marginal (passed, close to the bound):"] + [f"- {c.detail}" for c in near[:5]]
    if ev is not None and "champion" in ev.models:
        lines += ["", "| slice | n | challenger | champion | delta | CI |", "|---|---:|---:|---:|---:|---|"]
        for name, n, new, old, delta, lo, hi in slice_deltas(ev)[:12]:
            ci = f"[{_f(lo, '+.3f')}, {_f(hi, '+.3f')}]" if lo is not None else ""
            lines.append(f"| {name} | {n} | {_f(new)} | {_f(old)} | {_f(delta, '+.4f')} | {ci} |")
    if links:
        lines += ["", " | ".join(f"[{k}]({v})" for k, v in links.items())]
    return "\n".join(lines) + "\n"


def model_card(cfg: ProjectConfig, rec: DecisionRecord, ev: Evaluation, ex: Extracted, tr: Trained) -> str:
    m = ev.challenger.metrics
    rows = [f"| {k} | {_f(m.get(k), ',.4f')} | [{_f(c.ci_low, ',.4f')}, {_f(c.ci_high, ',.4f')}] |" for k, c in ev.metric_cis.items()]
    slices = [f"| {s.name} | {s.n} | {_f(s.metrics.get(cfg.primary_metric))} | {'yes' if s.judged else 'no (too small)'} |"
              for s in ev.challenger.slices]
    fair = [f"- {f.feature}: disparate impact {_f(f.disparate_impact, '.3f')}; selection rates "
            + ", ".join(f"{g} {r:.3f}" for g, r in f.selection_rates.items()) for f in ev.fairness]
    iv = ev.interval(cfg.primary_metric)
    task = (f"Regression of `{cfg.target}`." if cfg.regression else
            f"Binary classification of `{cfg.target}` (positive = {cfg.positive_label!r}); `predict` applies the threshold "
            f"{_f(tr.threshold, '.2f')} inside the model (chosen by the `{cfg.threshold.strategy}` rule on out-of-fold "
            f"{'calibrated (' + cfg.calibration + ') ' if cfg.calibration != 'none' else ''}predictions).")
    return "\n".join([
        f"# Model card: {cfg.name} v{rec.version}", "", "## Intended use", cfg.description or "(no description in the project config)",
        task, "", "## Training data",
        f"- window: {ex.window_start} .. {ex.window_end} (as of {ex.as_of}), {ex.rows} rows from {ex.partitions} daily partitions",
        f"- data hash: `{ex.data_hash}`; split: {ex.train_rows} train / {ex.test_rows} test ({ex.split})",
        f"- features: {', '.join(cfg.features)}; engineered: {', '.join(s.transformer for s in cfg.feature_engineering) or 'none'}",
        "", "## How it was chosen",
        f"Optuna TPE (seed {cfg.search.seed}) over {', '.join(cfg.search.families)}; {cfg.search.cv_folds}-fold CV on "
        f"{cfg.primary_metric}; chosen: {tr.family} (CV {_f(tr.cv_score)}). MLflow run `{tr.run_id}`.", "",
        f"## Test metrics on {ev.comparison_rows} comparison rows (95% bootstrap CIs)", "| metric | value | CI |", "|---|---:|---|", *rows, "",
        (f"Versus champion v{ev.champion_version}: {cfg.primary_metric} {_f(iv.delta, '+.4f')} [{_f(iv.ci_low, '+.4f')}, {_f(iv.ci_high, '+.4f')}]"
         if iv else "No champion at evaluation: first model."), "",
        "## Slices", f"| slice | rows | {cfg.primary_metric} | judged |", "|---|---:|---:|---|", *slices, "",
        "## Fairness", *(fair or ["- no sensitive features configured"]), "",
        "## Decision", f"**{rec.decision.decision}** (promotion checks {rec.decision.promotion_checks}): {rec.decision.reason}", "",
        "## Limitations",
        "- Trained on the window above only; behaviour outside its ranges (see the GX suite) is untested.",
        "- Slices under the minimum size are reported but not judged; their metrics are noisy.",
        "- Group selection rates reflect different base rates; disparate impact is monitored, not equalised.",
        "- Synthetic training data (if fed by the generator) imitates public statistics; validate on real data.", ""])


_CSS = """body{font-family:-apple-system,Segoe UI,Roboto,Helvetica,Arial,sans-serif;margin:1.5rem;color:#222;max-width:1100px}
h1{font-size:1.3rem}h2{font-size:1.05rem;margin-top:1.6rem}table{border-collapse:collapse;margin:.4rem 0 1rem}
th,td{border:1px solid #ddd;padding:.3rem .6rem;font-size:.88rem;text-align:right}th{background:#f4f6f8}
td:first-child,th:first-child{text-align:left}tr:nth-child(even){background:#fafafa}.worse{color:#b00020;font-weight:600}
.better{color:#1b7f3b;font-weight:600}.muted{color:#888}.box{background:#f7f9fc;border:1px solid #dde4ee;padding:.6rem .9rem;border-radius:6px}"""


def _delta_cell(delta: float | None, higher_is_better: bool, fmt: str = "+.4f") -> str:
    if delta is None:
        return "<td class='muted'>-</td>"
    good = delta > 0 if higher_is_better else delta < 0
    cls = "better" if good and delta != 0 else ("worse" if delta != 0 else "")
    return f"<td class='{cls}'>{format(delta, fmt)}</td>"


def comparison_html(ev: Evaluation) -> str:
    """Challenger vs champion vs baseline, global and per slice, deltas coloured, with intervals."""
    p, hib = ev.primary_metric, ev.higher_is_better
    models = [k for k in ("challenger", "champion", "baseline") if k in ev.models]
    iv = ev.interval(p)
    head = (f"<p class='box'>Paired bootstrap {iv.confidence:.0%} CI of challenger - champion ({p}): <b>{_f(iv.delta, '+.4f')}</b> "
            f"[{_f(iv.ci_low, '+.4f')}, {_f(iv.ci_high, '+.4f')}] on {ev.comparison_rows} comparison rows "
            f"({ev.excluded_seen_by_champion} test rows excluded: in champion v{ev.champion_version}'s training snapshot)</p>"
            if iv else f"<p class='box'>No champion: the challenger is compared with the dummy baseline on {ev.comparison_rows} rows.</p>")
    glob = ["<tr><th>metric</th>" + "".join(f"<th>{m}</th>" for m in models) + ("<th>delta</th>" if "champion" in models else "") + "</tr>"]
    for metric in ev.challenger.metrics:
        vals = [ev.models[m].metrics.get(metric) for m in models]
        row = f"<tr><td>{metric}</td>" + "".join(f"<td>{_f(v)}</td>" for v in vals)
        if "champion" in models:
            a, b = vals[0], vals[1]
            row += _delta_cell(None if a is None or b is None else a - b, metric not in LOWER_IS_BETTER)
        glob.append(row + "</tr>")
    sl = ["<tr><th>slice</th><th>n</th><th>judged</th>" + "".join(f"<th>{m}</th>" for m in models)
          + "<th>delta</th><th>95% CI</th></tr>"]
    for s in ev.challenger.slices:
        vals = [(ev.models[m].slice(s.name) or s).metrics.get(p) for m in models]
        siv = ev.interval(p, s.name)
        delta = siv.delta if siv else (vals[0] - vals[1] if "champion" in models and None not in vals[:2] else None)  # type: ignore[operator]
        ci = f"[{_f(siv.ci_low, '+.3f')}, {_f(siv.ci_high, '+.3f')}]" if siv and siv.ci_low is not None else ""
        sl.append(f"<tr><td>{html.escape(s.name)}</td><td>{s.n}</td><td>{'yes' if s.judged else 'no'}</td>"
                  + "".join(f"<td>{_f(v)}</td>" for v in vals) + _delta_cell(delta, hib) + f"<td>{ci}</td></tr>")
    fresh = ""
    if ev.fresh is not None and ev.fresh.delta is not None:
        fd = ev.fresh.delta
        fresh = (f"<h2>Fresh rows</h2><p>{ev.fresh.n} comparison rows from partitions since the champion's as-of date {ev.fresh.since}: "
                 f"challenger - champion {p} {_f(fd.delta, '+.4f')} [{_f(fd.ci_low, '+.4f')}, {_f(fd.ci_high, '+.4f')}] (informative).</p>")
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>{ev.project} comparison</title><style>{_CSS}</style></head><body>"
            f"<h1>{ev.project}: challenger vs champion (as of {ev.as_of})</h1>{head}<h2>All metrics</h2><table>{''.join(glob)}</table>"
            f"<h2>{p} per slice</h2><table>{''.join(sl)}</table>{fresh}</body></html>")


def slice_delta_plot(ev: Evaluation, path: Path) -> Path:
    """Horizontal bars of challenger - champion on the primary metric per judged slice, with CI whiskers
    (or, with no champion, the challenger's value per slice): labels horizontal, readable."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = slice_deltas(ev)
    has_champion = "champion" in ev.models
    labels = [f"{r.slice} (n={r.n})" for r in rows]
    fig, ax = plt.subplots(figsize=(7.5, 0.42 * max(4, len(rows)) + 1.2))
    y = np.arange(len(rows))[::-1]
    if has_champion:
        vals = np.array([np.nan if r.delta is None else r.delta for r in rows], dtype=float)
        lo = np.array([np.nan if r.ci_low is None else r.ci_low for r in rows], dtype=float)
        hi = np.array([np.nan if r.ci_high is None else r.ci_high for r in rows], dtype=float)
        good = vals >= 0 if ev.higher_is_better else vals <= 0
        ax.barh(y, vals, color=np.where(good, "#2e7d32", "#c62828"), alpha=0.8)
        err = np.vstack([np.nan_to_num(vals - lo), np.nan_to_num(hi - vals)])
        ax.errorbar(vals, y, xerr=err, fmt="none", ecolor="#333", capsize=3, lw=1)
        ax.axvline(0, color="#555", lw=1)
        ax.set_xlabel(f"challenger - champion v{ev.champion_version}: {ev.primary_metric} (95% CI)")
    else:
        vals = np.array([np.nan if r.challenger is None else r.challenger for r in rows], dtype=float)
        ax.barh(y, vals, color="#1565c0", alpha=0.8)
        ax.set_xlabel(f"challenger {ev.primary_metric} (no champion yet)")
    ax.set_yticks(y, labels, fontsize=9)
    ax.set_title(f"{ev.project}: {ev.primary_metric} per judged slice ({ev.comparison_rows} comparison rows)", fontsize=10)
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def evaluation_plots(scores: dict[str, np.ndarray], thresholds: dict[str, float | None], outdir: Path, regression: bool) -> list[Path]:
    """Confusion matrix (challenger), ROC and PR curves (every model); regression: predicted vs actual."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn import metrics as skm

    y = scores["y"]
    models = [k for k in scores if k != "y"]
    if not len(y):
        return []
    if regression:
        fig, axes = plt.subplots(1, 2, figsize=(10, 4))
        axes[0].scatter(y, scores["challenger"], s=4, alpha=0.4)
        lim = [float(np.nanmin(y)), float(np.nanmax(y))]
        axes[0].plot(lim, lim, "k--", lw=1)
        axes[0].set_xlabel("actual")
        axes[0].set_ylabel("predicted (challenger)")
        for name in models:
            axes[1].hist(scores[name] - y, bins=50, alpha=0.5, label=name)
        axes[1].set_xlabel("residual")
        axes[1].legend()
        fig.tight_layout()
        fig.savefig(outdir / "predicted_vs_actual.png", dpi=90)
        plt.close(fig)
        return [outdir / "predicted_vs_actual.png"]
    out = []
    thr = thresholds.get("challenger") or 0.5
    fig, ax = plt.subplots(figsize=(4.5, 4))
    skm.ConfusionMatrixDisplay.from_predictions(y, (scores["challenger"] >= thr).astype(int), ax=ax, colorbar=False)
    ax.set_title(f"challenger @ {thr:.2f}")
    fig.tight_layout()
    fig.savefig(outdir / "confusion_matrix.png", dpi=90)
    plt.close(fig)
    out.append(outdir / "confusion_matrix.png")
    if len(np.unique(y)) < 2:
        return out
    for fname, display in (("roc_curve.png", skm.RocCurveDisplay), ("pr_curve.png", skm.PrecisionRecallDisplay)):
        fig, ax = plt.subplots(figsize=(5, 4))
        for name in models:
            display.from_predictions(y, scores[name], name=name, ax=ax)
        fig.tight_layout()
        fig.savefig(outdir / fname, dpi=90)
        plt.close(fig)
        out.append(outdir / fname)
    return out


def slice_table_csv(ev: Evaluation) -> str:
    models = list(ev.models)
    lines = ["slice,n,judged," + ",".join(f"{m}_{ev.primary_metric}" for m in models)]
    for s in ev.challenger.slices:
        vals = [(ev.models[m].slice(s.name) or s).metrics.get(ev.primary_metric) for m in models]
        lines.append(f"\"{s.name}\",{s.n},{s.judged}," + ",".join("" if v is None else f"{v:.6f}" for v in vals))
    return "\n".join(lines) + "\n"


def render_links(ui: str, experiment_id: str, run_id: str, project: str, version: str | None) -> dict[str, str]:
    from pipelines.contracts import names

    links = {"MLflow run": names.ui_run(ui, experiment_id, run_id)}
    for label, path in (("comparison report", names.COMPARISON_HTML), ("decision.md", names.DECISION_MD), ("drift report", names.DRIFT_HTML)):
        links[label] = names.ui_artifact(ui, experiment_id, run_id, path)
    if version:
        links["model version"] = names.ui_version(ui, project, version)
    return links


def any_value(x: Any) -> str:
    return html.escape(str(x))
