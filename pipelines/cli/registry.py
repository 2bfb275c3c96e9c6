"""Registry commands: `status`, `promote` (manual override, recorded), `rollback`, `compare`.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
from typing import Any

from pipelines.cli.args import positive_int, project_of, resources_of
from pipelines.config.settings import Settings


def _status_metrics(cfg: Any) -> tuple[str, ...]:
    if cfg.regression:
        return ("rmse", "mae", "r2", "mape")
    extra = ("net_benefit", "roi") if cfg.threshold.cost is not None else ()
    return (cfg.primary_metric, "pr_auc", "f1", "accuracy", *extra)


def status_rows(res: Any, cfg: Any) -> list[dict[str, Any]]:
    from pipelines.contracts import names

    rows = []
    aliases = res.registry.aliases(cfg.name)
    for alias in names.ALIASES:
        if alias not in aliases:
            rows.append({"alias": alias, "version": None})
            continue
        v = res.registry.version(cfg.name, aliases[alias])
        m = res.registry.run(v.run_id).metrics
        rows.append({"alias": alias, "version": v.version, "as_of": v.tags.get(names.AS_OF), "decision": v.tags.get(names.DECISION),
                     "reason": v.tags.get(names.DECISION_REASON), "family": v.tags.get(names.FAMILY), "threshold": v.tags.get(names.THRESHOLD),
                     **{k: m.get(f"test_{k}") for k in _status_metrics(cfg)}})
    return rows


def cmd_status(a: argparse.Namespace, s: Settings) -> int:
    rows = status_rows(resources_of(s), project_of(s, a.project))
    if a.json:
        print(json.dumps(rows, indent=2, default=str))
        return 0
    print(f"{a.project}:")
    for r in rows:
        if r["version"] is None:
            print(f"  {r['alias']:<10} (not set)")
            continue
        metrics = " ".join(f"{k}={r[k]:,.4f}" if abs(r[k]) < 100 else f"{k}={r[k]:,.0f}"
                           for k in ("roc_auc", "pr_auc", "f1", "accuracy", "net_benefit", "roi", "rmse", "mae", "r2", "mape")
                           if isinstance(r.get(k), float))
        thr = f" thr={r['threshold']}" if r["threshold"] else ""
        print(f"  {r['alias']:<10} v{r['version']:<4} as_of={r['as_of']} {r['family']}{thr} {metrics}")
        print(f"  {'':<10} decision={r['decision']}: {r['reason']}")
    return 0


def cmd_promote(a: argparse.Namespace, s: Settings) -> int:
    from pipelines.steps.operations import promote_manually

    r = promote_manually(resources_of(s), project_of(s, a.project), str(a.version), a.reason, a.by)
    print(f"{a.project}: champion v{r['from']} -> v{r['version']} (manual, by {r['by']}: {r['reason']}); previous = v{r['from']}")
    return 0


def cmd_rollback(a: argparse.Namespace, s: Settings) -> int:
    from pipelines.steps.operations import rollback

    r = rollback(resources_of(s), project_of(s, a.project), a.reason, a.by)
    print(f"{a.project}: rolled back champion v{r['from']} -> v{r['version']} (by {r['by']}: {r['reason']}); previous = v{r['from']}")
    return 0


def cmd_rollout(a: argparse.Namespace, s: Settings) -> int:
    from pipelines.steps.operations import set_rollout

    r = set_rollout(resources_of(s), project_of(s, a.project), a.mode, a.share if a.mode == "canary" else 0.0, a.reason, a.by)
    what = {"off": "only the champion answers", "shadow": f"challenger v{r['challenger']} scores every request after the response",
            "canary": f"challenger v{r['challenger']} answers {r['share']:.0%} of records (stable hash of the id)"}[a.mode]
    print(f"{a.project}: rollout {a.mode}: {what}; champion v{r['champion']}. The service picks it up at its next poll.")
    return 0


def cmd_policy_replay(a: argparse.Namespace, s: Settings) -> int:
    from pathlib import Path

    from pipelines.config import with_proposed_policy
    from pipelines.domain.replay import replay_markdown
    from pipelines.steps.replay import policy_replay

    proposed = with_proposed_policy(project_of(s, a.project), Path(a.policy))
    results = policy_replay(resources_of(s).lake, proposed, a.since)
    md = replay_markdown(a.project, a.policy, results, a.since)
    flips = [r for r in results if r.flipped]
    print(f"{a.project}: {len(results)} recorded decisions re-decided under {a.policy}; {len(flips)} flip (registry untouched)")
    for r in flips:
        print(f"  v{r.version} as of {r.as_of}: {r.recorded} -> {r.replayed}  [{'; '.join(r.changed[:3])}]  ({r.basis})")
    if a.report:
        Path(a.report).write_text(md)
        print(f"report: {a.report}")
    return 0


def cmd_compare(a: argparse.Namespace, s: Settings) -> int:
    from pipelines.steps.operations import compare, format_compare

    ev = compare(resources_of(s), project_of(s, a.project), a.a, a.b)
    print(ev.model_dump_json(indent=2) if a.json else format_compare(ev, a.a, a.b))
    return 0


def add_registry_commands(sub: Any) -> None:
    st = sub.add_parser("status", help="champion, challenger and previous with key metrics and decisions")
    st.add_argument("project")
    st.add_argument("--json", action="store_true")
    st.set_defaults(fn=cmd_status)

    pr = sub.add_parser("promote", help="manual override: make VERSION the champion (recorded with who and why)")
    pr.add_argument("project")
    pr.add_argument("--version", required=True, type=positive_int)
    pr.add_argument("--reason", required=True)
    pr.add_argument("--by", help="who (default: $MLOPS_USER or the login name)")
    pr.set_defaults(fn=cmd_promote)

    rb = sub.add_parser("rollback", help="champion <- previous (recorded)")
    rb.add_argument("project")
    rb.add_argument("--reason", default="manual rollback")
    rb.add_argument("--by")
    rb.set_defaults(fn=cmd_rollback)

    ro = sub.add_parser("rollout", help="online rollout of the challenger: shadow, canary --share S, or off (no restart)")
    ro.add_argument("project")
    ro.add_argument("mode", choices=["shadow", "canary", "off"])
    ro.add_argument("--share", type=float, default=0.1, help="canary: share of records the challenger answers (default 0.1)")
    ro.add_argument("--reason", default="")
    ro.add_argument("--by")
    ro.set_defaults(fn=cmd_rollout)

    po = sub.add_parser("policy", help="promotion policy tools")
    pos = po.add_subparsers(dest="policy_command", required=True)
    rp = pos.add_parser("replay", help="re-decide every recorded version under a proposed policy; list the flips (registry untouched)")
    rp.add_argument("project")
    rp.add_argument("--policy", required=True, help="YAML with the proposed promotion block (or a project file holding one)")
    rp.add_argument("--since", type=dt.date.fromisoformat, help="only decisions as of this date or later (YYYY-MM-DD)")
    rp.add_argument("--report", help="also write the result as markdown to this path")
    rp.set_defaults(fn=cmd_policy_replay)

    cp = sub.add_parser("compare", help="two versions side by side: global and per-slice metrics, deltas, CIs")
    cp.add_argument("project")
    cp.add_argument("--a", default="champion", help="alias or version number (default champion)")
    cp.add_argument("--b", default="challenger", help="alias or version number (default challenger)")
    cp.add_argument("--json", action="store_true")
    cp.set_defaults(fn=cmd_compare)
